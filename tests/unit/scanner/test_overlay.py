"""`overlay`: change records laid over a real full report (a moto scan stored in a folder), each
record written as the event path stores it, under `reports/changes/`, and read back with
`records_since`."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest

from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.changes.overlay import overlay
from ec2c.scanner.changes.records import ChangedResource, ChangeRecord, record_key, records_since
from ec2c.scanner.documents import Finding, iso_utc
from ec2c.scanner.reports.reader import Report, load_report
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.storage import DirStore, ReportReadError, put_json

from .conftest import ACCOUNT, NOW, REGION, launch

RULES = ("imdsv2_required", "no_public_ip", "no_key_pair", "ebs_default_encryption", "imds_defaults_v2")
"""Two high instance rules that fail on moto's instances, one low that passes there, and two
account guardrails: EBS default encryption off (FAIL), IMDS defaults unread by moto (SKIPPED)."""


@pytest.fixture
def base(ec2, run) -> Report:
    """Three instances failing imdsv2_required and no_public_ip each, and the account's
    ebs_default_encryption failing, as a full scan stores them."""
    launch(ec2, count=3, MetadataOptions={"HttpTokens": "optional"})
    policy = load_policy({"rules": {rule: {"enabled": rule in RULES} for rule in CATALOGUE}})
    return run([REGION], policy, now=NOW)


def instances(report: Report) -> list[str]:
    return sorted({f["resource_id"] for f in report.findings()})


def failures_of(report: Report, resource_id: str) -> list[Finding]:
    return sorted((f for f in report.failures() if f["resource_id"] == resource_id), key=lambda f: f["rule_id"])


def evaluated(resource_id: str, kind: str = "instance", state: str = "evaluated") -> ChangedResource:
    return {"resource_type": kind, "resource_id": resource_id, "region": REGION, "state": state}  # type: ignore[typeddict-item]


def failing(finding: Finding, **changes: Any) -> Finding:
    """A failure as a record holds it: the scan's document for the resource, `changes` applied."""
    return {**copy.deepcopy(finding), **changes}  # type: ignore[typeddict-item]


def write(
    store: DirStore, minutes: int, resources: list[ChangedResource], findings: list[Finding], batch: str = "b"
) -> str:
    """A change record written `minutes` after the scan; returns its key."""
    moment = NOW + timedelta(minutes=minutes)
    key = record_key(moment, f"{batch}{minutes}")
    record: ChangeRecord = {
        "kind": "change",
        "schema_version": 1,
        "record_id": f"{batch}{minutes}",
        "generated_at": iso_utc(moment),
        "account_id": ACCOUNT,
        "base_run_id": None,
        "event_ids": ["e-1"],
        "events": {"received": 1, "evaluated": 1, "skipped": 0, "retried": 0},
        "earliest_event": iso_utc(moment),
        "latest_event": iso_utc(moment),
        "resources": resources,
        "findings": findings,
        "new_findings": [],
        "resolved_findings": [],
        "errors": [],
        "skipped": [],
    }
    put_json(store, key, record)
    return key


def overlaid(base: Report, store: DirStore) -> Report:
    after = datetime.fromisoformat(base.index["generated_at"].replace("Z", "+00:00"))
    return overlay(base, records_since(store, after))


def test_a_fixed_failure_disappears_and_a_new_one_appears_marked(base, store) -> None:
    fixed, worse, untouched = instances(base)
    [fixed_imds, _] = failures_of(base, fixed)
    worse_failures = failures_of(base, worse)
    new = failing(worse_failures[0], rule_id="no_key_pair", severity="low", finding_id="new-id")
    key = write(store, 5, [evaluated(fixed), evaluated(worse)], [failing(fixed_imds), *worse_failures, new])
    before = copy.deepcopy(base.index)

    report = overlaid(base, store)

    changed_at = iso_utc(NOW + timedelta(minutes=5))
    assert [f["rule_id"] for f in failures_of(report, fixed)] == ["imdsv2_required"]
    assert [f["rule_id"] for f in failures_of(report, worse)] == ["imdsv2_required", "no_key_pair", "no_public_ip"]
    for finding in [*failures_of(report, fixed), *failures_of(report, worse)]:
        assert (finding["changed_at"], finding["change_record"]) == (changed_at, key)
    assert failures_of(report, untouched) == failures_of(base, untouched)
    assert all("changed_at" not in f for f in failures_of(report, untouched))
    summary = report.summary
    assert summary["by_rule"]["no_public_ip"]["failed"] == 2
    assert summary["by_rule"]["no_key_pair"] == {"failed": 1, "passed": 3, "suppressed": 0, "skipped": 0}
    assert summary["by_severity"]["high"] == 5 and summary["by_severity"]["low"] == 1
    assert (summary["total_instances"], summary["non_compliant_instances"]) == (3, 3)
    assert report.index["region_shards"][0]["findings"] == len(list(report.findings())) == 6
    assert report.index["overlay"] == {"records": 1, "through": changed_at, "resources": 2}
    assert base.index == before  # the full report is left as it was
    assert "overlay" not in base.index


def test_a_gone_instance_loses_its_findings_and_the_rate_follows(base, store) -> None:
    gone, *rest = instances(base)
    write(store, 1, [evaluated(gone, state="gone")], [])

    report = overlaid(base, store)

    assert instances(report) == rest
    summary = report.summary
    assert summary["total_instances"] == 3  # the full scan's: a record cannot count instances
    assert (summary["non_compliant_instances"], summary["compliant_instances"]) == (2, 1)
    assert summary["compliance_rate"] == 33.33
    assert summary["by_resource_type"]["instance"] == {"evaluated": 3, "non_compliant": 2}
    assert summary["by_rule"]["imdsv2_required"]["failed"] == 2
    assert summary["by_severity"]["high"] == 4


def test_the_later_record_wins(base, store) -> None:
    resource = instances(base)[0]
    imds, public = failures_of(base, resource)
    write(store, 1, [evaluated(resource)], [])
    later = write(store, 2, [evaluated(resource)], [failing(imds)])
    write(store, -1, [evaluated(resource)], [failing(imds), failing(public)])  # before the scan: not read

    report = overlaid(base, store)

    [finding] = failures_of(report, resource)
    assert (finding["rule_id"], finding["change_record"]) == ("imdsv2_required", later)
    assert report.index["overlay"] == {
        "records": 2,
        "through": iso_utc(NOW + timedelta(minutes=2)),
        "resources": 1,
    }
    assert report.summary["by_rule"]["no_public_ip"]["failed"] == 2


def test_account_guardrails_are_overridden_the_same_way(base, store) -> None:
    [encryption] = [f for f in base.index["account_findings"] if f["status"] == "FAIL"]
    assert encryption["rule_id"] == "ebs_default_encryption"
    assert base.summary["by_resource_type"]["account"]["non_compliant"] == 1
    imds = failing(encryption, rule_id="imds_defaults_v2", finding_id="imds-id", message="optional")
    key = write(store, 3, [evaluated(ACCOUNT, kind="account")], [imds])

    report = overlaid(base, store)

    results = {f["rule_id"]: f for f in report.index["account_findings"]}
    assert set(results) == {"imds_defaults_v2"}  # encryption fixed; the SKIPPED result replaced by the FAIL
    assert (results["imds_defaults_v2"]["status"], results["imds_defaults_v2"]["change_record"]) == ("FAIL", key)
    assert [f["rule_id"] for f in report.failures() if f["resource_type"] == "account"] == ["imds_defaults_v2"]
    summary = report.summary
    assert summary["by_rule"]["ebs_default_encryption"]["failed"] == 0
    assert summary["by_rule"]["imds_defaults_v2"]["failed"] == 1
    assert summary["by_resource_type"]["account"] == {"evaluated": 1, "non_compliant": 1}
    assert summary["non_compliant_instances"] == 3  # instances untouched
    assert report.index["region_shards"][0]["findings"] == 6


def test_a_fixed_guardrail_keeps_the_results_that_are_not_failures(base, store) -> None:
    write(store, 3, [evaluated(ACCOUNT, kind="account")], [])

    report = overlaid(base, store)

    assert [(f["rule_id"], f["status"]) for f in report.index["account_findings"]] == [("imds_defaults_v2", "SKIPPED")]
    assert report.summary["by_resource_type"]["account"]["non_compliant"] == 0
    assert report.summary["by_severity"]["medium"] == 0


def test_an_instance_the_scan_never_saw_adds_a_failure_not_an_instance(base, store) -> None:
    template = failures_of(base, instances(base)[0])[0]
    launched = failing(template, resource_id="i-0new", instance_id="i-0new", finding_id="new")
    write(store, 1, [evaluated("i-0new")], [launched])

    report = overlaid(base, store)

    assert "i-0new" in instances(report)
    summary = report.summary
    assert (summary["total_instances"], summary["non_compliant_instances"]) == (3, 4)
    assert (summary["compliant_instances"], summary["compliance_rate"]) == (0, 0.0)


def test_suppressed_failures_are_counted_as_suppressed(base, store) -> None:
    resource = instances(base)[0]
    imds, public = failures_of(base, resource)
    accepted = failing(public, suppressed=True, suppression_reason="a bastion")
    write(store, 1, [evaluated(resource)], [failing(imds), accepted])

    summary = overlaid(base, store).summary

    assert summary["by_rule"]["no_public_ip"] == {"failed": 3, "passed": 0, "suppressed": 1, "skipped": 0}
    assert summary["by_severity"]["high"] == 5
    assert summary["non_compliant_instances"] == 3  # imdsv2_required still fails, unsuppressed


def test_a_replaced_failure_that_was_suppressed_did_not_make_its_instance_failing(base, store) -> None:
    """The full scan had accepted one instance's failures; the record finds one of them failing
    unsuppressed now: that instance becomes non-compliant, and only its active failure counts."""
    accepted = instances(base)[0]
    findings = [
        dict(f, suppressed=True, suppression_reason="accepted") if f["resource_id"] == accepted else f
        for f in base.findings()
    ]
    summary = {**base.summary, "non_compliant_instances": 2, "by_severity": {**base.summary["by_severity"], "high": 4}}
    export = {**base.index, "summary": summary, "findings": findings, "new_findings": [], "resolved_findings": []}
    inline = load_report(export, None, "export.json")
    imds, _ = failures_of(base, accepted)
    write(store, 1, [evaluated(accepted)], [failing(imds)])

    report = overlaid(inline, store)

    assert report.summary["non_compliant_instances"] == 3
    assert report.summary["by_severity"]["high"] == 5
    assert [f["rule_id"] for f in failures_of(report, accepted)] == ["imdsv2_required"]


def test_no_records_leave_the_report_as_it_is(base, store) -> None:
    assert overlaid(base, store) is base
    assert overlay(base, []) is base


def test_a_one_document_report_is_overlaid_too(base, store) -> None:
    export = {**base.index, "findings": list(base.findings()), "new_findings": [], "resolved_findings": []}
    inline = load_report(export, None, "export.json")
    gone = instances(base)[0]
    write(store, 1, [evaluated(gone, state="gone")], [])

    report = overlaid(inline, store)

    assert gone not in instances(report) and not report.sharded
    assert report.summary["non_compliant_instances"] == 2


def unreadable(store: DirStore, key: str, body: bytes) -> str:
    store.put_bytes(key, body, "application/json")
    return store.uri(key)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{not json", "not JSON"),
        (b'{"kind": "report"}', "not a change record (kind is not 'change')"),
        (b'{"kind": "change", "schema_version": 1}', "change record without a resources list"),
        (
            b'{"kind": "change", "schema_version": 1, "resources": [], "findings": [], "new_findings": [],'
            b' "resolved_findings": []}',
            "change record without a generated_at time",
        ),
    ],
)
def test_a_record_that_cannot_be_read_is_an_error_naming_it(base, store, body, why) -> None:
    where = unreadable(store, record_key(NOW + timedelta(minutes=1), "bad"), body)
    with pytest.raises(ReportReadError) as caught:
        overlaid(base, store)
    assert str(caught.value) == f"{where}: {why}"


ENTRY_CASES = {
    "resource without an id": (
        lambda resource, imds: ([{"resource_id": resource, "region": REGION}], []),
        "resources entry 1 has no resource_type, resource_id and region",
    ),
    "unknown state": (
        lambda resource, imds: ([evaluated(resource, state="moved")], []),
        "resources entry 1: state 'moved' is not 'evaluated' or 'gone'",
    ),
    "finding not an object": (
        lambda resource, imds: ([evaluated(resource)], ["a finding"]),
        "findings entry 1 is not a finding (no resource_id, region, rule_id, severity, status)",
    ),
    "a PASS": (
        lambda resource, imds: ([evaluated(resource)], [failing(imds, status="PASS")]),
        "findings entry 1 has status 'PASS', not FAIL",
    ),
    "finding of a gone resource": (
        lambda resource, imds: ([evaluated(resource, state="gone")], [failing(imds)]),
        "findings entry 1 is of {resource}, which the record did not evaluate",
    ),
    "finding of a resource not listed": (
        lambda resource, imds: ([], [failing(imds)]),
        "findings entry 1 is of {resource}, which the record did not evaluate",
    ),
}


@pytest.mark.parametrize(("entries", "why"), list(ENTRY_CASES.values()), ids=list(ENTRY_CASES))
def test_a_record_whose_entries_cannot_be_read_is_an_error_naming_it(base, store, entries, why) -> None:
    resource = instances(base)[0]
    resources, findings = entries(resource, failures_of(base, resource)[0])
    write(store, 1, [evaluated(instances(base)[1])], [])  # a good record first: still an error
    key = write(store, 2, resources, findings)
    with pytest.raises(ReportReadError) as caught:
        overlaid(base, store)
    assert str(caught.value) == f"{store.uri(key)}: {why.format(resource=resource)}"
