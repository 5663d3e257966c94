"""Change-aware rollouts without an engine: the inputs fingerprint, what counts as unchanged, and
which operations `roll_out` runs for each target (`--force`, `--refresh`, an unreadable state).

The backend's state is given as `StackState` values (tests/unit/orchestrator/test_backend_state.py
reads real files; tests/engine runs the whole path on the real CLI).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ec2c.orchestrator.deploy.inputs import fingerprint
from ec2c.orchestrator.deploy.inputs.environments import ConfigDir, validate
from ec2c.orchestrator.deploy.inputs.fingerprint import TAG_INPUTS, inputs_document, inputs_fingerprint
from ec2c.orchestrator.deploy.rollouts import operations
from ec2c.orchestrator.deploy.rollouts.changes import Decision, decide, drift_reason
from ec2c.orchestrator.deploy.rollouts.rollout import Plan, PlannedTarget
from ec2c.orchestrator.deploy.stack.backend_state import BackendReadError, HistoryEntry, StackState
from ec2c.orchestrator.deploy.stack.lifecycle import OperationResult
from ec2c.orchestrator.deploy.stack.workspace import StackTarget

WHEN = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
OK_UP = HistoryEntry("update", "succeeded", WHEN)


def _env(**overrides):
    document = {"aws": {"region": "eu-west-1", "account_id": "111111111111"}, **overrides}
    return validate(document, name="app", source="config/app.yaml")


def _target(tmp_path: Path, env=None) -> StackTarget:
    env = env or _env()
    return StackTarget(env=env, stack_name=env.stack_name, root=tmp_path)


def _state(tags: dict[str, str] | None = None, last_up: HistoryEntry | None = OK_UP) -> StackState:
    return StackState(exists=True, tags=tags or {}, last=last_up, last_up=last_up)


def test_the_fingerprint_covers_the_environment_code_program_and_engine(monkeypatch):
    base = inputs_fingerprint(_env(), "3.259.0")
    assert base == inputs_fingerprint(_env(), "3.259.0")
    assert len(base) == 64 and int(base, 16) >= 0
    assert inputs_fingerprint(_env(schedule="rate(2 hours)"), "3.259.0") != base
    assert inputs_fingerprint(_env(policy={"rules": {"imdsv2_required": {"enabled": False}}}), "3.259.0") != base
    assert inputs_fingerprint(_env(), "3.274.1") != base
    assert inputs_fingerprint(_env(program="tests.engine.programs:fake_analyzer"), "3.259.0") != base
    document = inputs_document(_env(), "3.259.0")
    assert set(document) == {
        "format",
        "environment",
        "scanner_code_sha256",
        "program_sha256",
        "engine",
        "ec2c",
        "pulumi_sdk",
        "pulumi_aws",
    }
    assert "source" not in document["environment"]
    monkeypatch.setattr(fingerprint, "scanner_sha256", lambda: "0" * 64)
    assert inputs_fingerprint(_env(), "3.259.0") != base


def test_the_program_hash_follows_its_module_and_names_a_missing_one(tmp_path, monkeypatch):
    module = tmp_path / "team_program.py"
    module.write_text("def build(env):\n    return lambda: None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = fingerprint.program_sha256("team_program:build")
    fingerprint.program_sha256.cache_clear()
    module.write_text("def build(env):\n    return lambda: print('changed')\n")
    assert fingerprint.program_sha256("team_program:build") != first
    assert fingerprint.program_sha256("no_such_module_here:build") != fingerprint.program_sha256(
        "no_such_module_either:build"
    )
    assert fingerprint.program_sha256(".relative:build")
    fingerprint.program_sha256.cache_clear()


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (StackState(exists=False), Decision(True, "new stack", exists=False)),
        (_state(last_up=None), Decision(True, "no update recorded")),
        (_state(last_up=HistoryEntry("update", "failed", WHEN)), Decision(True, "last update failed")),
        (_state(last_up=HistoryEntry("update", "in-progress", None)), Decision(True, "last update in-progress")),
        (_state(), Decision(True, "no inputs fingerprint recorded")),
        (_state({TAG_INPUTS: "f" * 64}), Decision(True, "inputs changed")),
        (_state({TAG_INPUTS: "FINGERPRINT"}), Decision(False, "unchanged")),
    ],
)
def test_only_a_matching_fingerprint_of_a_successful_update_is_unchanged(tmp_path, state, expected):
    assert decide(_target(tmp_path), "FINGERPRINT", lambda target: state) == expected


def test_an_unreadable_state_is_a_change_never_unchanged(tmp_path):
    def unreadable(target):
        raise BackendReadError("s3://state/.pulumi/stacks/ec2-compliance/app.json: AccessDenied")

    decision = decide(_target(tmp_path), "FINGERPRINT", unreadable)
    assert decision.deploy and decision.unreadable
    assert decision.reason == (
        "fingerprint unreadable (s3://state/.pulumi/stacks/ec2-compliance/app.json: AccessDenied): treated as changed"
    )


def test_drift_is_what_a_refresh_updated_deleted_or_replaced():
    assert drift_reason({"same": 4, "refresh": 4}) is None
    assert drift_reason({"same": 3, "update": 1, "delete": 2}) == "drift: 1 update, 2 delete"


class Engine:
    version = "3.259.0"


def _plan(tmp_path: Path, stacks: list[str]) -> tuple[Plan, ConfigDir]:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / "app.yaml").write_text("aws: {region: eu-west-1, account_id: '111111111111'}\n")
    config = ConfigDir(folder)
    targets = [PlannedTarget("all", config.load("app", {"stack": name})) for name in stacks]
    return Plan(fail_fast=False, waves=[("all", 4, targets)]), config


def _roll(monkeypatch, tmp_path, states, *, refresh_changes=None, operation="up", **options):
    plan, config = _plan(tmp_path, list(states))
    ran: list[tuple[str, str]] = []

    def run_operation(target, engine, op, program, view):
        ran.append((target.stack_name, op))
        changes = (refresh_changes or {}).get(target.stack_name, {}) if op == "refresh" else {"create": 1}
        return OperationResult(target.stack_name, op, True, 0.0, changes)

    def read_state(target):
        state = states[target.stack_name]
        if isinstance(state, Exception):
            raise state
        return state

    monkeypatch.setattr(operations, "run_operation", run_operation)
    report = operations.roll_out(
        plan, operation, config, Engine(), lambda t: None, lambda env: lambda: None, read_state=read_state, **options
    )
    return report, sorted(ran)


def _recorded(tmp_path: Path, stack: str) -> dict[str, str]:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / "app.yaml").write_text("aws: {region: eu-west-1, account_id: '111111111111'}\n")
    return {TAG_INPUTS: inputs_fingerprint(ConfigDir(folder).load("app", {"stack": stack}), "3.259.0")}


def test_a_rollout_deploys_only_what_changed(monkeypatch, tmp_path):
    states = {
        "same": _state(_recorded(tmp_path, "same")),
        "edited": _state({TAG_INPUTS: "0" * 64}),
        "fresh": StackState(exists=False),
        "broken": BackendReadError("file:///state/.pulumi/stacks/ec2-compliance/broken.json: not JSON"),
    }
    report, ran = _roll(monkeypatch, tmp_path, states)
    rows = {o.stack: (o.status, o.reason) for o in report.outcomes}
    assert rows["same"] == ("unchanged", "unchanged")
    assert rows["edited"] == ("ok", "inputs changed")
    assert rows["fresh"] == ("ok", "new stack")
    assert rows["broken"][0] == "ok" and rows["broken"][1].startswith("fingerprint unreadable (file:///state")
    assert ran == [("broken", "up"), ("edited", "up"), ("fresh", "up")]
    assert report.counts() == {"deployed": 3, "unchanged": 1, "failed": 0, "not started": 0}


def test_force_deploys_every_target(monkeypatch, tmp_path):
    states = {"same": _state(_recorded(tmp_path, "same")), "other": _state(_recorded(tmp_path, "other"))}
    report, ran = _roll(monkeypatch, tmp_path, states, force=True)
    assert ran == [("other", "up"), ("same", "up")]
    assert {o.reason for o in report.outcomes} == {"--force"}


def test_refresh_first_turns_drift_into_a_change(monkeypatch, tmp_path):
    states = {
        "drifted": _state(_recorded(tmp_path, "drifted")),
        "steady": _state(_recorded(tmp_path, "steady")),
        "fresh": StackState(exists=False),
    }
    report, ran = _roll(monkeypatch, tmp_path, states, refresh=True, refresh_changes={"drifted": {"update": 2}})
    rows = {o.stack: (o.status, o.reason) for o in report.outcomes}
    assert rows == {
        "drifted": ("ok", "drift: 2 update"),
        "steady": ("unchanged", "unchanged"),
        "fresh": ("ok", "new stack"),
    }
    assert ran == [("drifted", "refresh"), ("drifted", "up"), ("fresh", "up"), ("steady", "refresh")]


def test_other_operations_run_on_every_target(monkeypatch, tmp_path):
    states = {"same": _state(_recorded(tmp_path, "same"))}
    report, ran = _roll(monkeypatch, tmp_path, states, operation="preview")
    assert ran == [("same", "preview")] and report.outcomes[0].status == "ok"
