"""`ec2c status --plan` and `ec2c drift --plan` through typer's CliRunner (the rows the plan's
reading returns are given), and that reading itself (`fleet.plan`): the plan's targets in order,
one engine lookup per plan, each target read by the status or drift reader, the latest report
read from a (moto) bucket.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from ec2c.orchestrator.cli import app
from ec2c.orchestrator.fleet import plan as fleet_plan
from ec2c.orchestrator.fleet.drift import DriftedResource, TargetDrift
from ec2c.orchestrator.fleet.status import TargetStatus
from tests.unit.orchestrator.test_report_env import stored_scan

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config"
PLAN = REPO_CONFIG / "rollouts" / "example.yaml"
MARKUP = "[red]x[/red]"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("COLUMNS", "250")  # rich's console reads it at each print: rows stay on one line
    return CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _cells(output: str, target: str) -> list[str]:
    line = next(line for line in output.splitlines() if f"│ {target} " in line)
    return [cell.strip() for cell in line.split("│")[1:-1]]


class Reader:
    """The plan's reading, replaced: the rows it returns, and what it was asked for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str, rows: list[Any]) -> None:
        self.rows = rows
        self.calls: list[tuple[Path, Path | None, int]] = []
        monkeypatch.setattr(fleet_plan, name, self._read)

    def _read(self, plan: Path, config_dir: Path | None, workers: int) -> list[Any]:
        self.calls.append((plan, config_dir, workers))
        return list(self.rows)


HEALTHY = TargetStatus(
    "staging",
    "staging",
    "222222222222",
    "eu-west-1",
    exists=True,
    last_update="2026-03-04T05:06:07Z",
    last_result="succeeded",
    code="current",
    inputs="current",
    last_scan="2026-03-04T06:00:00Z",
    compliance_rate=87.5,
    scan_errors=0,
)


def test_status_of_healthy_targets_is_a_table_and_exit_0(runner, monkeypatch):
    reader = Reader(monkeypatch, "read_plan", [HEALTHY])
    result = runner.invoke(app, ["status", "--plan", "plan.yaml", "--workers", "3", "--config-dir", "cfg"])
    assert result.exit_code == 0, result.output
    assert reader.calls == [(Path("plan.yaml"), Path("cfg"), 3)]
    assert "1 targets" in result.output
    assert _cells(result.output, "staging/staging") == [
        "staging/staging",
        "222222222222",
        "eu-west-1",
        "succeeded",
        "03-04 05:06",
        "current",
        "current",
        "03-04 06:00",
        "87.5%",
        "0",
    ]
    assert result.stdout == ""


def test_status_names_missing_failed_and_unreadable_targets_and_exits_1(runner, monkeypatch):
    rows = [
        HEALTHY,
        TargetStatus(
            "prod", "prod-euw1", None, "eu-west-1", exists=True, last_result="failed", code="outdated", inputs="changed"
        ),
        TargetStatus(
            "prod",
            "prod-use1",
            "333333333333",
            "us-east-1",
            problem=f"stack organization/ec2-compliance/prod-use1 does not exist; {MARKUP}",
        ),
        TargetStatus("prod", "prod-apse2", None, "ap-southeast-2", exists=True),
    ]
    reader = Reader(monkeypatch, "read_plan", rows)
    result = runner.invoke(app, ["status", "--plan", "plan.yaml"])
    assert result.exit_code == 1
    assert reader.calls == [(Path("plan.yaml"), None, 8)]
    assert "4 targets" in result.output
    assert _cells(result.output, "prod/prod-euw1") == [
        "prod/prod-euw1",
        "-",
        "eu-west-1",
        "failed",
        "-",
        "outdated",
        "changed",
        "-",
        "n/a",
        "-",
    ]
    assert _cells(result.output, "prod/prod-use1")[3] == "missing"
    assert _cells(result.output, "prod/prod-apse2")[3:8] == ["exists", "-", "unknown", "unknown", "-"]
    out = _flat(result.output)
    assert f"prod/prod-use1: stack organization/ec2-compliance/prod-use1 does not exist; {MARKUP}" in out
    assert "error: 2 of 4 targets unreadable or failed: prod/prod-euw1, prod/prod-use1" in out


def test_status_as_json_is_every_row_and_still_fails_on_a_bad_target(runner, monkeypatch):
    failed = TargetStatus("prod", "prod-euw1", None, "eu-west-1", exists=True, last_result="failed")
    Reader(monkeypatch, "read_plan", [HEALTHY, failed])
    result = runner.invoke(app, ["status", "--plan", "plan.yaml", "--json"])
    assert result.exit_code == 1
    listed = json.loads(result.stdout)
    assert [(row["env"], row["stack"], row["last_result"]) for row in listed] == [
        ("staging", "staging", "succeeded"),
        ("prod", "prod-euw1", "failed"),
    ]
    assert listed[0]["compliance_rate"] == 87.5 and "report" not in listed[0]
    assert "1 of 2 targets unreadable or failed: prod/prod-euw1" in result.stderr


def _drifted() -> TargetDrift:
    resources = [
        DriftedResource(
            "urn:pulumi:prod::ec2-compliance::aws:s3/bucket:Bucket::reports",
            "aws:s3/bucket:Bucket",
            "update",
            ["tags.Owner", "versioning"],
        ),
        DriftedResource(
            f"urn:pulumi:prod::ec2-compliance::aws:sns/topic:Topic::{MARKUP}", "aws:sns/topic:Topic", "delete", []
        ),
    ]
    return TargetDrift("prod", "prod-euw1", "eu-west-1", resources)


def test_drift_lists_each_drifted_resource_and_exits_1_naming_drifted_and_unread_targets(runner, monkeypatch):
    rows = [
        TargetDrift("staging", "staging", "eu-west-1"),
        _drifted(),
        TargetDrift("prod", "prod-use1", "us-east-1", problem=f"stack not found {MARKUP}"),
    ]
    reader = Reader(monkeypatch, "read_drift", rows)
    result = runner.invoke(app, ["drift", "--plan", "plan.yaml", "--workers", "2"])
    assert result.exit_code == 1
    assert reader.calls == [(Path("plan.yaml"), None, 2)]
    assert "drift of 3 targets" in result.output
    assert _cells(result.output, "staging/staging") == ["staging/staging", "eu-west-1", "none", "", ""]
    lines = result.output.splitlines()
    first = lines.index(next(line for line in lines if "│ prod/prod-euw1 " in line))
    assert _cells(result.output, "prod/prod-euw1")[2:4] == [
        "update reports (aws:s3/bucket:Bucket)",
        "tags.Owner, versioning",
    ]
    assert [cell.strip() for cell in lines[first + 1].split("│")[1:-1]] == [
        "",
        "",
        f"delete {MARKUP} (aws:sns/topic:Topic)",
        "-",
        "",
    ]
    assert _cells(result.output, "prod/prod-use1")[4] == f"stack not found {MARKUP}"
    assert "error: drift in prod/prod-euw1; not read: prod/prod-use1" in _flat(result.output)


def test_drift_only_or_unread_only_says_just_that(runner, monkeypatch):
    Reader(monkeypatch, "read_drift", [_drifted()])
    result = runner.invoke(app, ["drift", "--plan", "plan.yaml", "--json"])
    assert result.exit_code == 1
    (row,) = json.loads(result.stdout)
    assert row["stack"] == "prod-euw1" and row["problem"] is None
    assert [(r["op"], r["changed"]) for r in row["resources"]] == [
        ("update", ["tags.Owner", "versioning"]),
        ("delete", []),
    ]
    assert "error: drift in prod/prod-euw1" in result.stderr and "not read" not in result.stderr

    Reader(monkeypatch, "read_drift", [TargetDrift("prod", "prod-use1", "us-east-1", problem="gone")])
    result = runner.invoke(app, ["drift", "--plan", "plan.yaml", "--json"])
    assert result.exit_code == 1
    assert "error: not read: prod/prod-use1" in result.stderr and "drift in" not in result.stderr


def test_no_drift_anywhere_is_exit_0(runner, monkeypatch):
    Reader(monkeypatch, "read_drift", [TargetDrift("staging", "staging", "eu-west-1")])
    result = runner.invoke(app, ["drift", "--plan", "plan.yaml", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"env": "staging", "stack": "staging", "region": "eu-west-1", "resources": [], "problem": None}
    ]


EXPECTED_TARGETS = [
    ("staging", "staging", "eu-west-1"),
    ("prod", "prod-euw1", "eu-west-1"),
    ("prod", "prod-use1", "us-east-1"),
    ("prod", "prod-apse2", "ap-southeast-2"),
]


def _described(targets: list[Any]) -> list[tuple[str, str, str]]:
    return [(t.env.name, t.stack_name, t.env.aws.region) for t in targets]


def test_a_plans_targets_are_every_wave_in_order_with_their_overrides():
    config, targets = fleet_plan.plan_targets(PLAN, REPO_CONFIG)
    assert config.path == REPO_CONFIG
    assert _described(targets) == EXPECTED_TARGETS
    assert targets[-1].env.aws.account_id == "444444444444"


class Engine:
    version = "3.259.0"


def test_read_plan_asks_for_the_engine_once_and_reads_each_target(monkeypatch):
    engines: list[int] = []
    monkeypatch.setattr(fleet_plan, "require_engine", lambda: engines.append(1) or Engine())
    monkeypatch.setattr(fleet_plan, "scanner_sha256", lambda: "c0ffee")
    session = object()
    monkeypatch.setattr(fleet_plan, "checked_session", lambda: session)
    read: list[tuple[Any, ...]] = []

    def read_target(target, root, engine_version, local, fetch):
        read.append((target, root, engine_version, local, callable(fetch)))
        return f"status of {target.stack_name}"

    monkeypatch.setattr(fleet_plan, "read_target", read_target)
    rows = fleet_plan.read_plan(PLAN, REPO_CONFIG, workers=2)
    assert rows == [f"status of {stack}" for _, stack, _ in EXPECTED_TARGETS]
    assert engines == [1]
    assert sorted((t.stack_name, root, version, local, fetch) for t, root, version, local, fetch in read) == sorted(
        (stack, REPO_CONFIG.parent, "3.259.0", "c0ffee", True) for _, stack, _ in EXPECTED_TARGETS
    )


def test_read_drift_detects_each_target_with_one_engine(monkeypatch):
    engine = Engine()
    monkeypatch.setattr(fleet_plan, "require_engine", lambda: engine)
    detected: list[tuple[str, Path, Any]] = []

    def detect(target, root, given):
        detected.append((target.stack_name, root, given))
        return TargetDrift(target.env.name, target.stack_name, target.env.aws.region)

    monkeypatch.setattr(fleet_plan, "detect", detect)
    rows = fleet_plan.read_drift(PLAN, REPO_CONFIG, workers=4)
    assert [(r.env, r.stack, r.region) for r in rows] == EXPECTED_TARGETS
    assert sorted(detected) == sorted((stack, REPO_CONFIG.parent, engine) for _, stack, _ in EXPECTED_TARGETS)


def test_an_estate_report_holds_every_target_of_the_plan(monkeypatch):
    asked: list[tuple[Path, Path | None, int]] = []
    rows = [HEALTHY, TargetStatus("prod", "prod-use1", None, "us-east-1", problem="no report yet")]

    def read_plan(plan, config_dir, workers):
        asked.append((plan, config_dir, workers))
        return rows

    monkeypatch.setattr(fleet_plan, "read_plan", read_plan)
    estate = fleet_plan.estate_report(PLAN, None, 3)
    assert asked == [(PLAN, None, 3)]
    assert [(t.env, t.stack, t.account_id, t.region, t.reason) for t in estate.targets] == [
        ("staging", "staging", "222222222222", "eu-west-1", None),
        ("prod", "prod-use1", None, "us-east-1", "no report yet"),
    ]
    assert estate.generated_at.endswith("Z")


BUCKET = "reports-dev"


def test_the_latest_reader_reads_a_buckets_latest_report(mocked):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    stored = stored_scan(instances=2)
    fetch = fleet_plan.latest_reader(boto3.session.Session())
    report = fetch(BUCKET, "us-east-1")
    assert report.index["generated_at"] == stored.index["generated_at"]
    assert report.summary == stored.summary and report.summary["total_instances"] == 2


def test_the_latest_reader_says_a_bucket_without_a_report_has_no_scan_yet(mocked):
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    fetch = fleet_plan.latest_reader(boto3.session.Session())
    with pytest.raises(fleet_plan.ReportReadError) as caught:  # the scanner's error, as plan.py names it
        fetch(BUCKET, "us-east-1")
    message = str(caught.value)
    assert f"s3://{BUCKET}/" in message
    assert "no report yet; the analyzer has not completed a scan" in message
    assert "`ec2c run --env <env>` starts one now" in message
