"""ASFF conversion and the Security Hub import, on moto's BatchImportFindings and GetFindings."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import index
import pytest
from botocore.config import Config

from ec2c.scanner.reports.asff import product_arn, related_requirements, to_asff
from ec2c.scanner.reports.reader import Report, read_report
from ec2c.scanner.reports.security_hub import (
    ImportResult,
    active_findings,
    archived,
    hub_key,
    import_findings,
    resolved_since,
)
from ec2c.scanner.storage import S3Store

from .conftest import BUCKET, OTHER_REGION, REGION, LambdaContext, inline_report, launch, report_from_records
from .test_report import POLICY, fleet

ACCOUNT = "123456789012"


def report_with_history() -> Report:
    return report_from_records(
        fleet(),
        POLICY,
        resolved_findings=[
            {
                "instance_id": "i-old",
                "region": REGION,
                "rule_id": "no_public_ip",
                "title": "t",
                "severity": "high",
                "status": "FAIL",
                "suppressed": False,
                "message": "was public",
            }
        ],
    )


def test_failures_are_active_suppressed_ones_say_why_resolved_ones_are_archived() -> None:
    report = report_with_history()
    findings = list(to_asff(report, hub_region=REGION))
    current = list(report.findings())
    assert len(findings) == len(current) + 1
    by_id = {f["Id"]: f for f in findings}
    first = next(f for f in current if not f["suppressed"])
    asff = by_id[first["finding_id"]]
    assert asff["ProductArn"] == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    assert asff["GeneratorId"] == f"ec2-compliance/{first['rule_id']}"
    assert asff["Resources"][0]["Id"] == first["resource_arn"]
    assert asff["Resources"][0]["Type"] == "AwsEc2Instance"
    assert asff["CreatedAt"] == first["first_seen"] and asff["UpdatedAt"] == report.index["generated_at"]
    assert (asff["RecordState"], asff["Workflow"], asff["Compliance"]["Status"]) == (
        "ACTIVE",
        {"Status": "NEW"},
        "FAILED",
    )
    assert "Region" not in asff  # Security Hub sets it; an importer cannot
    suppressed = next(f for f in current if f["suppressed"])
    hidden = by_id[suppressed["finding_id"]]
    assert hidden["RecordState"] == "ACTIVE" and hidden["Workflow"] == {"Status": "SUPPRESSED"}
    assert hidden["Note"]["Text"] == "suppressed: edge proxy"
    gone = findings[-1]
    assert (gone["RecordState"], gone["Workflow"], gone["Compliance"]["Status"]) == (
        "ARCHIVED",
        {"Status": "RESOLVED"},
        "PASSED",
    )
    assert gone["Resources"][0]["Id"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-old"  # a schema 1 finding


def test_requirements_name_framework_and_control() -> None:
    assert related_requirements({"security_hub": "EC2.13", "cis": "v1.4 5.2; v3.0 5.2, 5.3", "prowler": "x"}) == [
        "AWS Foundational Security Best Practices/EC2.13",
        "CIS AWS Foundations Benchmark v1.4/5.2",
        "CIS AWS Foundations Benchmark v3.0/5.2",
        "CIS AWS Foundations Benchmark v3.0/5.3",
        "Prowler/x",
    ]
    assert related_requirements({"aws_config": "restricted-ssh"}) == ["AWS Config Managed Rules/restricted-ssh"]
    assert related_requirements({"cis": "v1.4 5.2;; ", "other": "x"}) == [
        "CIS AWS Foundations Benchmark v1.4/5.2",
        "other/x",
    ]


def test_long_messages_are_clipped_to_the_asff_limits() -> None:
    [finding, *_] = report_from_records(fleet(), POLICY).findings()
    report = inline_report(findings=[dict(finding, message="x" * 5000)])
    [asff] = to_asff(report, hub_region=REGION)
    assert len(asff["Description"]) == 1024 and asff["Description"].endswith("…")


def test_account_findings_are_about_the_account() -> None:
    guardrail = {
        "resource_id": ACCOUNT,
        "resource_type": "account",
        "region": REGION,
        "status": "FAIL",
        "rule_id": "ebs_default_encryption",
        "suppressed": False,
        "severity": "medium",
        "message": "off",
    }
    passing = dict(guardrail, rule_id="imds_defaults_v2", status="PASS")
    [asff] = to_asff(inline_report(account_findings=[guardrail, passing]), hub_region=REGION)
    assert asff["Resources"][0]["Type"] == "AwsAccount"
    assert asff["Resources"][0]["Id"] == f"AWS::::Account:{ACCOUNT}"


def test_asff_needs_an_account() -> None:
    with pytest.raises(ValueError, match="account_id"):
        list(to_asff(inline_report(account_id=None), hub_region=REGION))


@pytest.fixture
def hub(session):
    client = session.client("securityhub", region_name=REGION)
    client.enable_security_hub()
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.*.*", lambda model, **_: calls.update([model.name]))
    return client, calls


def copies(count: int) -> list[dict[str, Any]]:
    [template, *_] = report_from_records(fleet(), POLICY).findings()
    return [
        dict(
            template,
            finding_id=f"id-{n}",
            resource_id=f"i-{n}",
            instance_id=f"i-{n}",
            resource_arn=f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-{n}",
        )
        for n in range(count)
    ]


def many(count: int) -> Report:
    return inline_report(findings=copies(count))


def test_import_goes_in_batches_of_100(hub) -> None:
    client, calls = hub
    result = import_findings(client, to_asff(many(250), hub_region=REGION))
    assert (result.imported, result.failed, result.ok) == (250, 0, True)
    assert calls["BatchImportFindings"] == 3
    assert len(list(active_findings(client, REGION, ACCOUNT))) == 250
    assert calls["GetFindings"] == 3  # the hub's findings are paged, 100 at a time


def test_findings_are_imported_as_they_stream_in(hub) -> None:
    """A batch is sent as soon as 100 findings are there: the report is never held whole."""
    client, _ = hub
    pulled = 0
    pulled_at_call: list[int] = []
    client.meta.events.register("before-call.*.BatchImportFindings", lambda **_: pulled_at_call.append(pulled))

    def streamed() -> Any:
        nonlocal pulled
        for finding in to_asff(many(250), hub_region=REGION):
            pulled += 1
            yield finding

    import_findings(client, streamed())
    assert pulled_at_call == [100, 200, 250]


def test_a_full_last_batch_is_not_followed_by_an_empty_one(hub) -> None:
    client, calls = hub
    assert import_findings(client, to_asff(many(100), hub_region=REGION)).imported == 100
    assert calls["BatchImportFindings"] == 1
    assert import_findings(client, []).imported == 0
    assert calls["BatchImportFindings"] == 1


def test_the_summary_says_how_many_were_archived() -> None:
    result = ImportResult(imported=5, archived=2)
    assert result.ok
    assert result.summary() == "Security Hub: 5 finding(s) imported (2 resolved, archived)"


def test_refused_findings_are_counted_and_listed(hub) -> None:
    client, _ = hub
    findings = list(to_asff(many(3), hub_region=REGION))
    findings[1]["Resources"] = []
    result = import_findings(client, findings)
    assert (result.imported, result.failed, result.ok) == (2, 1, False)
    assert result.failures == [
        {"Id": "id-1", "ErrorCode": "InvalidInput", "ErrorMessage": result.failures[0]["ErrorMessage"]}
    ]
    assert result.summary() == "Security Hub: 2 finding(s) imported, 1 refused (InvalidInput)"


def test_a_failed_call_is_recorded_and_the_other_batches_still_go(session) -> None:
    unreachable = session.client(
        "securityhub",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    result = import_findings(unreachable, to_asff(many(150), hub_region=REGION))
    assert (result.imported, result.failed) == (0, 150)
    assert len(result.call_errors) == 2 and "Could not connect" in result.call_errors[0]
    assert "2 call(s) failed" in result.summary()


def test_resolved_hub_findings_are_archived_only_where_the_scan_could_tell(hub) -> None:
    client, _ = hub
    findings = copies(5)
    findings[2].update(region=OTHER_REGION, resource_arn=f"arn:aws:ec2:{OTHER_REGION}:{ACCOUNT}:instance/i-2")
    findings[3]["rule_id"] = "ebs_volumes_encrypted"
    rule_id = findings[4]["rule_id"]
    import_findings(client, to_asff(inline_report(findings=findings), hub_region=REGION))
    hub_findings = active_findings(client, REGION, ACCOUNT)
    current = inline_report(
        regions=[REGION, OTHER_REGION],
        incomplete_regions=[OTHER_REGION],
        errors=[{"region": REGION, "operation": "ec2:DescribeVolumes", "code": "Throttling", "message": "x"}],
        unevaluated_resources=[{"region": REGION, "resource_id": "i-4", "rule_id": rule_id}],
    )

    gone = resolved_since(hub_findings, current_ids={"id-1"}, cannot_tell=current.unproven())
    # id-2: its region was not read completely; id-3: its volumes could not be listed;
    # id-4: its rule was left unevaluated on that instance. None of them is evidence of a fix.
    assert [f["Id"] for f in gone] == ["id-0"]

    result = import_findings(client, [archived(f, "2025-07-01T00:00:00Z") for f in gone])
    assert result.ok
    states = {f["Id"]: f["RecordState"] for f in client.get_findings()["Findings"]}
    assert states == {"id-0": "ARCHIVED", **{f"id-{n}": "ACTIVE" for n in range(1, 5)}}
    assert [f["Id"] for f in active_findings(client, REGION, ACCOUNT)] == [f"id-{n}" for n in range(1, 5)]
    assert result.summary() == "Security Hub: 1 finding(s) imported"


def test_hub_findings_without_our_fields_are_never_archived() -> None:
    bare = {"Id": "x", "Resources": [{"Region": REGION}], "ProductFields": {"ec2-compliance/RuleId": "r"}}
    assert hub_key(bare) is None
    assert resolved_since([bare, {"Id": "y"}], current_ids=set(), cannot_tell=lambda key: False) == []


def test_archived_findings_drop_what_security_hub_adds() -> None:
    hub_finding = {
        "Id": "x",
        "Region": REGION,
        "ProcessedAt": "t",
        "Title": "t",
        "ProductFields": {"aws/securityhub/FindingId": "f", "ec2-compliance/RuleId": "r"},
    }
    result = archived(hub_finding, "2025-07-01T00:00:00Z")
    assert "Region" not in result and "ProcessedAt" not in result
    assert result["ProductFields"] == {"ec2-compliance/RuleId": "r"}


def test_call_errors_are_described_by_code_and_message() -> None:
    from botocore.exceptions import ClientError

    from ec2c.scanner.reports.security_hub import describe

    error = ClientError({"Error": {"Code": "InvalidAccessException", "Message": "not subscribed"}}, "GetFindings")
    assert describe(error) == "InvalidAccessException: not subscribed"


def test_product_arn_follows_the_partition() -> None:
    assert product_arn("cn-north-1", "1") == "arn:aws-cn:securityhub:cn-north-1:1:product/1/default"


def test_the_lambda_imports_into_its_home_region_when_enabled(session, deployed, monkeypatch) -> None:
    monkeypatch.setenv("SECURITY_HUB_IMPORT", "true")
    boto3.session.Session(region_name=REGION).client("securityhub", region_name=REGION).enable_security_hub()
    launch(session.client("ec2", region_name=REGION), count=2)
    launch(session.client("ec2", region_name=OTHER_REGION))

    result = index.handler({}, LambdaContext())

    stored = read_report(S3Store(session.client("s3", region_name=REGION), BUCKET), result["report_key"])
    ids = {f["finding_id"] for f in stored.failures()}
    assert ids and result["security_hub"] == {"imported": len(ids), "failed": 0}
    imported = session.client("securityhub", region_name=REGION).get_findings()["Findings"]
    assert {f["Id"] for f in imported} == ids
    assert {f["Resources"][0]["Region"] for f in imported} == {REGION, OTHER_REGION}
    assert {f["ProductArn"] for f in imported} == {product_arn(REGION, "210987654321")}


def test_the_lambda_does_not_touch_security_hub_by_default(session, deployed) -> None:
    launch(session.client("ec2", region_name=REGION))
    assert index.handler({}, LambdaContext())["security_hub"] is None
