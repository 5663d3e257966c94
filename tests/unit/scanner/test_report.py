"""The report's pure parts: summary counting, finding documents, CSV, what a report cannot
vouch for, partial reasons and the keys of a run."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from ec2c.scanner import sources
from ec2c.scanner.assessment.evaluation import evaluate_resources
from ec2c.scanner.assessment.policy import Policy, load_policy
from ec2c.scanner.documents import format_rate, format_time, iso_utc, parse_iso_utc
from ec2c.scanner.model import ImageInfo, MetadataOptions, Record, SsmStatus
from ec2c.scanner.reports.report import (
    CSV_COLUMNS,
    SummaryCounter,
    account_order,
    cannot_tell,
    finding_document,
    partial_reason,
    report_key,
    severity_order,
    shard_keys,
)
from ec2c.scanner.rules import CATALOGUE

from .conftest import ACCOUNT, NOW, OTHER_REGION, REGION, inline_report, record, report_from_records

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
IMDS = MetadataOptions("required", "enabled", 1)


def fleet() -> list[Record]:
    return [
        record(instance_id="i-1", **dict(CLEAN, metadata_options=IMDS)),
        record(instance_id="i-2", public_ip="54.1.2.3", **dict(CLEAN, metadata_options=IMDS)),
        record(instance_id="i-3", public_ip="54.1.2.4", tags={"Name": "x", "@SUM(1)": "y"}),
    ]


def counted(records: list[Record], policy: Policy = POLICY) -> SummaryCounter:
    counter = SummaryCounter(policy.enabled_rule_ids())
    counter.add(evaluate_resources(records, policy, date(2025, 6, 1)), instances=len(records))
    return counter


def test_summary_counts_instances_rules_and_severities() -> None:
    summary = counted(fleet()).summary()
    assert summary["total_instances"] == 3
    # i-1 and i-2 (whose failures are all suppressed) have approved_ami unevaluated: images were
    # not collected for them, so neither is counted compliant
    assert summary["compliant_instances"] == 0
    assert summary["unevaluated_instances"] == 2
    assert summary["non_compliant_instances"] == 1
    assert summary["compliance_rate"] == 0.0
    assert summary["by_rule"]["no_public_ip"] == {
        "failed": 2,
        "passed": 1,
        "suppressed": 1,
        "skipped": 0,
    }
    assert summary["by_rule"]["approved_ami"]["skipped"] == 2  # images unavailable for i-1, i-2
    assert summary["by_rule"]["imds_hop_limit"] == {
        "failed": 0,
        "passed": 2,
        "suppressed": 0,
        "skipped": 1,
    }
    assert summary["by_severity"]["high"] == 2  # i-3: no_public_ip + imdsv2_required
    assert set(summary["by_severity"]) == {"critical", "high", "medium", "low", "informational"}
    assert summary["by_resource_type"]["instance"] == {"evaluated": 3, "non_compliant": 1}


def test_page_by_page_counting_equals_counting_at_once() -> None:
    """The worker counts each page as it goes: the pages' sum is the fleet's summary."""
    pages = SummaryCounter(POLICY.enabled_rule_ids())
    for instance in fleet():
        pages.add(evaluate_resources([instance], POLICY, date(2025, 6, 1)), instances=1)
    assert pages.summary() == counted(fleet()).summary()


def test_regions_merge_additively() -> None:
    """Regions are counted apart and merged; a rule only one region's counter knows is added."""
    one, other = counted(fleet()[:1]), counted(fleet()[1:])
    other.by_rule["retired_rule"] = {"failed": 1, "passed": 0, "suppressed": 0, "skipped": 0}
    merged = SummaryCounter(POLICY.enabled_rule_ids())
    merged.merge(one)
    merged.merge(other)
    summary = merged.summary()
    assert {k: v for k, v in summary.items() if k != "by_rule"} == {
        k: v for k, v in counted(fleet()).summary().items() if k != "by_rule"
    }
    assert summary["by_rule"]["retired_rule"]["failed"] == 1
    assert summary["by_rule"]["no_public_ip"] == counted(fleet()).summary()["by_rule"]["no_public_ip"]


def test_a_finding_holds_what_a_triager_needs() -> None:
    [outcome] = [
        o
        for o in evaluate_resources(fleet(), POLICY, date(2025, 6, 1))
        if o.resource.resource_id == "i-2" and o.rule_id == "no_public_ip"
    ]
    rule = CATALOGUE["no_public_ip"]
    key = hashlib.sha256(b"123456789012|us-east-1|i-2|no_public_ip").hexdigest()
    assert finding_document(outcome, None, "2025-06-01T12:00:00Z") == {
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


def test_a_resource_without_an_account_takes_the_runs() -> None:
    [outcome, *_] = evaluate_resources([record(account_id=None)], POLICY, date(2025, 6, 1))
    document = finding_document(outcome, "999988887777", "t")
    assert document["account_id"] == "999988887777"
    assert document["resource_arn"] == f"arn:aws:ec2:{REGION}:999988887777:instance/{document['resource_id']}"


def test_an_empty_fleet_has_no_rate() -> None:
    summary = counted([]).summary()
    assert summary["compliance_rate"] is None
    assert summary["total_instances"] == 0 and summary["unevaluated_instances"] == 0


def test_the_rate_is_over_evaluated_instances_only() -> None:
    amazon = ImageInfo("ami-1", "137112412989", "amazon", "al2", None)
    complete = dict(CLEAN, metadata_options=IMDS, unavailable=frozenset(), image=amazon)
    instances = [
        record(instance_id="i-1", **complete),
        record(instance_id="i-2", **dict(complete, unavailable=frozenset({sources.IMAGES}))),
        record(instance_id="i-3", public_ip="54.1.2.4", **complete),
        record(
            instance_id="i-4", state="stopped", stopped_since=NOW, **dict(complete, ssm_status=None, ssm_managed=False)
        ),
    ]
    summary = counted(instances).summary()
    # i-2 is unevaluated (data missing); i-4's SSM rule does not apply to a stopped instance
    assert (summary["compliant_instances"], summary["non_compliant_instances"], summary["unevaluated_instances"]) == (
        2,
        1,
        1,
    )
    assert summary["compliance_rate"] == 66.67
    assert summary["by_rule"]["ssm_managed"]["skipped"] == 1


def test_expired_suppressions_are_listed(run) -> None:
    policy = load_policy(
        {
            "rules": {rule: {"enabled": False} for rule in CATALOGUE},
            "suppressions": [
                {"rule": "*", "instance_id": "i-1", "reason": "old", "expires": "2025-05-31"},
                {"rule": "*", "instance_id": "i-2", "reason": "today", "expires": "2025-06-01"},
            ],
        }
    )
    report = run([REGION], policy, now=NOW)
    assert report.index["expired_suppressions"] == [
        {"rule": "*", "instance_id": "i-1", "reason": "old", "expires": "2025-05-31"}
    ]
    assert report.index["policy"]["suppressions"] == 2


def test_partial_reasons() -> None:
    assert partial_reason(None, []) is None
    assert partial_reason(None, ["eu-west-1"]) == "regions not fully scanned: eu-west-1 (see errors)"
    assert partial_reason("time budget", ["eu-west-1"]) == "time budget"
    assert partial_reason("time budget", ["a", "b"], ["b"]) == "time budget; regions not scanned: b"


def test_csv_has_one_row_per_failure_and_defuses_formulas() -> None:
    report = report_from_records(fleet(), POLICY)
    rows = list(csv.DictReader(io.StringIO(csv_text(report))))
    assert len(rows) == len(list(report.findings()))
    assert list(rows[0]) == list(CSV_COLUMNS)
    row = next(r for r in rows if r["instance_id"] == "i-3")
    assert row["tags"] == "'@SUM(1)=y;Name=x"
    suppressed = next(r for r in rows if r["suppressed"] == "True")
    assert suppressed["suppression_reason"] == "edge proxy"
    assert next(r for r in rows if r["suppressed"] == "False")["suppression_reason"] == ""


def csv_text(report, **leading: str) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(report.csv_lines(leading or None))
    return out.getvalue()


def test_csv_of_an_empty_report_is_just_the_header() -> None:
    """Schema 1's ten columns keep their place; schema 2's are appended after them."""
    assert csv_text(inline_report()).splitlines() == [
        "instance_id,region,rule_id,title,severity,status,suppressed,suppression_reason,message,tags,"
        "finding_id,resource_type,resource_arn,account_id,first_seen,severity_reason,risk,remediation,"
        "remediation_cli,mappings"
    ]


def test_csv_leading_columns_come_first_and_are_defused_too() -> None:
    report = report_from_records(fleet()[2:], POLICY)
    [header, *rows] = list(report.csv_lines({"target": "=prod"}))
    assert header[:2] == ["target", "instance_id"]
    assert rows and all(row[0] == "'=prod" and row[1] == "i-3" for row in rows)


def test_csv_lists_failing_account_findings_after_the_findings() -> None:
    guardrail = {
        "resource_id": ACCOUNT,
        "region": REGION,
        "rule_id": "ebs_default_encryption",
        "status": "FAIL",
        "suppressed": False,
        "severity": "medium",
        "message": "off",
    }
    passing = dict(guardrail, rule_id="serial_console_access_disabled", status="PASS")
    report = inline_report(
        findings=[{"instance_id": "i-1", "region": REGION, "rule_id": "no_public_ip"}],
        account_findings=[guardrail, passing],
    )
    rows = [row[:3] for row in report.csv_lines()][1:]
    assert rows == [["i-1", REGION, "no_public_ip"], ["", REGION, "ebs_default_encryption"]]


def test_csv_carries_identity_and_mappings() -> None:
    report = report_from_records(fleet(), POLICY)
    row = next(r for r in csv.DictReader(io.StringIO(csv_text(report))) if r["rule_id"] == "imdsv2_required")
    assert row["resource_arn"] == "arn:aws:ec2:us-east-1:123456789012:instance/i-3"
    assert row["account_id"] == "123456789012"
    assert len(row["finding_id"]) == 64
    assert "security_hub=EC2.8" in row["mappings"].split(";")
    assert row["remediation_cli"].startswith(
        "aws ec2 modify-instance-metadata-options --region us-east-1 --instance-id i-3"
    )


def test_finding_ids_are_stable_and_distinct() -> None:
    first, second = report_from_records(fleet(), POLICY), report_from_records(fleet(), POLICY)
    ids = [f["finding_id"] for f in first.findings()]
    assert ids == [f["finding_id"] for f in second.findings()]
    assert len(set(ids)) == len(ids)


def test_severity_order_reads_most_severe_first() -> None:
    findings = [
        {"severity": "low", "rule_id": "a", "region": REGION, "resource_id": "i-1"},
        {"severity": "nonsense", "rule_id": "a", "region": REGION, "instance_id": "i-0"},
        {"severity": "critical", "rule_id": "b", "region": REGION, "resource_id": "i-2"},
        {"severity": "critical", "rule_id": "a", "region": OTHER_REGION},
    ]
    ordered = sorted(findings, key=severity_order)
    assert [f["severity"] for f in ordered] == ["critical", "critical", "low", "nonsense"]
    assert ordered[0]["rule_id"] == "a"


def test_account_order_puts_failures_first() -> None:
    results = [
        {"status": "PASS", "severity": "critical", "rule_id": "a", "region": REGION},
        {"status": "FAIL", "severity": "low", "rule_id": "b", "region": REGION},
        {"status": "FAIL", "severity": "high", "rule_id": "c", "region": REGION},
    ]
    assert [r["rule_id"] for r in sorted(results, key=account_order)] == ["c", "b", "a"]


def test_a_report_cannot_vouch_for_what_it_did_not_read() -> None:
    """A failure is only ever resolved on evidence: not in a region read incompletely, not when
    a read its rule needs failed there, not on a resource where its rule was left unevaluated (a
    SKIPPED account guardrail included). A rule no longer in the catalogue needs no read."""
    unproven = cannot_tell(
        [REGION],
        [{"region": REGION, "operation": "ec2:DescribeVolumes", "code": "Throttling", "message": "x"}],
        [{"region": REGION, "resource_id": "i-1", "rule_id": "approved_ami"}],
        [
            {"resource_id": ACCOUNT, "region": REGION, "rule_id": "imds_defaults_v2", "status": "SKIPPED"},
            {"resource_id": ACCOUNT, "region": REGION, "rule_id": "ebs_default_encryption", "status": "PASS"},
        ],
    )
    assert unproven((OTHER_REGION, "i-1", "no_public_ip"))  # region not read completely
    assert unproven((REGION, "i-1", "ebs_volumes_encrypted"))  # its volumes could not be listed
    assert unproven((REGION, "i-1", "approved_ami"))  # unevaluated on this instance
    assert unproven((REGION, ACCOUNT, "imds_defaults_v2"))  # a SKIPPED guardrail
    assert not unproven((REGION, "i-2", "approved_ami"))
    assert not unproven((REGION, "i-1", "no_public_ip"))
    assert not unproven((REGION, ACCOUNT, "ebs_default_encryption"))
    assert not unproven((REGION, "i-1", "retired_rule"))


def test_report_and_shard_keys_are_dated_by_generation_time() -> None:
    assert report_key({"generated_at": "2025-06-01T12:00:00Z", "run_id": "run-1"}) == "reports/2025/06/01/run-1.json"
    assert shard_keys("2025-06-01T12:00:00Z", "run-1", REGION) == {
        "findings": "reports/2025/06/01/run-1/us-east-1/findings.jsonl.gz",
        "csv": "reports/2025/06/01/run-1/us-east-1/findings.csv.gz",
        "new": "reports/2025/06/01/run-1/us-east-1/new.jsonl.gz",
        "resolved": "reports/2025/06/01/run-1/us-east-1/resolved.jsonl.gz",
        "unevaluated": "reports/2025/06/01/run-1/us-east-1/unevaluated.jsonl.gz",
    }


def test_times_and_rates_are_shown_one_way() -> None:
    """Documents hold ISO 8601 UTC to the second; people read minutes in UTC, and a rate to one
    decimal (n/a when nothing was evaluated). Text that is not a time is shown as it is."""
    assert iso_utc(datetime(2025, 6, 1, 14, 0, 5, 999, tzinfo=timezone(timedelta(hours=2)))) == "2025-06-01T12:00:05Z"
    assert format_time("2025-06-01T12:00:59Z") == "2025-06-01 12:00 UTC"
    assert format_time("2025-06-01T14:00:00+02:00") == "2025-06-01 12:00 UTC"
    assert format_time("yesterday") == "yesterday"
    assert format_time(None) == format_time("") == "-"
    assert (format_rate(None), format_rate(93.46), format_rate(100)) == ("n/a", "93.5%", "100.0%")


def test_a_time_read_back_is_utc_whatever_the_machines_zone(monkeypatch) -> None:
    """A zoneless time is UTC (as every time written or returned by AWS is), not local time: on a
    workstation two hours east of UTC it still reads as the same moment, and shows as such."""
    monkeypatch.setenv("TZ", "Etc/GMT-2")
    time.tzset()
    try:
        assert parse_iso_utc("2025-06-01T12:00:00") == datetime(2025, 6, 1, 12, tzinfo=UTC)
        assert parse_iso_utc("2025-06-01T14:00:00+02:00") == datetime(2025, 6, 1, 12, tzinfo=UTC)
        assert parse_iso_utc("2025-06-01T12:00:00.000Z").tzinfo is UTC
        assert format_time("2025-06-01T12:00:00") == "2025-06-01 12:00 UTC"
        with pytest.raises(ValueError):
            parse_iso_utc("yesterday")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
