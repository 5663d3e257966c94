"""Stack operations (preview, up, refresh, destroy, outputs) through the Automation API.

Every engine failure is translated into an OperationFailed with the engine's own error text,
so the CLI can print one clear line, and a lock held by another update gets its own message.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pulumi import automation as auto

from ...console import err
from ...engine.pulumi_cli import Engine
from ...engine.supervisor import SUPERVISOR, Interrupted, signal_name
from ...errors import OperationFailed
from ..inputs.fingerprint import TAG_INPUTS, inputs_fingerprint
from .locks import read_locks, store_for
from .progress import ProgressView, op_counts
from .workspace import StackTarget, first_error, lock_message, open_stack, qualified_name

Operation = Literal["preview", "up", "refresh", "destroy"]
SECRET_MASK = "[secret]"


@dataclass
class OperationResult:
    """What one operation did to one stack; JSON-ready for `--json` and rollout summaries."""

    stack: str
    operation: str
    ok: bool
    duration_s: float
    changes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "operation": self.operation,
            "ok": self.ok,
            "duration_s": round(self.duration_s, 2),
            "changes": self.changes,
            "outputs": self.outputs,
            "error": self.error,
            "notes": self.notes,
        }


def plain_outputs(outputs: auto.OutputMap, *, show_secrets: bool = False) -> dict[str, Any]:
    """Output values as plain data; secrets are masked unless explicitly requested."""
    return {
        key: (SECRET_MASK if item.secret and not show_secrets else item.value) for key, item in sorted(outputs.items())
    }


def _translate(
    exc: auto.CommandError, target: StackTarget, operation: str, diagnostics: list[str] | None = None
) -> OperationFailed:
    if isinstance(exc, auto.ConcurrentUpdateError):
        return OperationFailed(lock_message(target))
    reason = diagnostics[0] if diagnostics else first_error(exc)
    if "incorrect passphrase" in str(exc):
        return OperationFailed(
            f"{operation} of stack {qualified_name(target)} in {target.backend_url} failed: the passphrase "
            "does not decrypt this stack; set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the "
            f"one it was created with and rerun `ec2c {operation} --env {target.env.name} --stack {target.stack_name}`"
            " (nothing was changed)"
        )
    return OperationFailed(f"{operation} of stack {target.stack_name!r} failed: {reason}")


def run_operation(
    target: StackTarget,
    engine: Engine,
    operation: Operation,
    program: Callable[[], None],
    view: ProgressView,
    *,
    tags: dict[str, str] | None = None,
) -> OperationResult:
    """Run one operation; raises OperationFailed with the engine's reason, Interrupted after a signal."""
    SUPERVISOR.check(f"{operation} of stack {qualified_name(target)}")
    started = time.monotonic()
    notes: list[str] = []
    view.preview = operation == "preview"
    stack = open_stack(target, engine, program, create=operation in ("preview", "up"), tags=tags)
    try:
        if operation == "preview":
            result = stack.preview(on_event=view, diff=False)
            changes = op_counts(result.change_summary)
            return OperationResult(target.stack_name, operation, True, time.monotonic() - started, changes)
        if operation == "up":
            up = stack.up(on_event=view, show_secrets=False)
            outputs = plain_outputs(up.outputs)
            notes += record_inputs(stack, target, engine)
        elif operation == "refresh":
            stack.refresh(on_event=view, show_secrets=False)
            outputs = plain_outputs(stack.outputs())
        else:
            clear_pending_operations(stack, target)
            stack.destroy(on_event=view, show_secrets=False)
            outputs = {}
    except auto.CommandError as exc:
        if SUPERVISOR.interrupted:
            raise interrupted(target, engine, operation) from None
        raise _translate(exc, target, operation, view.errors) from None
    return OperationResult(
        target.stack_name, operation, True, time.monotonic() - started, view.changes, outputs, notes=notes
    )


def record_inputs(stack: auto.Stack, target: StackTarget, engine: Engine) -> list[str]:
    """Tag the stack with the inputs fingerprint of the update that just succeeded, so the next
    rollout can skip it unchanged; returns a note when that failed. A failure here never fails
    the update: the next rollout finds no (or an older) fingerprint and deploys the target again,
    which is safe (a signal that stops the tagging ends here too)."""
    fingerprint = inputs_fingerprint(target.env, engine.version)
    try:
        stack.workspace.set_tag(target.stack_name, TAG_INPUTS, fingerprint)
    except auto.CommandError as exc:
        return [
            f"the inputs fingerprint of {qualified_name(target)} was not recorded ({first_error(exc)}); "
            "the next rollout deploys it again"
        ]
    return []


def interrupted(target: StackTarget, engine: Engine, operation: str) -> Interrupted:
    """After a cancelled operation: release a lock its (killed) engine left, say what happened."""
    with SUPERVISOR.teardown():
        released = release_stale_lock(target, engine)
    detail = "the engine was stopped after the grace period; " if SUPERVISOR.engine_killed else ""
    lock = "its lock was released" if released else "no lock is left"
    return SUPERVISOR.error(
        f"{operation} of stack {qualified_name(target)} cancelled by {signal_name(SUPERVISOR.first or 2)}; "
        f"{detail}{lock}"
    )


def release_stale_lock(target: StackTarget, engine: Engine, max_age_s: float | None = None) -> bool:
    """`pulumi cancel` when every lock on the stack is stale (dead holder, or older than `max_age_s`).

    `pulumi cancel` on a DIY backend deletes every lock file of the stack, so it must never run
    while a live update holds one.
    """
    locks = read_locks(store_for(target.backend_url), target.env.project, target.stack_name)
    if not locks:
        return False
    if not all(lock.is_stale(max_age_s) for lock in locks):
        raise OperationFailed(lock_message(target))
    break_lock(target, engine)
    return True


def break_lock(target: StackTarget, engine: Engine) -> None:
    """`pulumi cancel`: the engine's own way to delete a stack's lock files."""
    stack = open_stack(target, engine, no_program, create=False)
    try:
        stack.cancel()
    except auto.CommandError as exc:
        raise _translate(exc, target, "cancel") from None


def clear_pending_operations(stack: auto.Stack, target: StackTarget) -> list[str]:
    """Drop the pending operations an interrupted update recorded, so destroy and up can proceed.

    The engine at v3.259 offers `refresh --clear-pending-creates` for creates only; export ->
    drop `pending_operations` -> import covers every kind. A pending create may have made a real
    resource the state no longer tracks, so each one is named on the terminal.
    """
    deployment = stack.export_stack()
    state = dict(deployment.deployment or {})
    pending = state.get("pending_operations") or []
    if not pending:
        return []
    urns = [str(op.get("resource", {}).get("urn", "?")) for op in pending]
    state["pending_operations"] = []
    deployment.deployment = state
    stack.import_stack(deployment)
    err.print(
        f"cleared {len(urns)} pending operation(s) on {qualified_name(target)}; "
        "check that these do not exist unmanaged: " + ", ".join(urns),
        markup=False,
    )
    return urns


def read_outputs(target: StackTarget, engine: Engine, *, show_secrets: bool = False) -> dict[str, Any]:
    """The outputs of an existing stack (no program run)."""
    stack = open_stack(target, engine, no_program, create=False)
    try:
        return plain_outputs(stack.outputs(), show_secrets=show_secrets)
    except auto.CommandError as exc:
        raise _translate(exc, target, "outputs") from None


def remove_stack(target: StackTarget, engine: Engine) -> None:
    """Delete the stack's history and config (after its resources were destroyed), and its work dir."""
    stack = open_stack(target, engine, no_program, create=False)
    try:
        stack.workspace.remove_stack(target.stack_name)
    except auto.CommandError as exc:
        raise _translate(exc, target, "remove") from None
    shutil.rmtree(target.work_dir, ignore_errors=True)


def destroy_and_remove(
    target: StackTarget,
    engine: Engine,
    program: Callable[[], None],
    view: ProgressView,
    *,
    max_age_s: float | None = None,
) -> bool:
    """A stack that must not outlive its run, gone: a stale lock broken (see `release_stale_lock`),
    pending operations cleared, resources destroyed, stack and work dir removed. Returns whether
    a lock had to be broken; raises OperationFailed when any step fails."""
    broke = release_stale_lock(target, engine, max_age_s=max_age_s)
    run_operation(target, engine, "destroy", program, view)
    remove_stack(target, engine)
    return broke


def no_program() -> None:
    """Selecting a stack for outputs or removal never runs a program."""
