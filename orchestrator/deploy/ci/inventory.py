"""What an environment's backend holds, and cleaning up what crashed runs left: stacks, sweep, cancel.

A SIGKILLed CI job leaves an ephemeral stack, maybe locked, maybe with pending operations.
`list_stacks` shows every stack with its birth (tags written at creation), last update, lock
holder and whether that holder still runs; `sweep` destroys and removes ephemeral stacks past an
age, breaking only locks that are provably stale and never touching the environment's own stack.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from ...engine.pulumi_cli import Engine
from ...errors import BadInput, OperationFailed
from ..inputs.environments import Environment
from ..stack.lifecycle import break_lock, destroy_and_remove
from ..stack.locks import LockInfo, checkpoint_written, pid_alive, read_locks, store_for
from ..stack.progress import ProgressView
from ..stack.workspace import StackTarget, first_error, qualified_name, workspace_options
from .ephemeral import TAG_CREATED_AT, TAG_CREATED_BY, TAG_CREATOR_PID

KIND_ENVIRONMENT = "environment"
KIND_EPHEMERAL = "ephemeral"
KIND_OTHER = "other"
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LISTING_STACK = "_inventory"


def parse_duration(text: str) -> float:
    """`30m`, `2h`, `1h30m`, `0s` -> seconds; anything else is bad input."""
    value = text.strip().lower()
    if not value or _DURATION.sub("", value):
        raise BadInput(f"--older-than: expected a duration such as 30m, 2h, 1d or 0s, got {text!r}")
    return float(sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(value)))


@dataclass
class StackRow:
    """One stack of the backend, as `ec2c stacks` shows it."""

    name: str
    kind: str
    created: datetime | None = None
    created_by: str | None = None
    creator_pid: int | None = None
    last_update: datetime | None = None
    last_result: str | None = None
    resources: int | None = None
    locks: list[LockInfo] = field(default_factory=list)

    def age_s(self, now: datetime) -> float | None:
        born = self.created or self.last_update
        return None if born is None else (now - born).total_seconds()

    @property
    def creator_running_here(self) -> bool:
        """The run that made it is still alive on this host (its teardown is still to come)."""
        if self.creator_pid is None or not self.created_by:
            return False
        return self.created_by.endswith(f"@{socket.gethostname()}") and pid_alive(self.creator_pid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "created": _iso(self.created),
            "created_by": self.created_by,
            "last_update": _iso(self.last_update),
            "last_result": self.last_result,
            "resources": self.resources,
            "locks": [
                {
                    "pid": lock.pid,
                    "host": lock.hostname,
                    "user": lock.username,
                    "since": _iso(lock.started),
                    "alive": lock.alive,
                }
                for lock in self.locks
            ],
        }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def kind_of(env: Environment, name: str) -> str:
    if name == env.stack_name:
        return KIND_ENVIRONMENT
    if re.fullmatch(re.escape(env.name) + r"-[a-z0-9]{6}", name):
        return KIND_EPHEMERAL
    return KIND_OTHER


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _time(value: object) -> datetime | None:
    """A time from the engine's history or a stack tag, aware (a zoneless one taken as UTC); None
    for one that is no ISO 8601 time: tags can be set by hand (`pulumi stack tag set`), and a bad
    one leaves the birth to the next source, never a crash of the whole listing."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _engine_json(workspace: auto.LocalWorkspace, args: list[str]) -> Any:
    result = workspace.pulumi_command.run(args, workspace.work_dir, workspace.env_vars)
    return json.loads(result.stdout or "null")


def list_stacks(env: Environment, root: Path, engine: Engine) -> list[StackRow]:
    """Every stack of the environment's project in its backend, with birth, last update and locks."""
    listing = StackTarget(env=env, stack_name=LISTING_STACK, root=root)
    workspace = auto.LocalWorkspace(**_options(listing, engine))
    try:
        summaries = workspace.list_stacks()
    except auto.CommandError as exc:
        raise OperationFailed(f"cannot list the stacks in {listing.backend_url}: {first_error(exc)}") from None
    store = store_for(listing.backend_url)

    def describe(summary: auto.StackSummary) -> StackRow:
        row = StackRow(
            name=summary.name.split("/")[-1],
            kind=kind_of(env, summary.name.split("/")[-1]),
            last_update=_aware(summary.last_update),
            resources=summary.resource_count,
        )
        tags = _engine_json(workspace, ["stack", "tag", "ls", "--json", "--stack", summary.name]) or {}
        history = _engine_json(workspace, ["stack", "history", "--json", "--stack", summary.name]) or []
        if history:
            row.last_result = history[0].get("result")
            row.created = _time(history[-1].get("startTime"))
        row.created = _time(tags.get(TAG_CREATED_AT)) or row.created
        if row.created is None:
            row.created = checkpoint_written(store, env.project, row.name)
        row.created_by = tags.get(TAG_CREATED_BY)
        if str(tags.get(TAG_CREATOR_PID, "")).isdigit():
            row.creator_pid = int(tags[TAG_CREATOR_PID])
        row.locks = read_locks(store, env.project, row.name)
        return row

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            rows = list(pool.map(describe, summaries))
    except auto.CommandError as exc:
        raise OperationFailed(f"cannot read the stacks in {listing.backend_url}: {first_error(exc)}") from None
    return sorted(rows, key=lambda r: (r.kind != KIND_ENVIRONMENT, r.name))


def _options(target: StackTarget, engine: Engine) -> dict[str, Any]:
    opts = workspace_options(target, engine)
    return {
        "work_dir": opts.work_dir,
        "pulumi_command": opts.pulumi_command,
        "project_settings": opts.project_settings,
        "env_vars": opts.env_vars,
    }


@dataclass
class SweepOutcome:
    name: str
    age_s: float | None
    action: str
    detail: str = ""

    @property
    def remains(self) -> bool:
        """A stack that was due and is still there."""
        return self.action in ("kept", "failed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.name,
            "age_s": None if self.age_s is None else round(self.age_s),
            "action": self.action,
            "detail": self.detail,
        }


def sweep(
    env: Environment,
    root: Path,
    engine: Engine,
    program: Callable[[], None],
    *,
    older_than_s: float,
    dry_run: bool,
    only: str | None = None,
    view_factory: Callable[[], ProgressView],
) -> list[SweepOutcome]:
    """Destroy and remove ephemeral stacks of `env` older than the threshold.

    Kept, and reported: younger stacks; stacks whose creating run is still alive on this host (its
    own teardown is coming); stacks locked by a live update; stacks of unknown age, unless named
    with `only` (a threshold cannot be checked against an age no one knows). A lock is broken
    only when its holder is dead on this host, or (holders elsewhere, e.g. S3 backends) older
    than the threshold.
    """
    now = datetime.now(UTC)
    rows = list_stacks(env, root, engine)
    if only is not None:
        row = next((r for r in rows if r.name == only), None)
        if row is None:
            raise BadInput(f"--stack: no stack {only!r} in {StackTarget(env, only, root).backend_url}")
        if row.kind != KIND_EPHEMERAL:
            raise BadInput(f"--stack: {only!r} is not an ephemeral stack of {env.name!r}; sweep never touches it")
        rows = [row]
    outcomes = []
    for row in (r for r in rows if r.kind == KIND_EPHEMERAL):
        age = row.age_s(now)
        outcome = SweepOutcome(row.name, age, "kept")
        live_locks = [lock for lock in row.locks if not lock.is_stale(older_than_s)]
        if age is None and only is None:
            outcome.detail = "age unknown (no creation tag, history or readable checkpoint); name it with --stack"
        elif age is not None and age < older_than_s:
            outcome.action, outcome.detail = "young", f"younger than {older_than_s:.0f}s"
        elif row.creator_running_here:
            outcome.detail = f"its run (pid {row.creator_pid}) is still going"
        elif live_locks:
            outcome.detail = "locked: " + "; ".join(lock.describe() for lock in live_locks)
        elif dry_run:
            outcome.action = "would remove"
            outcome.detail = "breaking a stale lock" if row.locks else ""
        else:
            _remove(StackTarget(env, row.name, root), engine, program, view_factory, older_than_s, outcome)
        outcomes.append(outcome)
    return outcomes


def _remove(
    target: StackTarget,
    engine: Engine,
    program: Callable[[], None],
    view_factory: Callable[[], ProgressView],
    older_than_s: float,
    outcome: SweepOutcome,
) -> None:
    try:
        broke = destroy_and_remove(target, engine, program, view_factory(), max_age_s=older_than_s)
    except OperationFailed as exc:
        outcome.action, outcome.detail = "failed", exc.message
        return
    outcome.action = "removed"
    outcome.detail = "broke a stale lock" if broke else ""


def cancel_lock(target: StackTarget, engine: Engine, *, force: bool) -> list[LockInfo]:
    """Release the stack's lock; a holder alive on this host is refused unless forced."""
    locks = read_locks(store_for(target.backend_url), target.env.project, target.stack_name)
    alive = [lock for lock in locks if lock.alive]
    if alive and not force:
        raise OperationFailed(
            f"stack {qualified_name(target)} is locked by a running update ("
            + "; ".join(lock.describe() for lock in alive)
            + "); stop it first, or pass --force"
        )
    if locks:
        break_lock(target, engine)
    return locks
