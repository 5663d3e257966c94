"""`changes.verdicts.judge`: the outcomes of re-evaluated resources against what they failed
before, from real records through `evaluate_resources` and the findings a scan writes for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ec2c.scanner import sources
from ec2c.scanner.assessment.evaluation import Outcome, evaluate_resources
from ec2c.scanner.assessment.policy import Policy, load_policy
from ec2c.scanner.changes.records import state_key
from ec2c.scanner.changes.verdicts import BatchContext, ResourceKey, judge, key_of
from ec2c.scanner.documents import Finding, iso_utc
from ec2c.scanner.model import FAIL, InstanceRecord, MetadataOptions
from ec2c.scanner.registry import INSTANCE, Severity
from ec2c.scanner.reports.report import finding_document
from ec2c.scanner.rules import CATALOGUE

from .conftest import ACCOUNT, NOW, REGION, record

RULES = ("imdsv2_required", "ssm_managed", "required_tags")
"""High, medium and low: each of a bare record's three failures (IMDSv1, SSM, tags)."""
EARLIER = NOW - timedelta(days=3)
AT = datetime(2025, 6, 1, 12, 30, 0, 123456, tzinfo=UTC)
ID = record().instance_id
KEY: ResourceKey = (REGION, INSTANCE, ID)
OTHER = "i-0fedcba9876543210"
FIXED = {
    "state": "stopped",
    "tags": {"Owner": "team", "Environment": "prod"},
    "metadata_options": MetadataOptions("required", "enabled", 1),
}
"""IMDSv2 and tags pass, SSM does not apply to a stopped instance: all three fixed on evidence."""


def policy(**document: Any) -> Policy:
    return load_policy({"rules": {rule_id: {"enabled": rule_id in RULES} for rule_id in CATALOGUE}, **document})


POLICY = policy()


def outcomes(*records: InstanceRecord, rules: Policy = POLICY) -> list[Outcome]:
    return evaluate_resources(records, rules, NOW.date())


def failures(*records: InstanceRecord, rules: Policy = POLICY, seen: datetime = EARLIER) -> list[Finding]:
    """What a scan at `seen` stored for the records: their FAILs as findings."""
    return [
        finding_document(o, ACCOUNT, iso_utc(seen)) for o in outcomes(*records, rules=rules) if o.result.status == FAIL
    ]


def context(**fields: Any) -> BatchContext:
    values: dict[str, Any] = {
        "record_id": "20250601T123000123456Z-batch",
        "record_key": "reports/changes/20250601T123000123456Z-batch.json",
        "generated_at": AT,
        "account_id": ACCOUNT,
        "base_run_id": "run-1",
        "event_ids": ["ev-1", "ev-2"],
        "counts": {"received": 3, "evaluated": 2, "skipped": 1, "retried": 0},
        "earliest_event": datetime(2025, 6, 1, 12, 0, tzinfo=UTC),
        "latest_event": datetime(2025, 6, 1, 12, 5, tzinfo=UTC),
    }
    return BatchContext(**{**values, **fields})


def rules_of(findings: Sequence[Finding]) -> list[str]:
    return sorted(f["rule_id"] for f in findings)


def test_a_resource_without_earlier_failures_fails_anew_from_this_batch() -> None:
    verdicts = judge(context(), outcomes(record()), [], {})

    record_ = verdicts.record
    assert rules_of(record_["findings"]) == sorted(RULES)
    assert rules_of(record_["new_findings"]) == sorted(RULES)
    assert record_["resolved_findings"] == []
    assert {f["first_seen"] for f in record_["findings"]} == {iso_utc(AT)}
    assert record_["resources"] == [
        {"resource_type": INSTANCE, "resource_id": ID, "region": REGION, "state": "evaluated"}
    ]


def test_a_known_failure_is_not_new_and_keeps_when_it_was_first_seen() -> None:
    before = failures(record())

    verdicts = judge(context(), outcomes(record()), [], {KEY: before})

    assert verdicts.record["new_findings"] == []
    assert verdicts.record["resolved_findings"] == []
    assert {f["first_seen"] for f in verdicts.record["findings"]} == {iso_utc(EARLIER)}


def test_an_earlier_failure_without_a_first_seen_is_seen_first_now() -> None:
    before = [{**finding, "first_seen": None} for finding in failures(record())]

    verdicts = judge(context(), outcomes(record()), [], {KEY: before})

    assert {f["first_seen"] for f in verdicts.record["findings"]} == {iso_utc(AT)}
    assert verdicts.record["new_findings"] == []


def test_fixes_are_resolved_on_a_pass_or_a_rule_that_no_longer_applies() -> None:
    before = failures(record())

    verdicts = judge(context(), outcomes(record(**FIXED)), [], {KEY: before})

    assert verdicts.record["findings"] == []
    assert verdicts.record["new_findings"] == []
    assert verdicts.record["resolved_findings"] == before
    assert verdicts.states[state_key(*KEY)]["failing"] == []


def test_a_rule_whose_data_was_not_read_carries_its_failure_neither_new_nor_fixed() -> None:
    before = failures(record())
    unread = record(**{**FIXED, "state": "running"}, unavailable=frozenset({sources.SSM}))

    verdicts = judge(context(), outcomes(unread), [], {KEY: before})

    [ssm] = [f for f in before if f["rule_id"] == "ssm_managed"]
    assert verdicts.record["findings"] == [ssm]
    assert verdicts.record["new_findings"] == []
    assert rules_of(verdicts.record["resolved_findings"]) == ["imdsv2_required", "required_tags"]
    assert verdicts.states[state_key(*KEY)]["failing"] == [ssm]


def test_a_rule_not_read_without_an_earlier_failure_carries_nothing() -> None:
    unread = record(**{**FIXED, "state": "running"}, unavailable=frozenset({sources.SSM}))

    verdicts = judge(context(), outcomes(unread), [], {})

    assert verdicts.record["findings"] == [] and verdicts.record["resolved_findings"] == []


def test_unknown_earlier_failures_make_nothing_new_and_nothing_fixed() -> None:
    fixed = replace(record(**FIXED), instance_id=OTHER)

    verdicts = judge(context(), outcomes(record(), fixed), [], {KEY: None, (REGION, INSTANCE, OTHER): None})

    assert rules_of(verdicts.record["findings"]) == sorted(RULES)
    assert verdicts.record["new_findings"] == [] and verdicts.record["resolved_findings"] == []
    assert rules_of(verdicts.states[state_key(*KEY)]["failing"]) == sorted(RULES)


def test_suppressed_failures_are_recorded_but_never_new_nor_resolved() -> None:
    suppressing = policy(suppressions=[{"rule": "required_tags", "instance_id": ID, "reason": "sandbox"}])
    suppressed_before = failures(record(), rules=suppressing)

    now_unsuppressed = judge(context(), outcomes(record()), [], {KEY: suppressed_before})
    now_suppressed = judge(context(), outcomes(record(), rules=suppressing), [], {KEY: failures(record())})
    fixed_while_suppressed = judge(context(), outcomes(record(**FIXED)), [], {KEY: suppressed_before})

    assert rules_of(now_unsuppressed.record["new_findings"]) == ["required_tags"]
    [tags] = [f for f in now_suppressed.record["findings"] if f["rule_id"] == "required_tags"]
    assert tags["suppressed"] is True and tags["suppression_reason"] == "sandbox"
    assert now_suppressed.record["new_findings"] == []
    assert rules_of(fixed_while_suppressed.record["resolved_findings"]) == ["imdsv2_required", "ssm_managed"]


def test_a_gone_resource_resolves_its_active_failures_and_has_none_left() -> None:
    suppressing = policy(suppressions=[{"rule": "required_tags", "instance_id": ID, "reason": "sandbox"}])
    before = failures(record(), rules=suppressing)

    verdicts = judge(context(), [], [KEY, KEY], {KEY: before})

    assert rules_of(verdicts.record["resolved_findings"]) == ["imdsv2_required", "ssm_managed"]
    assert verdicts.record["findings"] == [] and verdicts.record["new_findings"] == []
    assert verdicts.record["resources"] == [
        {"resource_type": INSTANCE, "resource_id": ID, "region": REGION, "state": "gone"}
    ]
    assert verdicts.states == {
        state_key(*KEY): {
            "evaluated_at": "2025-06-01T12:30:00.123456+00:00",
            "record_key": "reports/changes/20250601T123000123456Z-batch.json",
            "gone": True,
            "failing": [],
        }
    }


def test_a_gone_resource_with_unknown_or_no_failures_resolves_nothing() -> None:
    other: ResourceKey = (REGION, INSTANCE, OTHER)

    verdicts = judge(context(), [], [KEY, other], {KEY: None})

    assert verdicts.record["resolved_findings"] == []
    assert [r["state"] for r in verdicts.record["resources"]] == ["gone", "gone"]


def test_a_resource_both_evaluated_and_listed_gone_is_evaluated() -> None:
    verdicts = judge(context(), outcomes(record()), [KEY], {})

    assert [r["state"] for r in verdicts.record["resources"]] == ["evaluated"]
    assert verdicts.states[state_key(*KEY)]["gone"] is False
    assert rules_of(verdicts.states[state_key(*KEY)]["failing"]) == sorted(RULES)


def test_the_record_says_what_the_batch_was() -> None:
    errors = [{"region": REGION, "operation": "ec2:DescribeVolumes", "code": "Denied", "message": "no"}]
    skipped = [{"event_id": "ev-3", "reason": "event ev-3: region eu-west-3 is not scanned"}]

    verdicts = judge(context(errors=errors, skipped=skipped), outcomes(record()), [], {})

    record_ = verdicts.record
    assert {key: record_[key] for key in record_ if key not in ("resources", "findings", "new_findings")} == {
        "kind": "change",
        "schema_version": 1,
        "record_id": "20250601T123000123456Z-batch",
        "generated_at": iso_utc(AT),
        "account_id": ACCOUNT,
        "base_run_id": "run-1",
        "event_ids": ["ev-1", "ev-2"],
        "events": {"received": 3, "evaluated": 2, "skipped": 1, "retried": 0},
        "earliest_event": "2025-06-01T12:00:00Z",
        "latest_event": "2025-06-01T12:05:00Z",
        "resolved_findings": [],
        "errors": errors,
        "skipped": skipped,
    }


def test_a_batch_without_events_judged_has_no_event_times() -> None:
    verdicts = judge(context(event_ids=[], earliest_event=None, latest_event=None, base_run_id=None), [], [], {})

    assert verdicts.record["earliest_event"] is None and verdicts.record["latest_event"] is None
    assert verdicts.record["base_run_id"] is None and verdicts.record["resources"] == []
    assert verdicts.states == {}


def test_alerting_keeps_the_new_failures_at_the_severity_or_worse_worst_first() -> None:
    second = replace(record(), instance_id=OTHER)
    verdicts = judge(context(), outcomes(second, record()), [], {})

    medium = verdicts.alerting(Severity.MEDIUM)

    assert [(f["severity"], f["resource_id"], f["rule_id"]) for f in medium] == [
        ("high", ID, "imdsv2_required"),
        ("high", OTHER, "imdsv2_required"),
        ("medium", ID, "ssm_managed"),
        ("medium", OTHER, "ssm_managed"),
    ]
    assert len(verdicts.alerting(Severity.INFORMATIONAL)) == 6
    assert verdicts.alerting(Severity.CRITICAL) == []


def test_key_of_reads_findings_written_before_resource_types() -> None:
    [finding] = failures(record())[:1]
    legacy = {key: value for key, value in finding.items() if key not in ("resource_type", "resource_id")}

    assert key_of(finding) == KEY
    assert key_of(legacy) == KEY
    assert key_of({"region": REGION, "resource_type": "account", "resource_id": ACCOUNT}) == (
        REGION,
        "account",
        ACCOUNT,
    )
