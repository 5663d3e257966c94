"""`reader.load_report`, the one boundary: schema 1 and 2 documents and schema 3's single-file
export load with their lists inline, a schema 3 index streams its shards, and anything else is a
ReportReadError naming the document."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.contract import LATEST_REPORT_KEY
from ec2c.scanner.documents import Summary
from ec2c.scanner.reports.reader import load_latest, load_report, read_report
from ec2c.scanner.reports.report import report_key
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.storage import DirStore, MissingObject, ReportReadError

from .conftest import ACCOUNT, OTHER_REGION, REGION, launch

SCHEMA_1_SUMMARY = {
    "total_instances": 2,
    "compliant_instances": 1,
    "non_compliant_instances": 1,
    "compliance_rate": 50.0,
    "by_rule": {"no_public_ip": {"failed": 1, "passed": 1, "suppressed": 0, "skipped": 0}},
}


def v1_finding(instance_id: str, region: str = REGION) -> dict[str, Any]:
    return {
        "instance_id": instance_id,
        "region": region,
        "rule_id": "no_public_ip",
        "title": "t",
        "severity": "high",
        "status": "FAIL",
        "suppressed": False,
        "suppression_reason": None,
        "message": "public",
        "tags": {},
    }


def test_a_schema_1_report_is_upgraded_to_the_schema_3_index() -> None:
    document = {
        "run_id": "old",
        "generated_at": "2024-12-24T06:00:00Z",
        "account_id": ACCOUNT,
        "regions": [REGION, OTHER_REGION],
        "incomplete_regions": [OTHER_REGION],
        "partial": True,
        "summary": SCHEMA_1_SUMMARY,
        "findings": [v1_finding("i-1"), v1_finding("i-2", OTHER_REGION)],
        "errors": [{"region": OTHER_REGION, "operation": "ec2:DescribeInstances", "code": "X", "message": "m"}],
    }

    report = load_report(document, None, "v1.json")

    index = report.index
    assert index["schema_version"] == 3 and not report.sharded
    assert (index["run_id"], index["finished_at"], index["previous_run_id"]) == ("old", "2024-12-24T06:00:00Z", None)
    assert (index["new_findings"], index["resolved_findings"]) == (0, 0)
    assert index["account_findings"] == [] and index["expired_suppressions"] == []
    assert index["summary"]["unevaluated_instances"] == 0
    assert index["summary"]["by_severity"] == {"critical": 0, "high": 0, "medium": 0, "low": 0, "informational": 0}
    assert index["summary"]["by_resource_type"]["instance"] == {"evaluated": 0, "non_compliant": 0}
    assert index["region_shards"] == [
        {
            "region": REGION,
            "complete": True,
            "instances": 0,
            "findings": 1,
            "new": 0,
            "resolved": 0,
            "unevaluated": 0,
            "bytes": 0,
            "shards": None,
        },
        {
            "region": OTHER_REGION,
            "complete": False,
            "instances": 0,
            "findings": 1,
            "new": 0,
            "resolved": 0,
            "unevaluated": 0,
            "bytes": 0,
            "shards": None,
        },
    ]
    assert [f["instance_id"] for f in report.findings()] == ["i-1", "i-2"]
    assert [f["instance_id"] for f in report.findings(OTHER_REGION)] == ["i-2"]
    assert report.scanned_regions() == {REGION}
    assert report.unproven()((OTHER_REGION, "i-2", "no_public_ip"))
    assert not report.unproven()((REGION, "i-1", "no_public_ip"))


def test_a_schema_2_report_keeps_its_lists_inline() -> None:
    guardrail = {
        "resource_id": ACCOUNT,
        "region": REGION,
        "rule_id": "ebs_default_encryption",
        "status": "FAIL",
        "suppressed": False,
    }
    document = {
        "schema_version": 2,
        "run_id": "r2",
        "generated_at": "2025-05-01T00:00:00Z",
        "regions": [REGION],
        "summary": SCHEMA_1_SUMMARY,
        "previous_run_id": "r1",
        "account_findings": [guardrail],
        "findings": [v1_finding("i-1")],
        "new_findings": [v1_finding("i-1")],
        "resolved_findings": [v1_finding("i-0"), v1_finding("i-9", OTHER_REGION)],
        "unevaluated_resources": [
            {
                "region": REGION,
                "resource_type": "instance",
                "resource_id": "i-1",
                "rule_id": "approved_ami",
                "message": "m",
            }
        ],
    }

    report = load_report(document, None, "v2.json")

    assert (report.index["new_findings"], report.index["resolved_findings"]) == (1, 2)
    assert report.index["previous_run_id"] == "r1"
    assert [f["instance_id"] for f in report.new_findings()] == ["i-1"]
    assert [f["instance_id"] for f in report.resolved_findings()] == ["i-0", "i-9"]
    assert [f["instance_id"] for f in report.resolved_findings(OTHER_REGION)] == ["i-9"]
    assert [u["rule_id"] for u in report.unevaluated(REGION)] == ["approved_ami"]
    assert report.index["account_findings"][0]["resource_type"] == "account"  # schema 1 guardrails had none
    assert [f["rule_id"] for f in report.failures()] == ["no_public_ip", "ebs_default_encryption"]
    # a region that only the lists name still gets its entry
    assert [(e["region"], e["findings"], e["resolved"]) for e in report.index["region_shards"]] == [
        (REGION, 1, 1),
        (OTHER_REGION, 0, 1),
    ]
    assert report.region_entry("ap-south-1") is None


@pytest.fixture
def stored(ec2, run, store) -> Any:
    """A real schema 3 report: a moto scan of two instances into the test's folder."""
    launch(ec2, count=2)
    policy = load_policy(
        {"rules": {rule: {"enabled": rule in ("required_tags", "imdsv2_required")} for rule in CATALOGUE}}
    )
    return run([REGION], policy)


def test_a_schema_3_index_streams_its_shards(stored, store) -> None:
    report = read_report(store, report_key(stored.index))
    assert report.sharded and report.store is store
    assert report.index == stored.index
    entry = report.region_entry(REGION)
    assert entry is not None and entry["shards"] is not None
    assert entry["findings"] == 4 and store.path(entry["shards"]["findings"]).is_file()
    assert [f["finding_id"] for f in report.findings()] == [f["finding_id"] for f in stored.findings()]
    assert len(list(report.new_findings())) == 4
    assert list(report.resolved_findings()) == [] and list(report.unevaluated()) == []
    assert load_latest(store).index == report.index  # type: ignore[union-attr]


def test_a_shard_counted_zero_is_never_opened_and_a_listed_one_must_exist(stored, store) -> None:
    index = json.loads(json.dumps(stored.index))
    entry = index["region_shards"][0]
    entry["shards"] = {name: f"reports/nowhere/{name}" for name in entry["shards"]}
    report = load_report(index, store, "index.json")
    assert list(report.resolved_findings()) == []  # counted 0: not opened
    with pytest.raises(MissingObject, match="reports/nowhere/findings: no such file"):
        list(report.findings())


def test_a_schema_3_single_file_export_loads_its_inline_lists(stored) -> None:
    """`ec2c scan --format json`: the index's fields with the lists in place of the counts."""
    export = {
        **stored.index,
        "findings": list(stored.findings()),
        "new_findings": list(stored.new_findings()),
        "resolved_findings": [],
        "unevaluated_resources": [],
    }
    report = load_report(json.loads(json.dumps(export)), None, "export.json")
    assert not report.sharded
    assert (report.index["new_findings"], report.index["resolved_findings"]) == (4, 0)
    assert [f["finding_id"] for f in report.findings()] == [f["finding_id"] for f in stored.findings()]
    assert report.index["region_shards"][0]["findings"] == 4
    assert report.index["region_shards"][0]["shards"] is None
    assert report.summary == stored.summary


def test_an_export_with_counts_in_place_of_lists_keeps_the_counts(stored) -> None:
    export = {**stored.index, "findings": list(stored.findings())}
    report = load_report(export, None, "export.json")
    assert report.index["new_findings"] == 4
    assert list(report.new_findings()) == []


@pytest.mark.parametrize("version", [0, 4, "3", None, 2.0])
def test_an_unknown_schema_version_is_refused(version) -> None:
    with pytest.raises(ReportReadError) as caught:
        load_report({"schema_version": version, "run_id": "r", "generated_at": "t", "summary": {}}, None, "s3://b/k")
    assert str(caught.value) == f"s3://b/k: unknown schema_version {version!r} (this version reads 1 to 3)"


@pytest.mark.parametrize("document", [[], "report", {"run_id": "r", "generated_at": "t"}, {"summary": {}}])
def test_a_document_that_is_no_report_is_refused(document) -> None:
    with pytest.raises(ReportReadError) as caught:
        load_report(document, None, "latest.json")
    assert str(caught.value) == "latest.json: not a compliance report (no run_id, generated_at and summary)"


def test_load_latest_tells_none_yet_from_unusable(tmp_path) -> None:
    store = DirStore(tmp_path)
    assert load_latest(store) is None
    store.put_bytes(LATEST_REPORT_KEY, b"{not json", "application/json")
    with pytest.raises(ReportReadError, match="latest.json: not JSON"):
        load_latest(store)
    store.put_bytes(
        LATEST_REPORT_KEY,
        json.dumps({"schema_version": 9, "run_id": "r", "generated_at": "t", "summary": {}}).encode(),
        "application/json",
    )
    with pytest.raises(ReportReadError, match="unknown schema_version 9"):
        load_latest(store)


def test_summary_defaults_do_not_override_what_a_report_has() -> None:
    summary: Summary = {**SCHEMA_1_SUMMARY, "unevaluated_instances": 3}  # type: ignore[typeddict-item]
    report = load_report({"run_id": "r", "generated_at": "t", "summary": summary}, None, "x")
    assert report.summary["unevaluated_instances"] == 3
    assert report.summary["by_rule"] == SCHEMA_1_SUMMARY["by_rule"]
