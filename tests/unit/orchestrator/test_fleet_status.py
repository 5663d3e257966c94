"""`ec2c status` rows, without an engine: what one target's row says for each thing that can be
read or go wrong, and that the targets are read side by side but reported in plan order.

`open_stack` (the engine) is replaced by a stand-in stack; the report fetch is the caller's
function, as in the command.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult

from ec2c.orchestrator.deploy.environments import validate
from ec2c.orchestrator.errors import OperationFailed
from ec2c.orchestrator.fleet import status
from ec2c.orchestrator.fleet.status import CODE_CURRENT, CODE_OUTDATED, CODE_UNKNOWN, read_all, read_target
from ec2c.scanner.storage import ReportReadError

SHA = "c0ffee"
ENDED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _target(account_id: str | None = "111111111111") -> SimpleNamespace:
    aws = {"region": "eu-west-1", **({"account_id": account_id} if account_id else {})}
    env = validate({"aws": aws}, name="dev", source="config/dev.yaml")
    return SimpleNamespace(env=env, stack_name="dev")


class Stack:
    """What `read_target` asks of a selected stack."""

    def __init__(self, outputs: dict[str, Any], history: list[Any]) -> None:
        self._outputs = {key: auto.OutputValue(value, secret=False) for key, value in outputs.items()}
        self._history = history

    def history(self, page_size: int, show_secrets: bool) -> list[Any]:
        assert (page_size, show_secrets) == (1, False)
        return self._history

    def outputs(self) -> dict[str, auto.OutputValue]:
        return self._outputs


def _report(**index: Any) -> SimpleNamespace:
    return SimpleNamespace(
        index={"account_id": "222222222222", "generated_at": "2026-03-04T05:00:00Z", "errors": [{}, {}], **index},
        summary={"compliance_rate": 87.5},
    )


OUTPUTS = {"scanner_code_sha256": SHA, "compliance_bucket_name": "reports-bucket", "region": "us-east-1"}


def _read(monkeypatch, opened: Any, fetch=None, target=None):
    def open_stack(stack_target, engine, program, *, create: bool):
        assert create is False and stack_target.stack_name == "dev"
        if isinstance(opened, BaseException):
            raise opened
        return opened

    monkeypatch.setattr(status, "open_stack", open_stack)
    fetched: list[tuple[str, str]] = []

    def default_fetch(bucket: str, region: str):
        fetched.append((bucket, region))
        return _report()

    row = read_target(target or _target(), root=None, engine=None, local_sha256=SHA, fetch=fetch or default_fetch)
    return row, fetched


def test_a_readable_target_reports_its_update_code_and_latest_scan(monkeypatch) -> None:
    stack = Stack(OUTPUTS, [SimpleNamespace(result="succeeded", end_time=ENDED)])
    row, fetched = _read(monkeypatch, stack)
    assert fetched == [("reports-bucket", "us-east-1")]
    assert row.exists and row.healthy and row.problem is None
    assert (row.last_result, row.last_update) == ("succeeded", ENDED.isoformat())
    assert (row.code, row.deployed_code_sha256) == (CODE_CURRENT, SHA)
    assert row.account_id == "222222222222"
    assert (row.last_scan, row.compliance_rate, row.scan_errors) == ("2026-03-04T05:00:00Z", 87.5, 2)
    assert "report" not in row.to_dict() and row.to_dict()["code"] == CODE_CURRENT
    target_report = row.as_target_report()
    assert (target_report.env, target_report.stack, target_report.report) == ("dev", "dev", row.report)


def test_a_scanner_from_another_checkout_is_outdated_and_a_missing_hash_unknown(monkeypatch) -> None:
    outdated, _ = _read(monkeypatch, Stack({**OUTPUTS, "scanner_code_sha256": "beef"}, []))
    assert outdated.code == CODE_OUTDATED and outdated.last_result is None and outdated.last_update is None
    unknown, _ = _read(monkeypatch, Stack({"compliance_bucket_name": "b"}, []))
    assert unknown.code == CODE_UNKNOWN and unknown.deployed_code_sha256 is None


def test_the_environments_region_and_account_fill_in_what_the_stack_and_report_lack(monkeypatch) -> None:
    regions: list[str] = []

    def fetch(bucket: str, region: str):
        regions.append(region)
        return _report(account_id=None)

    history = [SimpleNamespace(result="failed", end_time=None)]
    row, _ = _read(monkeypatch, Stack({"compliance_bucket_name": "b"}, history), fetch=fetch)
    assert regions == ["eu-west-1"]
    assert row.account_id == "111111111111"
    assert row.last_update is None and not row.healthy


@pytest.mark.parametrize(
    ("opened", "problem"),
    [
        (OperationFailed("no pulumi CLI found"), "no pulumi CLI found"),
        (
            auto.CommandError(CommandResult("", "error: no stack named 'dev' found\n", 255)),
            "no stack named 'dev' found",
        ),
    ],
)
def test_a_stack_that_cannot_be_opened_says_why(monkeypatch, opened: BaseException, problem: str) -> None:
    row, fetched = _read(monkeypatch, opened)
    assert (row.exists, row.problem, fetched) == (False, problem, [])
    assert not row.healthy


def test_a_stack_without_a_bucket_output_has_no_report(monkeypatch) -> None:
    row, fetched = _read(monkeypatch, Stack({"scanner_code_sha256": SHA}, []))
    assert row.exists and fetched == []
    assert row.problem == "the stack has no compliance_bucket_name output"


@pytest.mark.parametrize(
    "error",
    [OperationFailed("access denied to reports-bucket"), ReportReadError("s3://b/reports/latest.json", "not JSON")],
)
def test_an_unreadable_report_is_the_rows_problem(monkeypatch, error: Exception) -> None:
    def fetch(bucket: str, region: str):
        raise error

    row, _ = _read(monkeypatch, Stack(OUTPUTS, []), fetch=fetch)
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
