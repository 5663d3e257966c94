"""`ec2c status` rows, without an engine: what one target's row says for each thing that can be
read or go wrong, and that the targets are read side by side but reported in plan order.

The backend reader (`read_stack_state`, tested on real files in test_backend_state.py) is
replaced by a stand-in state; the report fetch is the caller's function, as in the command.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ec2c.orchestrator.deploy.inputs.environments import validate
from ec2c.orchestrator.deploy.inputs.fingerprint import TAG_INPUTS, inputs_fingerprint
from ec2c.orchestrator.deploy.stack.backend_state import BackendReadError, HistoryEntry, StackState
from ec2c.orchestrator.errors import OperationFailed
from ec2c.orchestrator.fleet import status
from ec2c.orchestrator.fleet.status import (
    CODE_CURRENT,
    CODE_OUTDATED,
    CODE_UNKNOWN,
    INPUTS_CHANGED,
    INPUTS_CURRENT,
    INPUTS_UNKNOWN,
    read_all,
    read_target,
)
from ec2c.scanner.storage import ReportReadError

SHA = "c0ffee"
ENGINE = "3.259.0"
ENDED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
SUCCEEDED = HistoryEntry("update", "succeeded", ENDED)


def _target(account_id: str | None = "111111111111", stack: str = "dev") -> SimpleNamespace:
    aws = {"region": "eu-west-1", **({"account_id": account_id} if account_id else {})}
    env = validate({"aws": aws}, name="dev", source="config/dev.yaml")
    return SimpleNamespace(env=env, stack_name=stack)


def _fingerprint() -> str:
    return inputs_fingerprint(_target().env, ENGINE)


def _state(outputs: dict[str, Any], last: HistoryEntry | None = SUCCEEDED, **tags: str) -> StackState:
    return StackState(exists=True, tags=tags, outputs=outputs, last=last, last_up=last)


def _report(**index: Any) -> SimpleNamespace:
    return SimpleNamespace(
        index={"account_id": "222222222222", "generated_at": "2026-03-04T05:00:00Z", "errors": [{}, {}], **index},
        summary={"compliance_rate": 87.5},
    )


OUTPUTS = {"scanner_code_sha256": SHA, "compliance_bucket_name": "reports-bucket", "region": "us-east-1"}


def _read(monkeypatch, state: StackState | Exception, fetch=None, target=None, root: Path = Path("/project")):
    asked: list[tuple[str, str, str]] = []

    def read_stack_state(backend_url: str, project: str, stack: str) -> StackState:
        asked.append((backend_url, project, stack))
        if isinstance(state, Exception):
            raise state
        return state

    monkeypatch.setattr(status, "read_stack_state", read_stack_state)
    fetched: list[tuple[str, str]] = []

    def default_fetch(bucket: str, region: str):
        fetched.append((bucket, region))
        return _report()

    row = read_target(target or _target(), root, ENGINE, SHA, fetch or default_fetch)
    assert asked == [(f"file://{root}/.pulumi-state", "ec2-compliance", row.stack)]
    return row, fetched


def test_a_readable_target_reports_its_update_code_inputs_and_latest_scan(monkeypatch) -> None:
    row, fetched = _read(monkeypatch, _state(OUTPUTS, **{TAG_INPUTS: _fingerprint()}))
    assert fetched == [("reports-bucket", "us-east-1")]
    assert row.exists and row.healthy and row.problem is None
    assert (row.last_result, row.last_update) == ("succeeded", "2026-03-04T05:06:07Z")
    assert (row.code, row.deployed_code_sha256) == (CODE_CURRENT, SHA)
    assert (row.inputs, row.inputs_sha256) == (INPUTS_CURRENT, _fingerprint())
    assert row.account_id == "222222222222"
    assert (row.last_scan, row.compliance_rate, row.scan_errors) == ("2026-03-04T05:00:00Z", 87.5, 2)
    as_json = row.to_dict()
    assert "report" not in as_json and as_json["code"] == CODE_CURRENT
    assert (as_json["inputs"], as_json["inputs_sha256"]) == (INPUTS_CURRENT, _fingerprint())
    target_report = row.as_target_report()
    assert (target_report.env, target_report.stack, target_report.report) == ("dev", "dev", row.report)


def test_other_code_or_inputs_are_outdated_or_changed_and_missing_ones_unknown(monkeypatch) -> None:
    outdated, _ = _read(monkeypatch, _state({**OUTPUTS, "scanner_code_sha256": "beef"}, None, **{TAG_INPUTS: "f00"}))
    assert outdated.code == CODE_OUTDATED and outdated.last_result is None and outdated.last_update is None
    assert (outdated.inputs, outdated.inputs_sha256) == (INPUTS_CHANGED, "f00")
    unknown, _ = _read(monkeypatch, _state({"compliance_bucket_name": "b"}, **{"other:tag": "x"}))
    assert unknown.code == CODE_UNKNOWN and unknown.deployed_code_sha256 is None
    assert (unknown.inputs, unknown.inputs_sha256) == (INPUTS_UNKNOWN, None)


def test_the_environments_region_and_account_fill_in_what_the_stack_and_report_lack(monkeypatch) -> None:
    regions: list[str] = []

    def fetch(bucket: str, region: str):
        regions.append(region)
        return _report(account_id=None)

    failed = HistoryEntry("refresh", "failed", None)
    row, _ = _read(monkeypatch, _state({"compliance_bucket_name": "b"}, failed), fetch=fetch)
    assert regions == ["eu-west-1"]
    assert row.account_id == "111111111111"
    assert (row.last_result, row.last_update) == ("failed", None) and not row.healthy


@pytest.mark.parametrize(
    ("stack", "again"), [("dev", "run `ec2c up --env dev` first"), ("dev-b", "run `ec2c up --env dev --stack dev-b`")]
)
def test_a_missing_stack_says_how_to_create_it_and_reads_no_report(monkeypatch, stack: str, again: str) -> None:
    row, fetched = _read(monkeypatch, StackState(exists=False), target=_target(stack=stack))
    assert (row.exists, fetched) == (False, [])
    assert row.problem is not None and not row.healthy
    assert f"stack organization/ec2-compliance/{stack} does not exist in file:///project/.pulumi-state" in row.problem
    assert again in row.problem


def test_an_unreadable_backend_object_is_the_rows_problem(monkeypatch) -> None:
    error = BackendReadError("s3://state/.pulumi/stacks/ec2-compliance/dev.json: access denied")
    row, fetched = _read(monkeypatch, error)
    assert (row.exists, row.problem, fetched) == (False, str(error), [])


def test_a_relative_file_backend_is_read_under_the_project_without_creating_it(monkeypatch, tmp_path) -> None:
    _read(monkeypatch, StackState(exists=False), root=tmp_path)
    assert not (tmp_path / ".pulumi-state").exists()


def test_a_stack_without_a_bucket_output_has_no_report(monkeypatch) -> None:
    row, fetched = _read(monkeypatch, _state({"scanner_code_sha256": SHA}))
    assert row.exists and fetched == []
    assert row.problem == "the stack has no compliance_bucket_name output"


@pytest.mark.parametrize(
    "error",
    [OperationFailed("access denied to reports-bucket"), ReportReadError("s3://b/reports/latest.json", "not JSON")],
)
def test_an_unreadable_report_is_the_rows_problem(monkeypatch, error: Exception) -> None:
    def fetch(bucket: str, region: str):
        raise error

    row, _ = _read(monkeypatch, _state(OUTPUTS), fetch=fetch)
    assert row.exists and row.code == CODE_CURRENT
    assert row.problem == str(error) and row.report is None and row.last_scan is None


def test_targets_are_read_side_by_side_and_returned_in_plan_order() -> None:
    started = threading.Barrier(3, timeout=10)

    def reader(name: str) -> str:
        started.wait()  # all three at once, or the barrier times out
        return name.upper()

    assert read_all(["a", "b", "c"], reader, workers=3) == ["A", "B", "C"]
    assert read_all([], reader, workers=0) == []
    assert read_all(["x"], str.upper, workers=0) == ["X"]
