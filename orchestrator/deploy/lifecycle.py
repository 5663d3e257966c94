"""Stack operations (preview, up, refresh, destroy, outputs) through the Automation API.

Every engine failure is translated into an OperationFailed with the engine's own error text,
so the CLI can print one clear line, and a lock held by another update gets its own message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from pulumi import automation as auto

from .engine import Engine
from ..errors import OperationFailed
from .progress import ProgressView, op_counts
from .workspace import StackTarget, first_error, open_stack

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "operation": self.operation,
            "ok": self.ok,
            "duration_s": round(self.duration_s, 2),
            "changes": self.changes,
            "outputs": self.outputs,
            "error": self.error,
        }


def plain_outputs(outputs: auto.OutputMap, *, show_secrets: bool = False) -> dict[str, Any]:
    """Output values as plain data; secrets are masked unless explicitly requested."""
    return {
        key: (SECRET_MASK if item.secret and not show_secrets else item.value)
        for key, item in sorted(outputs.items())
    }


def _translate(
    exc: auto.CommandError, target: StackTarget, operation: str, diagnostics: list[str] | None = None
) -> OperationFailed:
    if isinstance(exc, auto.ConcurrentUpdateError):
        return OperationFailed(
            f"stack {target.stack_name!r} is locked by another update in progress; wait for it to finish "
            f"(or, if it crashed, run `pulumi cancel` against {target.backend_url})"
        )
    reason = diagnostics[0] if diagnostics else first_error(exc)
    return OperationFailed(f"{operation} of stack {target.stack_name!r} failed: {reason}")


def run_operation(
    target: StackTarget,
    engine: Engine,
    operation: Operation,
    program: Callable[[], None],
    view: ProgressView,
) -> OperationResult:
    """Run one operation; raises OperationFailed with the engine's reason when it fails."""
    started = time.monotonic()
    view.preview = operation == "preview"
    stack = open_stack(target, engine, program, create=operation in ("preview", "up"))
    try:
        if operation == "preview":
            result = stack.preview(on_event=view, diff=False)
            changes = op_counts(result.change_summary)
            return OperationResult(target.stack_name, operation, True, time.monotonic() - started, changes)
        if operation == "up":
            up = stack.up(on_event=view, show_secrets=False)
            outputs = plain_outputs(up.outputs)
        elif operation == "refresh":
            stack.refresh(on_event=view, show_secrets=False)
            outputs = plain_outputs(stack.outputs())
        else:
            stack.destroy(on_event=view, show_secrets=False)
            outputs = {}
    except auto.CommandError as exc:
        raise _translate(exc, target, operation, view.errors) from None
    return OperationResult(target.stack_name, operation, True, time.monotonic() - started, view.changes, outputs)


def read_outputs(target: StackTarget, engine: Engine, *, show_secrets: bool = False) -> dict[str, Any]:
    """The outputs of an existing stack (no program run)."""
    stack = open_stack(target, engine, _no_program, create=False)
    try:
        return plain_outputs(stack.outputs(), show_secrets=show_secrets)
    except auto.CommandError as exc:
        raise _translate(exc, target, "outputs") from None


def remove_stack(target: StackTarget, engine: Engine) -> None:
    """Delete the stack's history and config (after its resources were destroyed)."""
    stack = open_stack(target, engine, _no_program, create=False)
    try:
        stack.workspace.remove_stack(target.stack_name)
    except auto.CommandError as exc:
        raise _translate(exc, target, "remove") from None


def _no_program() -> None:
    """Selecting a stack for outputs or removal never runs a program."""
