"""`ec2c stacks / sweep / cancel` decisions, without an engine: which stacks a sweep removes,
keeps or leaves for later, and when a lock may be released.

The backend listing and the destroy are replaced by recorded stand-ins (the real ones run the
pulumi CLI, see tests/engine); what is checked here is the decision made for each stack.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ec2c.orchestrator.deploy.ci import inventory
from ec2c.orchestrator.deploy.ci.inventory import (
    KIND_EPHEMERAL,
    KIND_OTHER,
    StackRow,
    SweepOutcome,
    cancel_lock,
    kind_of,
    sweep,
)
from ec2c.orchestrator.deploy.inputs.environments import validate
from ec2c.orchestrator.deploy.stack.locks import LockInfo
from ec2c.orchestrator.errors import BadInput, OperationFailed

NOW = datetime.now(UTC)
HOST = socket.gethostname()
DEAD_PID = 2**22 + 12345
"""Above the largest pid_max Linux allows (2**22): no process can have it."""


def _env():
    return validate({"aws": {"region": "eu-west-1"}}, name="dev", source="config/dev.yaml")


def _lock(pid: int, *, host: str = HOST, age_s: float = 60) -> LockInfo:
    return LockInfo(key="k", pid=pid, username="ci", hostname=host, started=NOW - timedelta(seconds=age_s))


def _row(name: str, *, age_s: float | None, **fields) -> StackRow:
    created = None if age_s is None else NOW - timedelta(seconds=age_s)
    return StackRow(name=name, kind=kind_of(_env(), name), created=created, **fields)


def test_a_row_ages_from_its_birth_else_its_last_update() -> None:
    assert _row("dev-a1b2c3", age_s=600).age_s(NOW) == pytest.approx(600)
    assert StackRow("x", KIND_OTHER, last_update=NOW - timedelta(seconds=30)).age_s(NOW) == pytest.approx(30)
    assert StackRow("x", KIND_OTHER).age_s(NOW) is None


def test_a_row_serializes_with_utc_times_and_its_locks() -> None:
    born = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    row = StackRow(
        "dev-a1b2c3",
        KIND_EPHEMERAL,
        created=born,
        created_by="ci@h",
        resources=3,
        locks=[LockInfo("k", 7, "ci", "elsewhere", born)],
    )
    assert row.to_dict() == {
        "name": "dev-a1b2c3",
        "kind": KIND_EPHEMERAL,
        "created": "2026-01-02T03:04:05Z",
        "created_by": "ci@h",
        "last_update": None,
        "last_result": None,
        "resources": 3,
        "locks": [{"pid": 7, "host": "elsewhere", "user": "ci", "since": "2026-01-02T03:04:05Z", "alive": None}],
    }


def test_the_creator_runs_here_only_when_its_pid_lives_on_this_host() -> None:
    assert _row("dev-a1b2c3", age_s=1, created_by=f"ci@{HOST}", creator_pid=os.getpid()).creator_running_here
    assert not _row("dev-a1b2c3", age_s=1, created_by=f"ci@{HOST}", creator_pid=DEAD_PID).creator_running_here
    assert not _row("dev-a1b2c3", age_s=1, created_by="ci@elsewhere", creator_pid=os.getpid()).creator_running_here
    assert not _row("dev-a1b2c3", age_s=1, created_by=None, creator_pid=os.getpid()).creator_running_here
    assert not _row("dev-a1b2c3", age_s=1, created_by=f"ci@{HOST}").creator_running_here


def test_an_outcome_remains_when_the_stack_is_still_there() -> None:
    assert SweepOutcome("s", 1.4, "kept").remains and SweepOutcome("s", None, "failed").remains
    assert not SweepOutcome("s", 1, "removed").remains and not SweepOutcome("s", 1, "young").remains
    assert SweepOutcome("s", 12.6, "removed", "x").to_dict() == {
        "stack": "s",
        "age_s": 13,
        "action": "removed",
        "detail": "x",
    }
    assert SweepOutcome("s", None, "kept").to_dict()["age_s"] is None


class Backend:
    """The listing `sweep` sees, and the stacks it asked to destroy."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, rows: list[StackRow], fail: str | None = None) -> None:
        self.destroyed: list[tuple[str, float]] = []
        self.fail = fail
        self.locked = {row.name for row in rows if row.locks}
        monkeypatch.setattr(inventory, "list_stacks", lambda env, root, engine: list(rows))
        monkeypatch.setattr(inventory, "destroy_and_remove", self._destroy)

    def _destroy(self, target, engine, program, view, *, max_age_s: float) -> bool:
        if target.stack_name == self.fail:
            raise OperationFailed("destroy failed: access denied")
        self.destroyed.append((target.stack_name, max_age_s))
        return target.stack_name in self.locked


def _sweep(tmp_path: Path, **options) -> dict[str, SweepOutcome]:
    options.setdefault("dry_run", False)
    outcomes = sweep(
        _env(), tmp_path, engine=None, program=lambda: None, older_than_s=3600, view_factory=lambda: None, **options
    )
    return {outcome.name: outcome for outcome in outcomes}


def test_sweep_removes_only_old_ephemeral_stacks_nobody_holds(monkeypatch, tmp_path) -> None:
    rows = [
        _row("dev", age_s=10**6),
        _row("other", age_s=10**6),
        _row("dev-old001", age_s=7200),
        _row("dev-lockd0", age_s=7200, locks=[_lock(DEAD_PID)]),
        _row("dev-young0", age_s=60),
        _row("dev-runs00", age_s=7200, created_by=f"ci@{HOST}", creator_pid=os.getpid()),
        _row("dev-livelk", age_s=7200, locks=[_lock(os.getpid())]),
        _row("dev-remote", age_s=7200, locks=[_lock(1, host="elsewhere", age_s=60)]),
        _row("dev-nodate", age_s=None),
    ]
    backend = Backend(monkeypatch, rows)
    outcomes = _sweep(tmp_path)
    assert set(outcomes) == {r.name for r in rows} - {"dev", "other"}
    assert sorted(backend.destroyed) == [("dev-lockd0", 3600), ("dev-old001", 3600)]
    assert (outcomes["dev-old001"].action, outcomes["dev-old001"].detail) == ("removed", "")
    assert (outcomes["dev-lockd0"].action, outcomes["dev-lockd0"].detail) == ("removed", "broke a stale lock")
    assert (outcomes["dev-young0"].action, outcomes["dev-young0"].detail) == ("young", "younger than 3600s")
    assert outcomes["dev-runs00"].action == "kept" and f"pid {os.getpid()}" in outcomes["dev-runs00"].detail
    assert outcomes["dev-livelk"].detail.startswith("locked: pid ") and "alive" in outcomes["dev-livelk"].detail
    assert outcomes["dev-remote"].detail.startswith("locked: ") and "on another host" in outcomes["dev-remote"].detail
    assert outcomes["dev-nodate"].action == "kept" and "name it with --stack" in outcomes["dev-nodate"].detail


def test_a_dry_run_says_what_it_would_remove_and_destroys_nothing(monkeypatch, tmp_path) -> None:
    backend = Backend(
        monkeypatch, [_row("dev-old001", age_s=7200), _row("dev-lockd0", age_s=7200, locks=[_lock(DEAD_PID)])]
    )
    outcomes = _sweep(tmp_path, dry_run=True)
    assert backend.destroyed == []
    assert (outcomes["dev-old001"].action, outcomes["dev-old001"].detail) == ("would remove", "")
    assert (outcomes["dev-lockd0"].action, outcomes["dev-lockd0"].detail) == ("would remove", "breaking a stale lock")


def test_a_failed_destroy_is_reported_and_the_sweep_goes_on(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, [_row("dev-bad000", age_s=7200), _row("dev-old001", age_s=7200)], fail="dev-bad000")
    outcomes = _sweep(tmp_path)
    assert (outcomes["dev-bad000"].action, outcomes["dev-bad000"].detail) == ("failed", "destroy failed: access denied")
    assert outcomes["dev-bad000"].remains
    assert backend.destroyed == [("dev-old001", 3600)]


def test_a_named_stack_of_unknown_age_is_removed(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, [_row("dev-nodate", age_s=None), _row("dev-old001", age_s=7200)])
    outcomes = _sweep(tmp_path, only="dev-nodate")
    assert list(outcomes) == ["dev-nodate"] and outcomes["dev-nodate"].action == "removed"
    assert backend.destroyed == [("dev-nodate", 3600)]


@pytest.mark.parametrize(
    ("only", "message"),
    [("dev-absent", "--stack: no stack 'dev-absent' in file://"), ("dev", "'dev' is not an ephemeral stack of 'dev'")],
)
def test_sweep_refuses_a_named_stack_it_must_not_touch(monkeypatch, tmp_path, only: str, message: str) -> None:
    backend = Backend(monkeypatch, [_row("dev", age_s=10**6)])
    with pytest.raises(BadInput, match=message):
        _sweep(tmp_path, only=only)
    assert backend.destroyed == []


class Locks:
    """The lock files `cancel_lock` reads, and whether it broke them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, locks: list[LockInfo]) -> None:
        self.broken = False
        monkeypatch.setattr(inventory, "store_for", lambda url: url)
        monkeypatch.setattr(inventory, "read_locks", lambda store, project, stack: list(locks))
        monkeypatch.setattr(inventory, "break_lock", self._break)

    def _break(self, target, engine) -> None:
        self.broken = True


def _target(tmp_path: Path):
    return inventory.StackTarget(env=_env(), stack_name="dev-a1b2c3", root=tmp_path)


def test_a_dead_holders_lock_is_released(monkeypatch, tmp_path) -> None:
    locks = Locks(monkeypatch, [_lock(DEAD_PID)])
    assert [lock.pid for lock in cancel_lock(_target(tmp_path), None, force=False)] == [DEAD_PID]
    assert locks.broken


def test_a_live_holder_is_refused_unless_forced(monkeypatch, tmp_path) -> None:
    locks = Locks(monkeypatch, [_lock(os.getpid())])
    with pytest.raises(OperationFailed, match=r"organization/ec2-compliance/dev-a1b2c3 is locked by a running update"):
        cancel_lock(_target(tmp_path), None, force=False)
    assert not locks.broken
    cancel_lock(_target(tmp_path), None, force=True)
    assert locks.broken


def test_an_unlocked_stack_is_left_alone(monkeypatch, tmp_path) -> None:
    locks = Locks(monkeypatch, [])
    assert cancel_lock(_target(tmp_path), None, force=False) == []
    assert not locks.broken
