"""OCSF output: every failure of a real demo report (instance and launch template findings, failing
account guardrails) becomes a Detection Finding that py-ocsf-models accepts in strict mode, without
losing a key, and with the report's values intact. The demo is scanned into a folder store (the
bucket's layout), so the events stream from its shards as they do for `ec2c scan`."""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ec2c.orchestrator import demo
from ec2c.orchestrator.reporting.ocsf import to_ocsf
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.reports.reader import Report, load_report
from ec2c.scanner.rules.mappings import compliance_controls
from ec2c.scanner.run.scanner import scan
from ec2c.scanner.storage import DirStore

py_ocsf_models = pytest.importorskip("py_ocsf_models")
from py_ocsf_models.events.findings.detection_finding import DetectionFinding  # noqa: E402

SEVERITY_IDS = {"critical": 5, "high": 4, "medium": 3, "low": 2, "informational": 1}
RESOURCE_TYPES = {
    "instance": "AWS::EC2::Instance",
    "launch_template": "AWS::EC2::LaunchTemplate",
    "security_group": "AWS::EC2::SecurityGroup",
    "account": "AWS::::Account",
}


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()) * 1000


def failures(report: Report) -> list[dict[str, Any]]:
    return list(report.failures())


def inline(report: Report, **fields: Any) -> Report:
    """A one-document copy of `report` (schema 2 shaped: its findings inline) with `fields`
    replaced, through the reader's boundary."""
    document: dict[str, Any] = {**report.index, "schema_version": 2, "findings": list(report.findings())}
    document.pop("region_shards")
    document.update(fields)
    return load_report(document, None, "test")


def events_of(report: Report) -> list[dict[str, Any]]:
    return list(to_ocsf(report))


# ------------------------------------------------------------------------------------------------
# Fixtures: the demo fleet scanned twice, the second scan a day later with the first as history
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Report]:
    store = DirStore(tmp_path_factory.mktemp("store"))
    with demo.demo_session() as (session, _fleet):
        policy = load_policy(demo.demo_policy(), source="demo policy")
        regions = list(demo.DEMO_REGIONS)
        first = scan(session, regions, policy, store, account_id=demo.DEMO_ACCOUNT_ID)
        later = datetime.fromisoformat(first.index["generated_at"].replace("Z", "+00:00")) + timedelta(days=1)
        second = scan(session, regions, policy, store, account_id=demo.DEMO_ACCOUNT_ID, previous=first, now=later)
    return first, second


@pytest.fixture(scope="module")
def demo_report(demo_reports) -> Report:
    report = demo_reports[0]
    findings = list(report.findings())
    # The demo must exercise what the tests assert on.
    assert report.sharded and len(findings) >= 20
    assert any(f["suppressed"] for f in findings)
    assert not all(f["suppressed"] for f in findings)
    assert {f["severity"] for f in findings} >= {"critical", "high", "medium", "low"}
    # ... every resource type among the failures, and account results that are no failure.
    assert {f["resource_type"] for f in failures(report)} == set(RESOURCE_TYPES)
    assert {f["status"] for f in report.index["account_findings"]} >= {"FAIL", "PASS"}
    return report


@pytest.fixture(scope="module")
def events(demo_report) -> list[dict[str, Any]]:
    return events_of(demo_report)


def assert_kept(sent: Any, parsed: Any, path: str = "event") -> None:
    """Every key and value sent is in the model's dump: pydantic's default `extra="ignore"` would
    otherwise drop a field the installed schema does not know without a word."""
    if isinstance(sent, dict):
        assert isinstance(parsed, dict), path
        for key, value in sent.items():
            assert key in parsed, f"{path}.{key} is not a field of the OCSF model"
            assert_kept(value, parsed[key], f"{path}.{key}")
    elif isinstance(sent, list):
        assert isinstance(parsed, list) and len(parsed) == len(sent), path
        for index, (a, b) in enumerate(zip(sent, parsed, strict=True)):
            assert_kept(a, b, f"{path}[{index}]")
    else:
        assert sent == parsed, f"{path}: {sent!r} became {parsed!r}"


def validate(event: dict[str, Any]) -> DetectionFinding:
    """Strict validation of the JSON text (no coercion of strings to numbers and the like)."""
    model = DetectionFinding.model_validate_json(json.dumps(event), strict=True)
    assert_kept(event, model.model_dump(mode="json"))
    return model


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------


def test_the_events_stream_one_by_one(demo_report):
    stream = to_ocsf(demo_report)
    assert isinstance(stream, Iterator)  # a generator: the caller writes each and drops it
    first = next(stream)
    assert first["finding_info"]["uid"] == next(demo_report.failures())["finding_id"]


def test_every_demo_finding_is_a_valid_detection_finding(demo_report, events):
    assert len(events) == len(failures(demo_report))
    assert len(events) == len(list(demo_report.findings())) + sum(
        1 for f in demo_report.index["account_findings"] if f["status"] == "FAIL"
    )
    for event in events:
        model = validate(event)
        assert model.class_uid == 2004 and model.category_uid == 2
        assert model.activity_id == 1  # first scan: every finding is new
        assert model.type_uid == model.class_uid * 100 + model.activity_id == 200401
        assert model.metadata.version == py_ocsf_models.OCSF_VERSION == "1.5.0"


def test_values_survive(demo_report, events):
    generated = ms(demo_report.index["generated_at"])
    for finding, event in zip(failures(demo_report), events, strict=True):
        model = validate(event)
        info = model.finding_info
        assert info.uid == finding["finding_id"]
        assert info.title == finding["title"]
        assert info.desc == model.message == finding["message"]
        assert info.analytic.uid == finding["rule_id"] and info.types == [finding["rule_id"]]
        assert model.time == generated
        assert info.first_seen_time == info.created_time == ms(finding["first_seen"])
        assert info.last_seen_time == generated
        assert model.severity_id == SEVERITY_IDS[finding["severity"]]
        assert model.severity == finding["severity"].capitalize()
        assert model.status_code == "FAIL"

        (resource,) = model.resources
        assert resource.uid == finding["resource_arn"]
        assert resource.type == RESOURCE_TYPES[finding["resource_type"]]
        assert resource.name == finding["resource_id"]
        if finding["resource_type"] == "instance":
            assert resource.name == finding["instance_id"]
        assert resource.region == finding["region"] and resource.cloud_partition == "aws"
        assert resource.labels == [f"{k}={v}" for k, v in finding["tags"].items()]
        assert resource.data == {"tags": finding["tags"]}

        assert model.cloud.provider == "AWS" and model.cloud.region == finding["region"]
        assert model.cloud.account.uid == finding["account_id"] == demo.DEMO_ACCOUNT_ID

        assert model.remediation.desc == finding["remediation"] and model.remediation.references == []
        assert model.risk_details == finding["risk"]
        unmapped = event.get("unmapped", {})
        assert unmapped.get("remediation_cli") == (finding["remediation_cli"] or None)
        assert unmapped.get("remediation_pulumi") == (finding["remediation_pulumi"] or None)
        assert unmapped.get("severity_reason") == finding["severity_reason"]
        assert unmapped.get("compliance", {}) == compliance_controls(finding["mappings"])

        product = model.metadata.product
        assert product.name == "ec2-compliance" and product.vendor_name
        assert product.version == importlib.metadata.version("ec2-compliance")
        assert model.metadata.uid == f"{demo_report.index['run_id']}/{finding['finding_id']}"


def test_resource_types_and_names(demo_report, events):
    """One event per failure of each type, its resource typed and named as AWS names it."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        (resource,) = event["resources"]
        by_type.setdefault(resource["type"], []).append(resource)
    assert {kind: len(items) for kind, items in by_type.items()} == {
        RESOURCE_TYPES[kind]: sum(1 for f in failures(demo_report) if f["resource_type"] == kind)
        for kind in RESOURCE_TYPES
    }
    assert all(r["name"].startswith("i-") and ":instance/" in r["uid"] for r in by_type["AWS::EC2::Instance"])
    assert all(
        r["name"].startswith("lt-") and ":launch-template/" in r["uid"] for r in by_type["AWS::EC2::LaunchTemplate"]
    )
    for resource in by_type["AWS::::Account"]:
        assert resource["name"] == demo.DEMO_ACCOUNT_ID
        assert resource["uid"] == f"arn:aws:iam::{demo.DEMO_ACCOUNT_ID}:root"
        assert resource["cloud_partition"] == "aws" and resource["region"] in demo.DEMO_REGIONS


def test_only_failing_account_guardrails_are_events(demo_report):
    account = list(demo_report.index["account_findings"])
    events = events_of(inline(demo_report, findings=[]))
    assert [e["finding_info"]["uid"] for e in events] == [f["finding_id"] for f in account if f["status"] == "FAIL"]
    assert len(events) < len(account)  # the passing region is no finding
    for event in events:
        model = validate(event)
        assert model.status_code == "FAIL" and model.resources[0].type == "AWS::::Account"
    # Skipped and passing results alone: nothing to report.
    quiet = [dict(f, status="SKIPPED") for f in account]
    assert events_of(inline(demo_report, findings=[], account_findings=quiet)) == []
    # A suppressed guardrail failure is a suppressed event, like any finding.
    (suppressed, *_) = events_of(
        inline(
            demo_report,
            findings=[],
            account_findings=[dict(account[0], status="FAIL", suppressed=True, suppression_reason="accepted (SEC-1)")],
        )
    )
    assert (validate(suppressed).status_id, suppressed["status_detail"]) == (3, "accepted (SEC-1)")


def test_every_severity_maps(demo_report):
    seen = {
        f["severity"]: validate(e).severity_id for f, e in zip(failures(demo_report), to_ocsf(demo_report), strict=True)
    }
    assert seen == {s: SEVERITY_IDS[s] for s in seen}
    # The demo has no informational finding; an unknown severity is Other with the source's value.
    finding = next(demo_report.findings())
    for severity, severity_id, caption in (("informational", 1, "Informational"), ("bogus", 99, "bogus")):
        (event,) = events_of(inline(demo_report, findings=[dict(finding, severity=severity)], account_findings=[]))
        model = validate(event)
        assert (model.severity_id, model.severity) == (severity_id, caption)


def test_suppressed_findings_are_suppressed_with_the_reason(demo_report, events):
    suppressed = [(f, e) for f, e in zip(failures(demo_report), events, strict=True) if f["suppressed"]]
    assert {f["rule_id"] for f, _ in suppressed} >= {
        "ssh_open_to_internet",
        "no_public_ip",
        "public_ip_with_instance_profile",
    }
    for finding, event in suppressed:
        model = validate(event)
        assert (model.status_id, model.status) == (3, "Suppressed")
        assert model.status_detail == finding["suppression_reason"] and "SEC-142" in model.status_detail
    for finding, event in zip(failures(demo_report), events, strict=True):
        if not finding["suppressed"]:
            model = validate(event)
            assert (model.status_id, model.status, model.status_detail) == (1, "New", None)


def test_compliance_mappings_go_to_unmapped(demo_report, events):
    by_rule = {f["rule_id"]: e for f, e in zip(failures(demo_report), events, strict=True)}
    assert by_rule["ssh_open_to_internet"]["unmapped"]["compliance"] == {
        "AWS Config Managed Rules": ["restricted-ssh"],
        "AWS Foundational Security Best Practices": ["EC2.13"],
        "CIS AWS Foundations Benchmark v1.4": ["5.2"],
        "CIS AWS Foundations Benchmark v3.0": ["5.2", "5.3"],
        "CIS AWS Foundations Benchmark v4.0.1": ["5.3", "5.4"],
        "Prowler": ["ec2_instance_port_ssh_exposed_to_internet"],
    }
    # termination_protection maps to no control: no compliance entry at all.
    assert "compliance" not in by_rule["termination_protection"]["unmapped"]
    # A guardrail's controls (CIS, FSBP) come through the same way.
    assert by_rule["default_security_group_closed"]["unmapped"]["compliance"][
        "AWS Foundational Security Best Practices"
    ] == ["EC2.2"]


def test_a_finding_seen_before_is_an_update(demo_reports):
    first, second = demo_reports
    assert second.index["previous_run_id"] == first.index["run_id"]
    events = events_of(second)
    assert events and len(events) == len(failures(second))
    first_ids = {f["finding_id"] for f in failures(first)}
    assert {e["resources"][0]["type"] for e in events} == set(RESOURCE_TYPES.values())
    for finding, event in zip(failures(second), events, strict=True):
        model = validate(event)
        assert finding["finding_id"] in first_ids
        assert model.finding_info.uid == finding["finding_id"]
        assert (model.activity_id, model.activity_name, model.type_uid) == (2, "Update", 200402)
        assert model.finding_info.first_seen_time == ms(first.index["generated_at"])
        assert model.time == ms(second.index["generated_at"]) == model.finding_info.first_seen_time + 86_400_000


# ------------------------------------------------------------------------------------------------
# Edges
# ------------------------------------------------------------------------------------------------


def test_an_empty_report_gives_no_events(demo_report):
    assert events_of(inline(demo_report, findings=[], account_findings=[])) == []
    assert events_of(inline(demo_report, findings=None, account_findings=None)) == []
    bare = {"schema_version": 2, "run_id": "r", "generated_at": "2025-01-01T00:00:00Z", "summary": {}, "findings": []}
    assert events_of(load_report(bare, None, "test")) == []


def test_a_schema_1_report_is_refused(demo_report):
    finding = {k: v for k, v in next(demo_report.findings()).items() if k != "finding_id"}
    with pytest.raises(ValueError, match="schema 2"):
        events_of(inline(demo_report, findings=[finding], account_findings=[]))


def test_product_version_falls_back_when_not_installed(demo_report, monkeypatch):
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    (event, *_) = events_of(demo_report)
    assert validate(event).metadata.product.version == "unknown"


def test_times_are_epoch_milliseconds_in_utc():
    document = {
        "run_id": "r",
        "generated_at": "2025-06-01T12:00:00+00:00",
        "account_id": "111122223333",
        "summary": {},
        "findings": [
            {
                "finding_id": "f" * 64,
                "rule_id": "no_public_ip",
                "title": "t",
                "severity": "low",
                "status": "FAIL",
                "suppressed": False,
                "message": "m",
                "tags": {},
                "region": "eu-west-1",
                "resource_type": "instance",
                "resource_id": "i-1",
                "instance_id": "i-1",
                "account_id": None,
                "resource_arn": "arn:aws-cn:ec2:eu-west-1:111122223333:instance/i-1",
                "first_seen": "2025-05-31T12:00:00.250000Z",
            }
        ],
    }
    (event,) = events_of(load_report(document, None, "test"))
    model = validate(event)
    expected = int(datetime(2025, 6, 1, 12, tzinfo=UTC).timestamp()) * 1000
    assert model.time == expected
    assert model.finding_info.first_seen_time == expected - 86_400_000 + 250
    assert model.activity_id == 2
    # The finding's account is null here: the report's account is used.
    assert model.cloud.account.uid == "111122223333"
    assert model.resources[0].cloud_partition == "aws-cn"
    assert model.remediation is None and model.risk_details is None
