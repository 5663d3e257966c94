"""Verdicts on real AWS semantics, against moto: prefix lists, vanished instances, odd user data,
images that are gone, SSM endpoints that lack the operation, the first page's retry."""

from __future__ import annotations

import base64
import time
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.collection import collector
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.run.scanner import scan
from ec2c.scanner.storage import DirStore

from .conftest import REGION, launch
from .test_scan import DEFAULT, OPT_IN, by_instance, fail_when, open_group, ssm_query, stub_ssm

ONLY_SSH = load_policy({"rules": {rule: {"enabled": rule == "ssh_open_to_internet"} for rule in CATALOGUE}})


def _prefix_list(ec2: Any, *cidrs: str) -> str:
    return ec2.create_managed_prefix_list(
        PrefixListName="office",
        MaxEntries=10,
        AddressFamily="IPv4",
        Entries=[{"Cidr": cidr} for cidr in cidrs],
    )["PrefixList"]["PrefixListId"]


def test_prefix_lists_are_resolved_once_per_list_and_region(session, ec2, api_calls, run) -> None:
    internet = _prefix_list(ec2, "0.0.0.0/1", "128.0.0.0/1")
    office = _prefix_list(ec2, "203.0.113.0/24")
    via_list = open_group(
        ec2,
        "via-list",
        [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": internet}]},
        ],
    )
    also_list = open_group(
        ec2,
        "also-list",
        [
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "PrefixListIds": [{"PrefixListId": internet}]},
        ],
    )
    office_only = open_group(
        ec2,
        "office",
        [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": office}]},
        ],
    )
    [exposed] = launch(ec2, SecurityGroupIds=[via_list, also_list])
    [safe] = launch(ec2, SecurityGroupIds=[office_only])
    report = run([REGION], DEFAULT)
    failures = by_instance(report)
    assert {"ssh_open_to_internet", "rdp_open_to_internet"} <= failures[exposed]
    assert "ssh_open_to_internet" not in failures.get(safe, set())
    assert api_calls["ec2:GetManagedPrefixListEntries"] == 2


def test_an_unreadable_prefix_list_skips_the_exposure_rules(session, ec2, run) -> None:
    listed = _prefix_list(ec2, "0.0.0.0/0")
    group = open_group(
        ec2,
        "g",
        [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": listed}]},
        ],
    )
    [instance] = launch(ec2, SecurityGroupIds=[group])
    [plain] = launch(ec2)
    fail_when(session, "GetManagedPrefixListEntries", "UnauthorizedOperation")
    report = run([REGION], ONLY_SSH)
    assert report.summary["by_rule"]["ssh_open_to_internet"] == {
        "failed": 0,
        "passed": 1,
        "suppressed": 0,
        "skipped": 1,
    }
    assert [e["code"] for e in report.index["errors"] if e["operation"] == "ec2:GetManagedPrefixListEntries"] == [
        "UnauthorizedOperation"
    ]
    assert report.summary["unevaluated_instances"] == 1


def test_split_ranges_open_to_the_internet_fail(session, ec2, run) -> None:
    halves = open_group(
        ec2,
        "halves",
        [
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/1"}, {"CidrIp": "128.0.0.0/1"}],
            },
        ],
    )
    [instance] = launch(ec2, SecurityGroupIds=[halves])
    assert "ssh_open_to_internet" in by_instance(run([REGION], ONLY_SSH))[instance]


def test_one_vanished_instance_does_not_blank_the_region(session, ec2, run) -> None:
    """`InvalidInstanceID.NotFound` for one instance: that instance's rules are skipped, no more."""
    gone, kept = launch(ec2, count=2)

    def vanish(params: dict[str, Any], model: Any, **_: Any) -> None:
        if params.get("InstanceId") == gone:
            raise ClientError({"Error": {"Code": "InvalidInstanceID.NotFound", "Message": "gone"}}, model.name)

    session.events.register("before-parameter-build.ec2.DescribeInstanceAttribute", vanish)
    report = run([REGION], OPT_IN)
    assert not [e for e in report.index["errors"] if e["operation"] == "ec2:DescribeInstanceAttribute"]
    by_rule = report.summary["by_rule"]
    assert by_rule["termination_protection"]["skipped"] == 1
    assert by_rule["termination_protection"]["failed"] == 1
    assert "termination_protection" in by_instance(report)[kept]


def test_other_attribute_errors_still_mark_the_source_unavailable(session, ec2, run) -> None:
    launch(ec2, count=2)
    fail_when(session, "DescribeInstanceAttribute", "UnauthorizedOperation")
    report = run([REGION], OPT_IN)
    assert {e["code"] for e in report.index["errors"] if e["operation"] == "ec2:DescribeInstanceAttribute"} == {
        "UnauthorizedOperation"
    }
    assert report.summary["by_rule"]["termination_protection"]["skipped"] == 2


def test_gzip_magic_that_is_not_gzip_skips_only_that_rule(session, ec2, run) -> None:
    [odd] = launch(ec2)
    ec2.modify_instance_attribute(InstanceId=odd, UserData={"Value": base64.b64encode(b"\x1f\x8b\x08 not gzip")})
    report = run([REGION], OPT_IN)
    finding_rules = by_instance(report)[odd]
    assert "user_data_secrets" not in finding_rules
    assert report.summary["by_rule"]["user_data_secrets"]["skipped"] == 1
    assert report.summary["total_instances"] == 1


def test_deregistered_images_are_named_as_such(session, ec2, run) -> None:
    image = ec2.create_image(InstanceId=launch(ec2)[0], Name="golden")["ImageId"]
    [instance] = launch(ec2, ImageId=image)
    ec2.deregister_image(ImageId=image)
    report = run([REGION], DEFAULT)
    messages = {f["rule_id"]: f["message"] for f in report.findings() if f["instance_id"] == instance}
    assert "deregistered" in messages["ami_deprecated"]
    assert "deprecated on" not in messages["ami_deprecated"]


def test_describe_images_asks_for_disabled_and_deprecated(session, ec2, run) -> None:
    seen: list[dict[str, Any]] = []
    session.events.register("before-parameter-build.ec2.DescribeImages", lambda params, **_: seen.append(dict(params)))
    launch(ec2)
    run([REGION], DEFAULT)
    assert seen and seen[0]["IncludeDisabled"] is True and seen[0]["IncludeDeprecated"] is True


def test_a_throttled_first_ssm_page_is_retried(session, ec2, monkeypatch, run) -> None:
    """Stubber for ssm:DescribeInstanceInformation only (moto lacks it); EC2 stays on moto."""
    [instance] = launch(ec2)
    stubber = stub_ssm(session, monkeypatch)
    expected = ssm_query([instance])
    stubber.add_client_error(
        "describe_instance_information", "ThrottlingException", "slow down", expected_params=expected
    )
    stubber.add_response(
        "describe_instance_information",
        {"InstanceInformationList": [{"InstanceId": instance, "PingStatus": "Online"}]},
        expected,
    )
    with stubber:
        report = run([REGION], DEFAULT)
    stubber.assert_no_pending_responses()
    assert "ssm_managed" not in by_instance(report).get(instance, set())
    assert report.summary["by_rule"]["ssm_managed"]["passed"] == 1
    assert report.index["errors"] == []


@pytest.fixture
def moto_endpoint(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    yield
    server.stop()


def test_an_endpoint_without_ssm_is_one_line_and_no_retry_storm(moto_endpoint, tmp_path) -> None:
    session = boto3.session.Session(region_name=REGION)
    calls: Counter[str] = Counter()
    session.events.register(
        "before-send", lambda request, **_: calls.update([request.headers.get("X-Amz-Target", b"ec2")])
    )
    launch(session.client("ec2", region_name=REGION), count=2)
    started = time.monotonic()
    report = scan(session, [REGION], DEFAULT, DirStore(tmp_path))
    took = time.monotonic() - started
    ssm_errors = [e for e in report.index["errors"] if e["operation"] == "ssm:DescribeInstanceInformation"]
    assert ssm_errors == [
        {
            "region": REGION,
            "operation": "ssm:DescribeInstanceInformation",
            "code": "OperationUnavailable",
            "message": "ssm:DescribeInstanceInformation is not offered by this endpoint",
        }
    ]
    assert calls[b"AmazonSSM.DescribeInstanceInformation"] == 1
    assert took < 10
    assert report.summary["by_rule"]["ssm_managed"]["skipped"] == 2


def test_error_messages_are_one_line() -> None:
    html = ClientError({"Error": {"Code": "InternalError", "Message": "first line\n<p>second</p>"}}, "Op")
    assert collector.error_from("r", "ec2:Op", html).message == "first line"
    assert collector.error_from("r", "ec2:Op", ValueError("\n  boom\nmore")).message == "boom"
    assert collector.error_from("r", "ec2:Op", ValueError("")).message == ""


def test_no_regions_is_an_empty_report(run, store) -> None:
    report = run([], DEFAULT)
    assert report.summary["total_instances"] == 0 and report.summary["compliance_rate"] is None
    assert report.index["partial"] is False
    assert report.index["region_shards"] == [] and report.index["regions"] == []
    assert store.path("reports/latest.json").exists()
