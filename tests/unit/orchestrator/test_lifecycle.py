"""Stack operations, without an engine: what each operation asks of the stack, what it returns,
and how each engine refusal (a lock, a wrong passphrase, a signal) reads.

`open_stack` and the lock files are replaced by recorded stand-ins; tests/engine runs the same
operations on the real CLI.
"""

from __future__ import annotations

import io
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult
from rich.console import Console

from ec2c.orchestrator.deploy.inputs.environments import validate
from ec2c.orchestrator.deploy.inputs.fingerprint import TAG_INPUTS, inputs_fingerprint
from ec2c.orchestrator.deploy.stack import lifecycle, workspace
from ec2c.orchestrator.deploy.stack.lifecycle import (
    OperationResult,
    clear_pending_operations,
    destroy_and_remove,
    read_outputs,
    release_stale_lock,
    remove_stack,
    run_operation,
)
from ec2c.orchestrator.deploy.stack.locks import LockInfo
from ec2c.orchestrator.deploy.stack.progress import ProgressView
from ec2c.orchestrator.deploy.stack.workspace import StackTarget
from ec2c.orchestrator.engine.supervisor import SUPERVISOR, Interrupted
from ec2c.orchestrator.errors import OperationFailed

ENGINE = SimpleNamespace(version="3.259.0")
"""What run_operation reads of the engine (the version, for the inputs fingerprint)."""
DEAD_PID = 2**22 + 12345
"""Above the largest pid_max Linux allows (2**22): no process can have it."""


def _error(stderr: str, kind: type[auto.CommandError] = auto.CommandError) -> auto.CommandError:
    return kind(CommandResult("", stderr, 255))


class Stack:
    """Records what was asked of it; `fail` maps a method name to the engine error it raises."""

    def __init__(self, fail: dict[str, auto.CommandError] | None = None, pending: list[dict] | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail or {}
        self.state = {"resources": [], "pending_operations": pending or []}
        self.imported: dict[str, Any] | None = None
        self.tags: dict[str, str] = {}
        self.workspace = SimpleNamespace(remove_stack=lambda name: self._call("remove_stack"), set_tag=self._set_tag)

    def _set_tag(self, name: str, key: str, value: str) -> None:
        self._call("set_tag")
        self.tags[key] = value

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    def preview(self, on_event, diff: bool) -> Any:
        self._call("preview")
        return SimpleNamespace(change_summary={auto.OpType.CREATE: 2, auto.OpType.SAME: 5})

    def up(self, on_event, show_secrets: bool) -> Any:
        self._call("up")
        return SimpleNamespace(outputs={"bucket": auto.OutputValue("b", False), "token": auto.OutputValue("t", True)})

    def refresh(self, on_event, show_secrets: bool) -> None:
        self._call("refresh")

    def destroy(self, on_event, show_secrets: bool) -> None:
        self._call("destroy")

    def outputs(self) -> dict[str, auto.OutputValue]:
        self._call("outputs")
        return {"region": auto.OutputValue("eu-west-1", False), "token": auto.OutputValue("t", True)}

    def cancel(self) -> None:
        self._call("cancel")

    def export_stack(self) -> Any:
        self.calls.append("export")
        return SimpleNamespace(deployment=dict(self.state))

    def import_stack(self, deployment: Any) -> None:
        self.calls.append("import")
        self.imported = deployment.deployment


class Backend:
    """The stack every `open_stack` returns, and the lock files of the backend."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, stack: Stack, locks: list[LockInfo] | None = None) -> None:
        self.stack = stack
        self.opened: list[bool] = []
        self.locks = locks or []
        monkeypatch.setattr(lifecycle, "open_stack", self._open)
        for module in (lifecycle, workspace):
            monkeypatch.setattr(module, "store_for", lambda url: url)
            monkeypatch.setattr(module, "read_locks", lambda store, project, name: list(self.locks))

    def _open(self, target, engine, program, *, create: bool, tags=None) -> Stack:
        self.opened.append(create)
        return self.stack


@pytest.fixture(autouse=True)
def fresh_supervisor():
    SUPERVISOR.reset()
    yield
    SUPERVISOR.reset()


def _target(tmp_path: Path) -> StackTarget:
    env = validate({"aws": {"region": "eu-west-1"}}, name="dev", source="config/dev.yaml")
    return StackTarget(env=env, stack_name="dev", root=tmp_path)


def _view() -> ProgressView:
    return ProgressView(Console(file=io.StringIO(), width=200, color_system=None))


def _lock(pid: int) -> LockInfo:
    return LockInfo("k", pid, "ci", socket.gethostname(), datetime(2026, 1, 1, tzinfo=UTC))


def test_a_preview_counts_the_planned_changes(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, Stack())
    view = _view()
    result = run_operation(_target(tmp_path), None, "preview", lambda: None, view)
    assert (result.ok, result.changes, result.outputs) == (True, {"create": 2, "same": 5}, {})
    assert view.preview and backend.opened == [True] and backend.stack.calls == ["preview"]


def test_up_returns_the_outputs_with_secrets_masked(monkeypatch, tmp_path) -> None:
    Backend(monkeypatch, Stack())
    view = _view()
    view.changes = {"create": 3}
    result = run_operation(_target(tmp_path), ENGINE, "up", lambda: None, view)
    assert (result.changes, result.outputs) == ({"create": 3}, {"bucket": "b", "token": "[secret]"})
    assert result.to_dict()["operation"] == "up" and result.to_dict()["error"] is None


def test_a_successful_up_records_its_inputs_fingerprint_on_the_stack(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, Stack())
    target = _target(tmp_path)
    result = run_operation(target, ENGINE, "up", lambda: None, _view())
    assert backend.stack.calls == ["up", "set_tag"]
    assert backend.stack.tags == {TAG_INPUTS: inputs_fingerprint(target.env, "3.259.0")}
    assert result.notes == []


def test_an_unrecorded_fingerprint_is_a_note_not_a_failed_update(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, Stack(fail={"set_tag": _error("error: could not write tags")}))
    result = run_operation(_target(tmp_path), ENGINE, "up", lambda: None, _view())
    assert result.ok and backend.stack.tags == {}
    assert result.notes == [
        "the inputs fingerprint of organization/ec2-compliance/dev was not recorded (could not write tags); "
        "the next rollout deploys it again"
    ]
    assert result.to_dict()["notes"] == result.notes


def test_refresh_reads_the_outputs_of_an_existing_stack(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, Stack())
    result = run_operation(_target(tmp_path), None, "refresh", lambda: None, _view())
    assert backend.opened == [False] and backend.stack.calls == ["refresh", "outputs"]
    assert result.outputs == {"region": "eu-west-1", "token": "[secret]"}


def test_destroy_clears_pending_operations_first(monkeypatch, tmp_path, capsys) -> None:
    pending = [{"resource": {"urn": "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b"}, "type": "creating"}, {}]
    backend = Backend(monkeypatch, Stack(pending=pending))
    result = run_operation(_target(tmp_path), None, "destroy", lambda: None, _view())
    assert backend.stack.calls == ["export", "import", "destroy"]
    assert backend.stack.imported["pending_operations"] == [] and result.outputs == {}
    err = " ".join(capsys.readouterr().err.split())
    assert "cleared 2 pending operation(s) on organization/ec2-compliance/dev" in err
    assert "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b, ?" in err


def test_no_pending_operations_means_no_import(tmp_path) -> None:
    stack = Stack()
    assert clear_pending_operations(stack, _target(tmp_path)) == []
    assert stack.calls == ["export"]


def test_an_engine_failure_reads_as_its_first_diagnostic_else_its_error_line(monkeypatch, tmp_path) -> None:
    Backend(monkeypatch, Stack(fail={"up": _error("error: update failed")}))
    view = _view()
    with pytest.raises(OperationFailed, match=r"^up of stack 'dev' failed: update failed$"):
        run_operation(_target(tmp_path), ENGINE, "up", lambda: None, view)
    view.errors.append("creating S3 Bucket: AccessDenied")
    with pytest.raises(OperationFailed, match=r"^up of stack 'dev' failed: creating S3 Bucket: AccessDenied$"):
        run_operation(_target(tmp_path), ENGINE, "up", lambda: None, view)


def test_a_wrong_passphrase_says_which_to_set_and_that_nothing_changed(monkeypatch, tmp_path) -> None:
    Backend(monkeypatch, Stack(fail={"preview": _error("error: failed to decrypt: incorrect passphrase")}))
    with pytest.raises(OperationFailed) as failed:
        run_operation(_target(tmp_path), None, "preview", lambda: None, _view())
    assert "the passphrase does not decrypt this stack" in failed.value.message
    assert failed.value.message.endswith("rerun `ec2c preview --env dev --stack dev` (nothing was changed)")


def test_a_locked_stack_names_the_holder_and_how_to_release_it(monkeypatch, tmp_path) -> None:
    locked = _error("error: the stack is currently locked", auto.ConcurrentUpdateError)
    Backend(monkeypatch, Stack(fail={"up": locked}), locks=[_lock(os.getpid())])
    with pytest.raises(OperationFailed) as failed:
        run_operation(_target(tmp_path), ENGINE, "up", lambda: None, _view())
    assert f"is locked by another update (pid {os.getpid()} on " in failed.value.message
    assert failed.value.message.endswith("run `ec2c cancel --env dev --stack dev`")


def test_no_operation_starts_after_a_signal(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, Stack())
    SUPERVISOR.first = 2
    with pytest.raises(
        Interrupted, match="up of stack organization/ec2-compliance/dev not started: interrupted by SIGINT"
    ):
        run_operation(_target(tmp_path), ENGINE, "up", lambda: None, _view())
    assert backend.opened == []


def test_a_cancelled_operation_releases_the_lock_its_engine_left(monkeypatch, tmp_path) -> None:
    stack = Stack(fail={"up": _error("error: signal: terminated")})
    backend = Backend(monkeypatch, stack, locks=[_lock(DEAD_PID)])
    original = stack.up

    def up(on_event, show_secrets):
        SUPERVISOR.first, SUPERVISOR.engine_killed = 15, True
        return original(on_event, show_secrets)

    stack.up = up
    with pytest.raises(Interrupted) as stopped:
        run_operation(_target(tmp_path), ENGINE, "up", lambda: None, _view())
    assert stopped.value.exit_code == 143
    assert stopped.value.message == (
        "up of stack organization/ec2-compliance/dev cancelled by SIGTERM; "
        "the engine was stopped after the grace period; its lock was released"
    )
    assert backend.stack.calls == ["up", "cancel"]
    backend.locks = []
    SUPERVISOR.engine_killed = False
    assert lifecycle.interrupted(_target(tmp_path), None, "preview").message.endswith("SIGTERM; no lock is left")


def test_a_live_lock_is_never_broken(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, Stack(), locks=[_lock(DEAD_PID), _lock(os.getpid())])
    with pytest.raises(OperationFailed, match="is locked by another update"):
        release_stale_lock(_target(tmp_path), None)
    assert backend.stack.calls == []


def test_a_failed_cancel_is_reported(monkeypatch, tmp_path) -> None:
    Backend(monkeypatch, Stack(fail={"cancel": _error("error: access denied")}), locks=[_lock(DEAD_PID)])
    with pytest.raises(OperationFailed, match=r"^cancel of stack 'dev' failed: access denied$"):
        release_stale_lock(_target(tmp_path), None)


def test_outputs_are_masked_unless_asked_and_a_failure_is_one_line(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, Stack())
    assert read_outputs(_target(tmp_path), None) == {"region": "eu-west-1", "token": "[secret]"}
    assert read_outputs(_target(tmp_path), None, show_secrets=True)["token"] == "t"
    assert backend.opened == [False, False]
    backend.stack.fail["outputs"] = _error("error: no outputs")
    with pytest.raises(OperationFailed, match=r"^outputs of stack 'dev' failed: no outputs$"):
        read_outputs(_target(tmp_path), None)


def test_destroy_and_remove_leaves_nothing_behind(monkeypatch, tmp_path) -> None:
    target = _target(tmp_path)
    target.work_dir.mkdir(parents=True)
    backend = Backend(monkeypatch, Stack(), locks=[_lock(DEAD_PID)])
    assert destroy_and_remove(target, None, lambda: None, _view()) is True
    assert backend.stack.calls == ["cancel", "export", "destroy", "remove_stack"]
    assert not target.work_dir.exists()
    backend.locks = []
    assert destroy_and_remove(target, None, lambda: None, _view()) is False


def test_a_stack_that_cannot_be_removed_keeps_its_work_dir(monkeypatch, tmp_path) -> None:
    target = _target(tmp_path)
    target.work_dir.mkdir(parents=True)
    Backend(monkeypatch, Stack(fail={"remove_stack": _error("error: stack still has resources")}))
    with pytest.raises(OperationFailed, match=r"^remove of stack 'dev' failed: stack still has resources$"):
        remove_stack(target, None)
    assert target.work_dir.is_dir()


def test_an_operation_result_rounds_its_duration() -> None:
    assert OperationResult("dev", "up", True, 1.23456).to_dict()["duration_s"] == 1.23
