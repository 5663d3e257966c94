"""Report building, CSV, diff and the S3 key (pure functions)."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date

from compliance_scanner import sources
from compliance_scanner.evaluation import evaluate_resources
from compliance_scanner.model import ImageInfo, ScanError, SsmStatus
from compliance_scanner.policy import load_policy
from compliance_scanner.report import apply_history, build_report, diff, report_key, to_csv
from compliance_scanner.rules import CATALOGUE

from .conftest import NOW, OTHER_REGION, record

POLICY = load_policy(
    {
        "rules": {"required_tags": {"params": {"keys": ["Owner"]}}},
        "suppressions": [{"rule": "*", "instance_id": "i-2", "reason": "edge proxy"}],
    }
)
CLEAN = dict(
    tags={"Owner": "ops"},
    monitoring="enabled",
    ebs_optimized=True,
    iam_instance_profile="arn:aws:iam::1:instance-profile/p",
    ssm_managed=True,
    ssm_status=SsmStatus("Online", NOW),
    image_id="ami-1",
    launch_time=NOW,
    metadata_options=None,
    unavailable=frozenset({sources.IMAGES}),
)


def build(instances, errors=(), **kwargs):
    return build_report(
        run_id="run-1",
        generated_at=NOW,
        account_id="123456789012",
        regions=["us-east-1", OTHER_REGION],
        policy=POLICY,
        instances=instances,
        outcomes=evaluate_resources(instances, POLICY, date(2025, 6, 1)),
        errors=errors,
        **kwargs,
    )


def fleet():
    from compliance_scanner.model import MetadataOptions

    imds = MetadataOptions("required", "enabled", 1)
    return [
        record(instance_id="i-1", **dict(CLEAN, metadata_options=imds)),
        record(instance_id="i-2", public_ip="54.1.2.3", **dict(CLEAN, metadata_options=imds)),
        record(instance_id="i-3", public_ip="54.1.2.4", tags={"Name": "x", "@SUM(1)": "y"}),
    ]


def test_summary_counts_instances_rules_and_severities() -> None:
    report = build(fleet(), [ScanError("eu-west-1", "ec2:DescribeVolumes", "Throttling", "slow")])
    summary = report["summary"]
    assert report["schema_version"] == 2
    assert report["generated_at"] == "2025-06-01T12:00:00Z"
    assert report["partial"] is False and report["partial_reason"] is None
    assert summary["total_instances"] == 3
    # i-1 and i-2 (whose failures are all suppressed) have approved_ami unevaluated: images were
    # not collected for them, so neither is counted compliant
    assert summary["compliant_instances"] == 0
    assert summary["unevaluated_instances"] == 2
    assert summary["non_compliant_instances"] == 1
    assert summary["compliance_rate"] == 0.0
    assert summary["by_rule"]["no_public_ip"] == {
        "failed": 2, "passed": 1, "suppressed": 1, "skipped": 0,
    }  # fmt: skip
    assert summary["by_rule"]["approved_ami"]["skipped"] == 2  # images unavailable for i-1, i-2
    assert summary["by_rule"]["imds_hop_limit"] == {
        "failed": 0, "passed": 2, "suppressed": 0, "skipped": 1,
    }  # fmt: skip
    assert summary["by_severity"]["high"] == 2  # i-3: no_public_ip + imdsv2_required
    assert set(summary["by_severity"]) == {"critical", "high", "medium", "low", "informational"}
    assert report["errors"] == [
        {"region": "eu-west-1", "operation": "ec2:DescribeVolumes", "code": "Throttling",
         "message": "slow"},
    ]  # fmt: skip
    assert report["policy"]["alert_threshold"] == 90.0
    assert report["policy"]["suppressions"] == 1


def test_findings_hold_only_failures_sorted_by_severity() -> None:
    findings = build(fleet())["findings"]
    assert {f["status"] for f in findings} == {"FAIL"}
    assert findings[0]["severity"] == "high"
    suppressed = [f for f in findings if f["suppressed"] and f["rule_id"] == "no_public_ip"]
    rule = CATALOGUE["no_public_ip"]
    key = hashlib.sha256(b"123456789012|us-east-1|i-2|no_public_ip").hexdigest()
    assert suppressed == [
        {
            "finding_id": key,
            "resource_type": "instance",
            "resource_id": "i-2",
            "resource_arn": "arn:aws:ec2:us-east-1:123456789012:instance/i-2",
            "account_id": "123456789012",
            "instance_id": "i-2",
            "region": "us-east-1",
            "rule_id": "no_public_ip",
            "title": "Instance has no public IP address",
            "severity": "high",
            "severity_reason": None,
            "status": "FAIL",
            "suppressed": True,
            "suppression_reason": "edge proxy",
            "message": "instance has public addresses: 54.1.2.3",
            "tags": {"Owner": "ops"},
            "first_seen": "2025-06-01T12:00:00Z",
            "risk": rule.rationale,
            "remediation": rule.remediation,
            "remediation_cli": rule.remediation_cli.format(resource_id="i-2", region="us-east-1"),
            "remediation_pulumi": rule.remediation_pulumi,
            "mappings": dict(rule.mapping),
        }
    ]
    assert not any(f["instance_id"] == "i-1" for f in findings)


def test_an_empty_fleet_has_no_rate() -> None:
    summary = build([])["summary"]
    assert summary["compliance_rate"] is None
    assert summary["total_instances"] == 0 and summary["unevaluated_instances"] == 0


def test_the_rate_is_over_evaluated_instances_only() -> None:
    from compliance_scanner.model import MetadataOptions

    imds = MetadataOptions("required", "enabled", 1)
    amazon = ImageInfo("ami-1", "137112412989", "amazon", "al2", None)
    complete = dict(CLEAN, metadata_options=imds, unavailable=frozenset(), image=amazon)
    instances = [
        record(instance_id="i-1", **complete),
        record(instance_id="i-2", **dict(complete, unavailable=frozenset({sources.IMAGES}))),
        record(instance_id="i-3", public_ip="54.1.2.4", **complete),
        record(instance_id="i-4", state="stopped", stopped_since=NOW,
               **dict(complete, ssm_status=None, ssm_managed=False)),
    ]
    summary = build(instances)["summary"]
    # i-2 is unevaluated (data missing); i-4's SSM rule does not apply to a stopped instance
    assert (summary["compliant_instances"], summary["non_compliant_instances"],
            summary["unevaluated_instances"]) == (2, 1, 1)
    assert summary["compliance_rate"] == 66.67
    assert summary["by_rule"]["ssm_managed"]["skipped"] == 1


def test_expired_suppressions_are_listed() -> None:
    policy = load_policy({"suppressions": [
        {"rule": "*", "instance_id": "i-1", "reason": "old", "expires": "2025-05-31"},
        {"rule": "*", "instance_id": "i-2", "reason": "today", "expires": "2025-06-01"},
    ]})
    report = build_report(run_id="r", generated_at=NOW, account_id=None, regions=["us-east-1"], policy=policy,
                          instances=[], outcomes=[], errors=[])
    assert report["expired_suppressions"] == [
        {"rule": "*", "instance_id": "i-1", "reason": "old", "expires": "2025-05-31"}
    ]


def test_an_incomplete_region_makes_the_report_partial() -> None:
    report = build([], incomplete_regions=["eu-west-1"])
    assert report["partial"] is True
    assert report["partial_reason"] == "regions not fully scanned: eu-west-1 (see errors)"


def test_partial_reports_carry_their_reason() -> None:
    report = build([], partial_reason="time budget", incomplete_regions=["eu-west-1"])
    assert report["partial"] is True
    assert report["partial_reason"] == "time budget"
    assert report["incomplete_regions"] == ["eu-west-1"]


def test_csv_has_one_row_per_finding_and_defuses_formulas() -> None:
    report = build(fleet())
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len(rows) == len(report["findings"])
    assert rows[0].keys() >= {"instance_id", "rule_id", "severity", "suppressed", "tags"}
    row = next(r for r in rows if r["instance_id"] == "i-3")
    assert row["tags"] == "'@SUM(1)=y;Name=x"
    suppressed = next(r for r in rows if r["suppressed"] == "True")
    assert suppressed["suppression_reason"] == "edge proxy"
    assert next(r for r in rows if r["suppressed"] == "False")["suppression_reason"] == ""


def test_csv_of_an_empty_report_is_just_the_header() -> None:
    """Schema 1's ten columns keep their place; schema 2's are appended after them."""
    assert to_csv({"findings": []}).splitlines() == [
        "instance_id,region,rule_id,title,severity,status,suppressed,suppression_reason,message,tags,"
        "finding_id,resource_type,resource_arn,account_id,first_seen,severity_reason,risk,remediation,"
        "remediation_cli,mappings"
    ]


def test_csv_carries_identity_and_mappings() -> None:
    report = build(fleet())
    row = next(r for r in csv.DictReader(io.StringIO(to_csv(report))) if r["rule_id"] == "imdsv2_required")
    assert row["resource_arn"] == "arn:aws:ec2:us-east-1:123456789012:instance/i-3"
    assert row["account_id"] == "123456789012"
    assert len(row["finding_id"]) == 64
    assert "security_hub=EC2.8" in row["mappings"].split(";")
    assert row["remediation_cli"].startswith("aws ec2 modify-instance-metadata-options --region us-east-1 "
                                             "--instance-id i-3")


def test_finding_ids_are_stable_and_distinct() -> None:
    first, second = build(fleet()), build(fleet())
    ids = [f["finding_id"] for f in first["findings"]]
    assert ids == [f["finding_id"] for f in second["findings"]]
    assert len(set(ids)) == len(ids)


def test_first_seen_is_carried_over_from_the_previous_report() -> None:
    previous = build(fleet())
    for f in previous["findings"]:
        f["first_seen"] = "2025-01-01T00:00:00Z"
    previous["findings"] = [f for f in previous["findings"] if f["rule_id"] != "imdsv2_required"]
    later = build_report(
        run_id="run-2", generated_at=NOW.replace(month=7), account_id="123456789012",
        regions=["us-east-1", OTHER_REGION], policy=POLICY, instances=fleet(),
        outcomes=evaluate_resources(fleet(), POLICY, date(2025, 7, 1)), errors=[],
    )  # fmt: skip
    apply_history(later, previous)
    seen = {f["rule_id"]: f["first_seen"] for f in later["findings"] if f["instance_id"] == "i-3"}
    assert seen["no_public_ip"] == "2025-01-01T00:00:00Z"
    assert seen["imdsv2_required"] == "2025-07-01T12:00:00Z"  # new this run
    assert later["previous_run_id"] == "run-1"
    assert [f["rule_id"] for f in later["new_findings"]] == ["imdsv2_required"]


def test_a_schema_1_report_still_feeds_the_diff_and_first_seen() -> None:
    """v1 findings have no resource_id or first_seen: they are matched by (region, instance, rule)
    and were first seen no later than the v1 report itself."""
    v1 = {
        "schema_version": 1, "run_id": "old", "generated_at": "2024-12-24T06:00:00Z",
        "findings": [finding("i-3"), finding("i-gone")],
    }  # fmt: skip
    current = build(fleet())
    apply_history(current, v1)
    found = next(f for f in current["findings"] if (f["instance_id"], f["rule_id"]) == ("i-3", "no_public_ip"))
    assert found["first_seen"] == "2024-12-24T06:00:00Z"
    assert not any(f["instance_id"] == "i-3" and f["rule_id"] == "no_public_ip" for f in current["new_findings"])
    assert [f["instance_id"] for f in current["resolved_findings"]] == ["i-gone"]


def finding(instance_id, rule_id="no_public_ip", region="us-east-1", suppressed=False):
    return {
        "instance_id": instance_id,
        "region": region,
        "rule_id": rule_id,
        "status": "FAIL",
        "suppressed": suppressed,
    }


def test_diff_new_and_resolved_unsuppressed_failures() -> None:
    previous = {
        "findings": [
            finding("i-1"),
            finding("i-2"),
            finding("i-3", suppressed=True),
            finding("i-9", region=OTHER_REGION),
            finding("i-8", region="ap-south-1"),
        ]
    }
    current = {
        "regions": ["us-east-1", OTHER_REGION],
        "incomplete_regions": [OTHER_REGION],
        "findings": [finding("i-2"), finding("i-3"), finding("i-2", rule_id="required_tags")],
    }
    result = diff(previous, current)
    assert [(f["instance_id"], f["rule_id"]) for f in result["new_findings"]] == [
        ("i-3", "no_public_ip"),
        ("i-2", "required_tags"),
    ]
    # i-9 was not resolved: eu-west-1 is incomplete; ap-south-1 was not scanned at all
    assert [f["instance_id"] for f in result["resolved_findings"]] == ["i-1"]


def test_failures_whose_data_could_not_be_read_are_not_resolved() -> None:
    previous = {"findings": [finding("i-1", rule_id="ebs_volumes_encrypted"), finding("i-2"),
                             finding("i-3", rule_id="gone_rule")]}  # fmt: skip
    current = {
        "regions": ["us-east-1"], "incomplete_regions": [], "findings": [],
        "errors": [{"region": "us-east-1", "operation": "ec2:DescribeVolumes", "code": "Throttling", "message": "x"}],
    }  # fmt: skip
    assert [(f["instance_id"], f["rule_id"]) for f in diff(previous, current)["resolved_findings"]] == [
        ("i-2", "no_public_ip"), ("i-3", "gone_rule"),
    ]  # fmt: skip


def test_rules_unevaluated_on_one_resource_are_listed_and_never_resolved() -> None:
    """i-1 has no image data although no image read failed in its region (its AMI deregistered
    between two calls, say): a per-resource gap, listed on its own. A region-wide failure of the
    same read is not repeated per resource: `errors` already says it."""
    report = build(fleet())
    gaps = {(u["resource_id"], u["rule_id"]) for u in report["unevaluated_resources"]}
    assert {("i-1", "approved_ami"), ("i-2", "approved_ami"), ("i-3", "imds_hop_limit")} <= gaps
    assert report["unevaluated_resources"][0] == {
        "region": "us-east-1", "resource_type": "instance", "resource_id": "i-1", "rule_id": "ami_deprecated",
        "message": "not evaluated: images data unavailable (see errors)",
    }  # fmt: skip
    region_wide = build(fleet(), [ScanError("us-east-1", "ec2:DescribeImages", "Throttling", "slow")])
    assert {u["rule_id"] for u in region_wide["unevaluated_resources"]} == {"imds_hop_limit", "instance_age"}

    previous = {"findings": [finding("i-1", rule_id="approved_ami"), finding("i-3", rule_id="imds_hop_limit"),
                             finding("i-1", rule_id="imdsv2_required")]}  # fmt: skip
    resolved = diff(previous, report)["resolved_findings"]
    assert [(f["instance_id"], f["rule_id"]) for f in resolved] == [("i-1", "imdsv2_required")]


def test_a_skipped_account_guardrail_does_not_resolve_its_failure() -> None:
    guardrail = {"resource_id": "123456789012", "region": "us-east-1", "rule_id": "ebs_default_encryption",
                 "status": "FAIL", "suppressed": False}  # fmt: skip
    current = {"regions": ["us-east-1"], "findings": [],
               "account_findings": [dict(guardrail, status="SKIPPED")]}  # fmt: skip
    assert diff({"account_findings": [guardrail]}, current)["resolved_findings"] == []
    current["account_findings"] = [dict(guardrail, status="PASS")]
    assert diff({"account_findings": [guardrail]}, current)["resolved_findings"] == [guardrail]


def test_diff_without_previous_reports_everything_as_new() -> None:
    current = {
        "regions": ["us-east-1"],
        "findings": [finding("i-1"), finding("i-2", suppressed=True)],
    }
    assert diff(None, current) == {"new_findings": [finding("i-1")], "resolved_findings": []}


def test_report_key_is_dated_by_generation_time() -> None:
    assert report_key(build([])) == "reports/2025/06/01/run-1.json"
