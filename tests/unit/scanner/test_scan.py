"""scan() against moto: collection, batching, pagination, regions, errors, budget, diff."""

from __future__ import annotations

import gzip
from collections import Counter
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.core.botocore_stubber import MockRawResponse

from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.collection import collector
from ec2c.scanner.reports.reader import Report

from .conftest import ACCOUNT, NOW, OTHER_REGION, REGION, instance_rules_only, launch, tag_spec

DEFAULT = load_policy(instance_rules_only())
OPT_IN = load_policy({"rules": {"termination_protection": {"enabled": True}, "user_data_secrets": {"enabled": True}}})


def by_instance(report: Report) -> dict[str, set[str]]:
    """Active (unsuppressed) failing rule ids per instance."""
    result: dict[str, set[str]] = {}
    for finding in report.findings():
        if not finding["suppressed"]:
            result.setdefault(str(finding["instance_id"]), set()).add(finding["rule_id"])
    return result


def open_group(ec2: Any, name: str, permissions: list[dict[str, Any]]) -> str:
    group_id = ec2.create_security_group(GroupName=name, Description=name)["GroupId"]
    if permissions:
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


def test_default_scan_finds_the_expected_failures(session, ec2, api_calls, run) -> None:
    ssh = open_group(ec2, "ssh", [tcp(22, IpRanges=[{"CidrIp": "0.0.0.0/0"}])])
    rdp6 = open_group(ec2, "rdp6", [tcp(3389, Ipv6Ranges=[{"CidrIpv6": "::/0"}])])
    everything = open_group(ec2, "all", [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    [exposed] = launch(ec2, SecurityGroupIds=[ssh, rdp6], InstanceType="t3.micro")
    [wide_open] = launch(ec2, SecurityGroupIds=[everything], TagSpecifications=tag_spec(Owner="a", Environment="dev"))
    [encrypted] = launch(
        ec2,
        InstanceType="m5.large",
        MetadataOptions={"HttpTokens": "required"},
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": True}}],
    )
    [windows] = launch(ec2, ImageId="ami-03cf127a", KeyName="ops")
    [stopped] = launch(ec2)
    ec2.stop_instances(InstanceIds=[stopped])
    [gone] = launch(ec2)
    ec2.terminate_instances(InstanceIds=[gone])

    progress: list[tuple[str, int]] = []
    report = run([REGION], DEFAULT, on_progress=lambda r, n: progress.append((r, n)))

    failures = by_instance(report)
    assert gone not in failures
    assert report.summary["total_instances"] == 5
    assert report.index["account_id"] == ACCOUNT
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
    assert report.index["errors"] == [
        {
            "region": REGION,
            "operation": "ssm:DescribeInstanceInformation",
            "code": "OperationUnavailable",
            "message": "ssm:DescribeInstanceInformation is not offered by this endpoint",
        }
    ]
    assert report.summary["by_rule"]["ssm_managed"]["skipped"] == 5
    assert report.summary["unevaluated_instances"] + report.summary["non_compliant_instances"] == 5
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
    findings = list(report.findings())
    assert list(report.new_findings()) == [f for f in findings if not f["suppressed"]]
    assert report.index["new_findings"] == len(findings)
    assert report.region_entry(REGION)["findings"] == len(findings)  # type: ignore[index]


def test_stopped_long_ago_instances_fail(ec2, run) -> None:
    [stopped] = launch(ec2)
    ec2.stop_instances(InstanceIds=[stopped])
    far_future = NOW.replace(year=2100)
    report = run([REGION], DEFAULT, now=far_future)
    messages = {f["rule_id"]: f["message"] for f in report.findings()}
    assert "has been stopped for" in messages["stopped_too_long"]
    assert report.index["generated_at"] == "2100-06-01T12:00:00Z"


def test_only_the_enabled_rules_data_is_fetched(ec2, api_calls, run) -> None:
    launch(ec2, count=3)
    policy = load_policy({"rules": {rule: {"enabled": rule == "no_public_ip"} for rule in DEFAULT.rules}})
    report = run([REGION], policy)
    assert api_calls == Counter({"ec2:DescribeInstances": 1})
    assert report.index["policy"]["enabled_rules"] == ["no_public_ip"]
    assert report.index["errors"] == []


def test_an_empty_region_costs_one_call_and_stores_no_shard(api_calls, run, store) -> None:
    report = run([REGION], DEFAULT)
    assert api_calls == Counter({"ec2:DescribeInstances": 1})
    assert report.summary["compliance_rate"] is None
    assert report.index["account_id"] is None
    entry = report.region_entry(REGION)
    assert entry is not None
    assert (entry["complete"], entry["instances"], entry["findings"], entry["bytes"]) == (True, 0, 0, 0)
    assert entry["shards"] is not None
    assert not any(store.path(key).exists() for key in entry["shards"].values())
    assert list(report.findings()) == [] and list(report.unevaluated()) == []


def test_calls_grow_with_pages_not_instances(ec2, api_calls, run, monkeypatch) -> None:
    """Every lookup of the second page is already cached for the region (same group, image and
    VPC); what is the page's own is asked by the page's instance ids: its unencrypted volumes
    (200 ids a call: 2 calls for 300 instances, 1 for 150) and SSM (moto lacks it: one probe for
    the region, never asked again on the second page, one error in the report)."""
    monkeypatch.setattr(collector, "PAGE_SIZE", 2)  # moto pages by reservation
    for _ in range(3):
        launch(ec2, count=150)  # 3 reservations, 450 instances and volumes
    progress: list[int] = []
    report = run([REGION], DEFAULT, on_progress=lambda _, n: progress.append(n))
    assert report.summary["total_instances"] == 450
    assert progress == [300, 450]
    assert api_calls["ec2:DescribeInstances"] == 2
    assert api_calls["ec2:DescribeVolumes"] == 3
    assert api_calls["ec2:DescribeSecurityGroups"] == 1
    assert api_calls["ec2:DescribeImages"] == 1
    assert api_calls["ec2:DescribeRouteTables"] == 1
    assert api_calls["ssm:DescribeInstanceInformation"] == 1
    assert sum(api_calls.values()) == 9
    assert [e["operation"] for e in report.index["errors"]] == ["ssm:DescribeInstanceInformation"]


def test_id_lookups_are_batched(ec2, api_calls, run, monkeypatch) -> None:
    monkeypatch.setattr(collector, "ID_BATCH", 2)
    groups = [open_group(ec2, f"g{n}", []) for n in range(3)]
    launch(ec2, count=2, SecurityGroupIds=groups)
    launch(ec2, ImageId="ami-03cf127a")
    report = run([REGION], DEFAULT)
    assert api_calls["ec2:DescribeSecurityGroups"] == 2  # 4 groups (with default), 2 per call
    assert api_calls["ec2:DescribeImages"] == 1
    assert report.summary["by_rule"]["ssh_open_to_internet"]["passed"] == 3


def test_opt_in_rules_read_instance_attributes(ec2, api_calls, run) -> None:
    secret = gzip.compress(b"#!/bin/sh\nexport AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP\n")
    [leaky] = launch(ec2, UserData=secret)
    ec2.modify_instance_attribute(InstanceId=leaky, DisableApiTermination={"Value": True})
    [plain] = launch(ec2)
    report = run([REGION], OPT_IN)
    failures = by_instance(report)
    assert "user_data_secrets" in failures[leaky]
    assert "termination_protection" not in failures[leaky]
    assert "user_data_secrets" not in failures[plain]
    assert "termination_protection" in failures[plain]
    assert api_calls["ec2:DescribeInstanceAttribute"] == 4  # two attributes, two instances


def test_multi_region_scan_and_a_failing_region(session, run) -> None:
    for region in (REGION, OTHER_REGION, "ap-south-1"):
        launch(session.client("ec2", region_name=region), count=2)
    hits = fail_when(session, "DescribeInstances", "UnauthorizedOperation", region="ap-south-1")
    report = run([REGION, OTHER_REGION, "ap-south-1", REGION], DEFAULT)
    assert hits == ["ap-south-1"]
    assert report.index["regions"] == [REGION, OTHER_REGION, "ap-south-1"]
    assert report.index["incomplete_regions"] == ["ap-south-1"]
    assert report.summary["total_instances"] == 4
    assert {f["region"] for f in report.findings()} == {REGION, OTHER_REGION}
    errors = [e for e in report.index["errors"] if e["operation"] == "ec2:DescribeInstances"]
    assert errors == [
        {
            "region": "ap-south-1",
            "operation": "ec2:DescribeInstances",
            "code": "UnauthorizedOperation",
            "message": "UnauthorizedOperation in test",
        }
    ]
    assert report.index["partial"] is True
    assert report.index["partial_reason"] == "regions not fully scanned: ap-south-1 (see errors)"
    assert [(e["region"], e["complete"]) for e in report.index["region_shards"]] == [
        (REGION, True),
        (OTHER_REGION, True),
        ("ap-south-1", False),
    ]


def test_a_failing_page_keeps_the_pages_already_read(session, ec2, run, monkeypatch) -> None:
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    [first] = launch(ec2)
    launch(ec2)
    fail_when(session, "DescribeInstances", "InternalError", paged=True)
    report = run([REGION], DEFAULT)
    assert report.summary["total_instances"] == 1
    assert {f["instance_id"] for f in report.findings()} == {first}
    assert report.index["incomplete_regions"] == [REGION]
    assert report.index["errors"][0]["code"] == "InternalError"


def test_a_failing_enrichment_call_skips_only_its_rules(session, ec2, run) -> None:
    launch(ec2)
    fail_when(session, "DescribeVolumes", "UnauthorizedOperation")
    report = run([REGION], DEFAULT)
    assert report.summary["by_rule"]["ebs_volumes_encrypted"]["skipped"] == 1
    assert report.summary["by_rule"]["ebs_volumes_encrypted"]["failed"] == 0
    assert report.summary["by_rule"]["allowed_instance_type"]["failed"] == 1
    assert [e["code"] for e in report.index["errors"] if e["operation"] == "ec2:DescribeVolumes"] == [
        "UnauthorizedOperation"
    ]
    assert report.index["incomplete_regions"] == []


def test_an_enrichment_failing_on_every_page_is_one_error(session, ec2, run, monkeypatch) -> None:
    """Each page asks for its own groups and each ask fails: the failure is the same one, so
    the report lists it once, and every page's exposure rules are skipped."""
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    for name in ("a", "b", "c"):
        launch(ec2, SecurityGroupIds=[open_group(ec2, name, [])])
    hits = fail_when(session, "DescribeSecurityGroups", "UnauthorizedOperation")
    report = run([REGION], DEFAULT)
    assert hits == [REGION] * 3
    assert [e["operation"] for e in report.index["errors"] if e["code"] == "UnauthorizedOperation"] == [
        "ec2:DescribeSecurityGroups"
    ]
    assert report.summary["by_rule"]["ssh_open_to_internet"]["skipped"] == 3


def test_a_failing_attribute_call_skips_the_opt_in_rules(session, ec2, run) -> None:
    """Both opt-in rules read DescribeInstanceAttribute; the same denial of the same action is
    one error in the report, and both rules are skipped."""
    launch(ec2)
    fail_when(session, "DescribeInstanceAttribute", "UnauthorizedOperation")
    report = run([REGION], OPT_IN)
    assert report.summary["by_rule"]["termination_protection"]["skipped"] == 1
    assert report.summary["by_rule"]["user_data_secrets"]["skipped"] == 1
    operations = [e["operation"] for e in report.index["errors"]]
    assert operations.count("ec2:DescribeInstanceAttribute") == 1


def test_throttling_is_retried_by_the_adaptive_client(session, ec2, run) -> None:
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
    report = run([REGION], DEFAULT)
    assert len(throttled) == 1
    assert report.summary["total_instances"] == 1
    assert not [e for e in report.index["errors"] if e["operation"] == "ec2:DescribeInstances"]


def stub_ssm(session: boto3.session.Session, monkeypatch: Any) -> Stubber:
    """The session's SSM clients (the single-attempt probe and the retrying one) replaced by one
    client under botocore's Stubber: moto lacks ssm:DescribeInstanceInformation."""
    ssm = session.client("ssm", region_name=REGION)
    real_client = session.client
    monkeypatch.setattr(
        session, "client", lambda service, **kwargs: ssm if service == "ssm" else real_client(service, **kwargs)
    )
    return Stubber(ssm)


def ssm_query(instance_ids: list[str], **extra: Any) -> dict[str, Any]:
    return {"Filters": [{"Key": "InstanceIds", "Values": instance_ids}], "MaxResults": 50, **extra}


def test_ssm_managed_instances_are_read_from_ssm(session, ec2, run, monkeypatch) -> None:
    """moto lacks ssm:DescribeInstanceInformation, so the SSM client is stubbed (Stubber): the
    page's instance ids are asked for, and the answer's NextToken is followed."""
    managed, unmanaged, lost, stopped = launch(ec2, count=4)
    ec2.stop_instances(InstanceIds=[stopped])
    stubber = stub_ssm(session, monkeypatch)
    page = [managed, unmanaged, lost, stopped]
    stubber.add_response(
        "describe_instance_information",
        {"InstanceInformationList": [{"InstanceId": managed, "PingStatus": "Online"}], "NextToken": "t1"},
        ssm_query(page),
    )
    stubber.add_response(
        "describe_instance_information",
        {
            "InstanceInformationList": [
                {"InstanceId": lost, "PingStatus": "ConnectionLost", "LastPingDateTime": NOW},
            ]
        },
        ssm_query(page, NextToken="t1"),
    )
    with stubber:
        report = run([REGION], DEFAULT)
    stubber.assert_no_pending_responses()
    failures = by_instance(report)
    assert "ssm_managed" not in failures[managed]
    assert "ssm_managed" in failures[unmanaged]
    assert "ssm_managed" not in failures[stopped]
    lost_finding = next(f for f in report.findings() if f["instance_id"] == lost and f["rule_id"] == "ssm_managed")
    assert lost_finding["message"] == "SSM agent is ConnectionLost (last ping 2025-06-01 12:00Z)"
    assert report.summary["by_rule"]["ssm_managed"]["skipped"] == 1
    assert report.index["errors"] == []


def test_ssm_is_asked_50_instance_ids_at_a_time(session, ec2, run, monkeypatch) -> None:
    """Stubber for ssm:DescribeInstanceInformation (moto lacks it): a page of 120 instances is
    three queries of 50, 50 and 20 ids, and only the managed nodes those name come back."""
    ids = launch(ec2, count=120)
    stubber = stub_ssm(session, monkeypatch)
    for start in (0, 50, 100):
        batch = ids[start : start + 50]
        answer = [{"InstanceId": instance, "PingStatus": "Online"} for instance in batch[:10]]
        stubber.add_response("describe_instance_information", {"InstanceInformationList": answer}, ssm_query(batch))
    with stubber:
        report = run([REGION], DEFAULT)
    stubber.assert_no_pending_responses()
    assert report.summary["by_rule"]["ssm_managed"] == {"failed": 90, "passed": 30, "suppressed": 0, "skipped": 0}


def test_every_page_of_an_ssm_answer_is_followed(session, ec2, run, monkeypatch) -> None:
    """Stubber for ssm:DescribeInstanceInformation (moto lacks it): SSM may answer one query in
    several short pages; each NextToken is followed until there is none."""
    ids = launch(ec2, count=3)
    stubber = stub_ssm(session, monkeypatch)
    for number, instance in enumerate(ids):
        token = {"NextToken": f"t{number}"} if number else {}
        more = {"NextToken": f"t{number + 1}"} if number < 2 else {}
        stubber.add_response(
            "describe_instance_information",
            {"InstanceInformationList": [{"InstanceId": instance, "PingStatus": "Online"}], **more},
            ssm_query(ids, **token),
        )
    with stubber:
        report = run([REGION], DEFAULT)
    stubber.assert_no_pending_responses()
    assert report.summary["by_rule"]["ssm_managed"]["passed"] == 3


def countdown(*values: int):
    remaining = list(values)
    return lambda: remaining.pop(0) if len(remaining) > 1 else remaining[0]


def test_time_budget_stops_collection_and_marks_the_report_partial(session, ec2, run) -> None:
    """The budget runs out while the first page is enriched: that page is not evaluated (its
    records would lack their lookups), the region stops there and the next region never starts."""
    launch(ec2, count=2)
    launch(session.client("ec2", region_name=OTHER_REGION))
    # 100 s at the start (15 s reserve), 60 s before the region and its DescribeInstances, then 10 s
    report = run(
        [REGION, OTHER_REGION],
        DEFAULT,
        time_left_ms=countdown(100_000, 60_000, 60_000, 10_000),
        region_workers=1,
    )
    assert report.index["partial"] is True
    assert report.index["partial_reason"] == (
        f"time budget exhausted before ec2:DescribeVolumes in {REGION}; regions not scanned: {OTHER_REGION}"
    )
    assert report.index["incomplete_regions"] == [REGION, OTHER_REGION]
    assert report.summary["total_instances"] == 0
    assert all(
        counts == {"failed": 0, "passed": 0, "suppressed": 0, "skipped": 0}
        for counts in report.summary["by_rule"].values()
    )
    assert list(report.findings()) == []
    assert [(e["region"], e["complete"]) for e in report.index["region_shards"]] == [(REGION, False)]


def test_time_budget_exhausted_in_the_last_region(run) -> None:
    report = run([REGION], DEFAULT, time_left_ms=countdown(20_000, 20_000, 1_000))
    assert report.index["partial_reason"] == f"time budget exhausted before ec2:DescribeInstances in {REGION}"
    assert report.summary["total_instances"] == 0


def test_a_generous_budget_changes_nothing(ec2, run) -> None:
    launch(ec2)
    report = run([REGION], DEFAULT, time_left_ms=lambda: 900_000)
    assert report.index["partial"] is False
    assert report.summary["total_instances"] == 1


def test_previous_report_drives_new_and_resolved_findings(ec2, run) -> None:
    [instance] = launch(ec2)
    first = run([REGION], DEFAULT, run_id="run-1", account_id="111122223333")
    assert first.index["run_id"] == "run-1"
    assert first.index["account_id"] == "111122223333"
    ec2.create_tags(
        Resources=[instance],
        Tags=[{"Key": "Owner", "Value": "a"}, {"Key": "Environment", "Value": "b"}],
    )
    ec2.modify_instance_metadata_options(InstanceId=instance, HttpTokens="required")
    second = run([REGION], DEFAULT, previous=first, account_id="111122223333")
    assert list(second.new_findings()) == [] and second.index["new_findings"] == 0
    resolved = {f["rule_id"] for f in second.resolved_findings()}
    assert resolved == {"required_tags", "imdsv2_required"}
    assert second.index["resolved_findings"] == 2
    assert second.index["previous_run_id"] == "run-1"
    assert second.index["run_id"] != "run-1"
