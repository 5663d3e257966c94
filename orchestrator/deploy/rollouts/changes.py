"""Which targets of a rollout `up` must run: change-aware rollouts.

A target whose inputs fingerprint (see `fingerprint`) equals the one recorded on its stack by its
last successful `up` is skipped without starting the engine: the backend's files are read
directly (`backend_state`). Anything short of that proof deploys: a new stack, a stack whose last
update failed or never completed, no recorded fingerprint, different inputs, and a fingerprint that
cannot be read (never taken as unchanged). So a failed rollout rerun with the same plan deploys
only what failed or did not start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...errors import OperationFailed
from ..inputs.fingerprint import TAG_INPUTS
from ..stack.backend_state import StackState, read_stack_state
from ..stack.workspace import StackTarget

DRIFT_OPS = ("update", "delete", "replace")
"""What a refresh that found drift reports (the same ops `ec2c drift` shows)."""

REASON_FORCED = "--force"
REASON_UNCHANGED = "unchanged"
UNREADABLE = "fingerprint unreadable"


@dataclass(frozen=True)
class Decision:
    """Whether a target's `up` runs, and why (shown in the rollout's row)."""

    deploy: bool
    reason: str
    exists: bool = True
    unreadable: bool = False


StateReader = Callable[[StackTarget], StackState]


def backend_reader(target: StackTarget) -> StackState:
    """The stack's state read from its backend's files (no engine process)."""
    return read_stack_state(target.backend_url, target.env.project, target.stack_name)


def decide(target: StackTarget, fingerprint: str, read_state: StateReader = backend_reader) -> Decision:
    """Deploy unless the stack's last update succeeded with exactly these inputs."""
    try:
        state = read_state(target)
    except OperationFailed as exc:
        return Decision(True, f"{UNREADABLE} ({exc.message}): treated as changed", unreadable=True)
    if not state.exists:
        return Decision(True, "new stack", exists=False)
    last = state.last_up
    if last is None:
        return Decision(True, "no update recorded")
    if last.result != "succeeded":
        return Decision(True, f"last update {last.result}")
    recorded = state.tags.get(TAG_INPUTS)
    if not recorded:
        return Decision(True, "no inputs fingerprint recorded")
    if recorded != fingerprint:
        return Decision(True, "inputs changed")
    return Decision(False, REASON_UNCHANGED)


def drift_reason(changes: dict[str, int]) -> str | None:
    """`drift: 1 update, 2 delete` when a refresh changed the state, else None."""
    drift = [f"{changes[op]} {op}" for op in DRIFT_OPS if changes.get(op)]
    return f"drift: {', '.join(drift)}" if drift else None
