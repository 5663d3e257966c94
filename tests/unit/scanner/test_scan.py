"""scan() against moto: collection, batching, pagination, regions, errors, budget, diff."""

from __future__ import annotations

import gzip
from collections import Counter
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from compliance_scanner import collector
from compliance_scanner.policy import load_policy
from compliance_scanner.scanner import scan
from moto.core.botocore_stubber import MockRawResponse

from .conftest import ACCOUNT, NOW, OTHER_REGION, REGION, instance_rules_only, launch, tag_spec

DEFAULT = load_policy(instance_rules_only())
OPT_IN = load_policy(
    {"rules": {"termination_protection": {"enabled": True}, "user_data_secrets": {"enabled": True}}}
)


def by_instance(report: dict[str, Any]) -> dict[str, set[str]]:
    """Active (unsuppressed) failing rule ids per instance."""
    result: dict[str, set[str]] = {}
    for finding in report["findings"]:
        if not finding["suppressed"]:
            result.setdefault(finding["instance_id"], set()).add(finding["rule_id"])
    return result


def open_group(ec2: Any, name: str, permissions: list[dict[str, Any]]) -> str:
    group_id = ec2.create_security_group(GroupName=name, Description=name)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
    return group_id


def tcp(port: int, **ranges: Any) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **ranges}


def fail_when(session: boto3.session.Session, operation: str, code: str, **match: Any) -> list[str]:
    """Make `operation` fail with `code` for calls whose context/params match; returns hits."""
    hits: list[str] = []

    def raise_error(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        region = context.get("client_region")
        if match.get("region", region) != region:
            return
        if match.get("paged") and "NextToken" not in params:
            return
        hits.append(region)
        raise ClientError({"Error": {"Code": code, "Message": f"{code} in test"}}, model.name)

    session.events.register(f"before-parameter-build.*.{operation}", raise_error)
    return hits


def test_default_scan_finds_the_expected_failures(session, ec2, api_calls) -> None:
    ssh = open_group(ec2, "ssh", [tcp(22, IpRanges=[{"CidrIp": "0.0.0.0/0"}])])
    rdp6 = open_group(ec2, "rdp6", [tcp(3389, Ipv6Ranges=[{"CidrIpv6": "::/0"}])])
    everything = open_group(
        ec2, "all", [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    [exposed] = launch(ec2, SecurityGroupIds=[ssh, rdp6], InstanceType="t3.micro")
    [wide_open] = launch(
        ec2, SecurityGroupIds=[everything], TagSpecifications=tag_spec(Owner="a", Environment="dev")
    )
    [encrypted] = launch(
        ec2,
        InstanceType="m5.large",
        MetadataOptions={"HttpTokens": "required"},
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": True}}
        ],
    )
    [windows] = launch(ec2, ImageId="ami-03cf127a", KeyName="ops")
    [stopped] = launch(ec2)
    ec2.stop_instances(InstanceIds=[stopped])
    [gone] = launch(ec2)
    ec2.terminate_instances(InstanceIds=[gone])

    progress: list[tuple[str, int]] = []
    report = scan(session, [REGION], DEFAULT, on_progress=lambda r, n: progress.append((r, n)))

    failures = by_instance(report)
    assert gone not in failures
    assert report["summary"]["total_instances"] == 5
    assert report["account_id"] == ACCOUNT
    assert progress == [(REGION, 5)]
    assert {"ssh_open_to_internet", "rdp_open_to_internet", "imdsv2_required"} <= failures[exposed]
    assert "allowed_instance_type" not in failures[exposed]
    assert {"all_ports_open", "ssh_open_to_internet", "high_risk_ports_open"} <= failures[wide_open]
    assert "required_tags" not in failures[wide_open]
    assert "ebs_volumes_encrypted" not in failures[encrypted]
    assert "imdsv2_required" not in failures[encrypted]
    assert {"ebs_volumes_encrypted", "required_tags"} <= failures[windows]
    assert "no_key_pair" in failures[windows]
    assert "approved_ami" not in failures[windows]
    assert "stopped_too_long" not in failures[stopped]
    # moto does not implement SSM inventory: one line says so, the rule is skipped
    assert report["errors"] == [
        {
            "region": REGION,
            "operation": "ssm:DescribeInstanceInformation",
            "code": "OperationUnavailable",
            "message": "ssm:DescribeInstanceInformation is not offered by this endpoint",
        }
    ]
    assert report["summary"]["by_rule"]["ssm_managed"]["skipped"] == 5
    assert report["summary"]["unevaluated_instances"] + report["summary"]["non_compliant_instances"] == 5
    # one call per resource kind, none per instance
    assert api_calls == Counter(
        {
            "ec2:DescribeInstances": 1,
            "ec2:DescribeVolumes": 1,
            "ec2:DescribeSecurityGroups": 1,
            "ec2:DescribeImages": 1,
            "ec2:DescribeRouteTables": 1,
            "ssm:DescribeInstanceInformation": 1,
        }
    )
    assert report["new_findings"] == [f for f in report["findings"] if not f["suppressed"]]


def test_stopped_long_ago_instances_fail(session, ec2, monkeypatch) -> None:
    [stopped] = launch(ec2)
    ec2.stop_instances(InstanceIds=[stopped])
    far_future = NOW.replace(year=2100)
    report = scan(session, [REGION], DEFAULT, now=far_future)
    messages = {f["rule_id"]: f["message"] for f in report["findings"]}
    assert "has been stopped for" in messages["stopped_too_long"]
    assert report["generated_at"] == "2100-06-01T12:00:00Z"


def test_only_the_enabled_rules_data_is_fetched(session, ec2, api_calls) -> None:
    launch(ec2, count=3)
    policy = load_policy(
        {"rules": {rule: {"enabled": rule == "no_public_ip"} for rule in DEFAULT.rules}}
    )
    report = scan(session, [REGION], policy)
    assert api_calls == Counter({"ec2:DescribeInstances": 1})
    assert report["policy"]["enabled_rules"] == ["no_public_ip"]
    assert report["errors"] == []


def test_an_empty_region_costs_one_call(session, api_calls) -> None:
    report = scan(session, [REGION], DEFAULT)
    assert api_calls == Counter({"ec2:DescribeInstances": 1})
    assert report["summary"]["compliance_rate"] is None
    assert report["account_id"] is None


def test_calls_grow_with_pages_not_instances(session, ec2, api_calls, monkeypatch) -> None:
    monkeypatch.setattr(collector, "PAGE_SIZE", 2)  # moto pages by reservation
    for _ in range(3):
        launch(ec2, count=150)  # 3 reservations, 450 instances and volumes
    progress: list[int] = []
    report = scan(session, [REGION], DEFAULT, on_progress=lambda _, n: progress.append(n))
    assert report["summary"]["total_instances"] == 450
    assert progress == [300, 450]
    assert api_calls["ec2:DescribeInstances"] == 2
    assert api_calls["ec2:DescribeVolumes"] == 1  # only the unencrypted ones, 500 a page
    assert api_calls["ec2:DescribeSecurityGroups"] == 1
    assert api_calls["ec2:DescribeImages"] == 1
    assert sum(api_calls.values()) == 7


def test_id_lookups_are_batched(session, ec2, api_calls, monkeypatch) -> None:
    monkeypatch.setattr(collector, "ID_BATCH", 2)
    groups = [open_group(ec2, f"g{n}", []) for n in range(3)]
    launch(ec2, count=2, SecurityGroupIds=groups)
    launch(ec2, ImageId="ami-03cf127a")
    report = scan(session, [REGION], DEFAULT)
    assert api_calls["ec2:DescribeSecurityGroups"] == 2  # 4 groups (with default), 2 per call
    assert api_calls["ec2:DescribeImages"] == 1
    assert report["summary"]["by_rule"]["ssh_open_to_internet"]["passed"] == 3


def test_opt_in_rules_read_instance_attributes(session, ec2, api_calls) -> None:
    secret = gzip.compress(b"#!/bin/sh\nexport AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP\n")
    [leaky] = launch(ec2, UserData=secret)
    ec2.modify_instance_attribute(InstanceId=leaky, DisableApiTermination={"Value": True})
    [plain] = launch(ec2)
    report = scan(session, [REGION], OPT_IN)
    failures = by_instance(report)
    assert "user_data_secrets" in failures[leaky]
    assert "termination_protection" not in failures[leaky]
    assert "user_data_secrets" not in failures[plain]
    assert "termination_protection" in failures[plain]
    assert api_calls["ec2:DescribeInstanceAttribute"] == 4  # two attributes, two instances


def test_multi_region_scan_and_a_failing_region(session, api_calls) -> None:
    for region in (REGION, OTHER_REGION, "ap-south-1"):
        launch(session.client("ec2", region_name=region), count=2)
    hits = fail_when(session, "DescribeInstances", "UnauthorizedOperation", region="ap-south-1")
    report = scan(session, [REGION, OTHER_REGION, "ap-south-1", REGION], DEFAULT)
    assert hits == ["ap-south-1"]
    assert report["regions"] == [REGION, OTHER_REGION, "ap-south-1"]
    assert report["incomplete_regions"] == ["ap-south-1"]
    assert report["summary"]["total_instances"] == 4
    assert {f["region"] for f in report["findings"]} == {REGION, OTHER_REGION}
    errors = [e for e in report["errors"] if e["operation"] == "ec2:DescribeInstances"]
    assert errors == [
        {
            "region": "ap-south-1",
            "operation": "ec2:DescribeInstances",
            "code": "UnauthorizedOperation",
            "message": "UnauthorizedOperation in test",
        }
    ]
    assert report["partial"] is True
    assert report["partial_reason"] == "regions not fully scanned: ap-south-1 (see errors)"


def test_a_failing_page_keeps_the_pages_already_read(session, ec2, monkeypatch) -> None:
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    launch(ec2)
    launch(ec2)
    fail_when(session, "DescribeInstances", "InternalError", paged=True)
    report = scan(session, [REGION], DEFAULT)
    assert report["summary"]["total_instances"] == 1
    assert report["incomplete_regions"] == [REGION]
    assert report["errors"][0]["code"] == "InternalError"


def test_a_failing_enrichment_call_skips_only_its_rules(session, ec2) -> None:
    launch(ec2)
    fail_when(session, "DescribeVolumes", "UnauthorizedOperation")
    report = scan(session, [REGION], DEFAULT)
    assert report["summary"]["by_rule"]["ebs_volumes_encrypted"]["skipped"] == 1
    assert report["summary"]["by_rule"]["ebs_volumes_encrypted"]["failed"] == 0
    assert report["summary"]["by_rule"]["allowed_instance_type"]["failed"] == 1
    assert report["errors"][0]["operation"] == "ec2:DescribeVolumes"
    assert report["incomplete_regions"] == []


def test_a_failing_attribute_call_skips_the_opt_in_rule(session, ec2) -> None:
    launch(ec2)
    fail_when(session, "DescribeInstanceAttribute", "UnauthorizedOperation")
    report = scan(session, [REGION], OPT_IN)
    assert report["summary"]["by_rule"]["termination_protection"]["skipped"] == 1
    assert report["summary"]["by_rule"]["user_data_secrets"]["skipped"] == 1
    operations = [e["operation"] for e in report["errors"]]
    assert operations.count("ec2:DescribeInstanceAttribute") == 2


def test_throttling_is_retried_by_the_adaptive_client(session, ec2) -> None:
    launch(ec2)
    throttled: list[str] = []
    body = (
        b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message>"
        b"</Error></Errors><RequestID>1</RequestID></Response>"
    )

    def throttle_once(request: Any, **_: Any) -> AWSResponse | None:
        if not throttled:
            throttled.append(request.url)
            return AWSResponse(request.url, 503, {}, MockRawResponse(body))
        return None

    session.events.register_first("before-send.ec2.DescribeInstances", throttle_once)
    report = scan(session, [REGION], DEFAULT)
    assert len(throttled) == 1
    assert report["summary"]["total_instances"] == 1
    assert not [e for e in report["errors"] if e["operation"] == "ec2:DescribeInstances"]


def test_ssm_managed_instances_are_read_from_ssm(session, ec2, monkeypatch) -> None:
    """moto lacks DescribeInstanceInformation, so the real SSM client is stubbed (Stubber)."""
    managed, unmanaged, lost, stopped = launch(ec2, count=4)
    ec2.stop_instances(InstanceIds=[stopped])
    ssm = session.client("ssm", region_name=REGION)
    stubber = Stubber(ssm)
    expected = {
        "Filters": [{"Key": "ResourceType", "Values": ["EC2Instance"]}],
        "MaxResults": 50,
    }
    stubber.add_response(
        "describe_instance_information",
        {"InstanceInformationList": [{"InstanceId": "i-elsewhere"}], "NextToken": "t1"},
        expected,
    )
    stubber.add_response(
        "describe_instance_information",
        {"InstanceInformationList": [
            {"InstanceId": managed, "PingStatus": "Online"},
            {"InstanceId": lost, "PingStatus": "ConnectionLost", "LastPingDateTime": NOW},
        ]},
        {**expected, "NextToken": "t1"},
    )
    real_client = session.client
    monkeypatch.setattr(
        session,
        "client",
        lambda service, **kwargs: ssm if service == "ssm" else real_client(service, **kwargs),
    )
    with stubber:
        report = scan(session, [REGION], DEFAULT)
    stubber.assert_no_pending_responses()
    failures = by_instance(report)
    assert "ssm_managed" not in failures[managed]
    assert "ssm_managed" in failures[unmanaged]
    assert "ssm_managed" not in failures[stopped]
    lost_finding = next(f for f in report["findings"] if f["instance_id"] == lost and f["rule_id"] == "ssm_managed")
    assert lost_finding["message"] == "SSM agent is ConnectionLost (last ping 2025-06-01 12:00Z)"
    assert report["summary"]["by_rule"]["ssm_managed"]["skipped"] == 1
    assert report["errors"] == []


def countdown(*values: int):
    remaining = list(values)
    return lambda: remaining.pop(0) if len(remaining) > 1 else remaining[0]


def test_time_budget_stops_collection_and_marks_the_report_partial(session, ec2) -> None:
    launch(ec2, count=2)
    launch(session.client("ec2", region_name=OTHER_REGION))
    # 100 s at the start (15 s reserve), 60 s before DescribeInstances, then 10 s
    report = scan(
        session, [REGION, OTHER_REGION], DEFAULT, time_left_ms=countdown(100_000, 60_000, 60_000, 10_000),
        region_workers=1,
    )
    assert report["partial"] is True
    assert report["partial_reason"] == (
        f"time budget exhausted before ec2:DescribeVolumes in {REGION}; "
        f"regions not scanned: {OTHER_REGION}"
    )
    assert report["incomplete_regions"] == [REGION, OTHER_REGION]
    assert report["summary"]["total_instances"] == 2
    by_rule = report["summary"]["by_rule"]
    assert by_rule["ebs_volumes_encrypted"]["skipped"] == 2
    assert by_rule["allowed_instance_type"]["failed"] == 2


def test_time_budget_exhausted_in_the_last_region(session, ec2) -> None:
    report = scan(session, [REGION], DEFAULT, time_left_ms=countdown(20_000, 20_000, 1_000))
    assert (
        report["partial_reason"]
        == f"time budget exhausted before ec2:DescribeInstances in {REGION}"
    )
    assert report["summary"]["total_instances"] == 0


def test_a_generous_budget_changes_nothing(session, ec2) -> None:
    launch(ec2)
    report = scan(session, [REGION], DEFAULT, time_left_ms=lambda: 900_000)
    assert report["partial"] is False


def test_previous_report_drives_new_and_resolved_findings(session, ec2) -> None:
    [instance] = launch(ec2)
    first = scan(session, [REGION], DEFAULT, run_id="run-1", account_id="111122223333")
    assert first["run_id"] == "run-1"
    assert first["account_id"] == "111122223333"
    ec2.create_tags(
        Resources=[instance],
        Tags=[{"Key": "Owner", "Value": "a"}, {"Key": "Environment", "Value": "b"}],
    )
    ec2.modify_instance_metadata_options(InstanceId=instance, HttpTokens="required")
    second = scan(session, [REGION], DEFAULT, previous=first)
    assert second["new_findings"] == []
    resolved = {f["rule_id"] for f in second["resolved_findings"]}
    assert resolved == {"required_tags", "imdsv2_required"}
    assert second["run_id"] != "run-1"
