"""The stack of an environment: which one a command means, and the operations run on it.

Each function takes what the command line was given (an environment name, a stack name or none,
a config folder or none) and returns typed results; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...engine.pulumi_cli import Engine, require_engine
from ...engine.supervisor import SUPERVISOR
from ...errors import OperationFailed
from ..inputs.environments import ConfigDir, Environment, locate_config_dir
from ..inputs.fingerprint import inputs_fingerprint
from ..stack.lifecycle import Operation, OperationResult, read_outputs, run_operation
from ..stack.progress import ProgressView
from ..stack.workspace import StackTarget
from .changes import REASON_FORCED, StateReader, backend_reader, decide, drift_reason
from .rollout import Plan, PlannedTarget, RolloutReport, TargetFailed, TargetRun, execute


@dataclass(frozen=True)
class EnvironmentStack:
    """An environment loaded from its config folder, and the stack a command means."""

    config: ConfigDir
    environment: Environment
    target: StackTarget


def environment_stack(env_name: str, stack: str | None, config_dir: Path | None) -> EnvironmentStack:
    """The environment `env_name` of the config folder, and its stack (`stack`, else its own)."""
    config = locate_config_dir(config_dir)
    environment = config.load(env_name)
    return EnvironmentStack(config, environment, stack_target(config, environment, stack))


def stack_target(config: ConfigDir, environment: Environment, stack: str | None) -> StackTarget:
    """Where `environment`'s stack `stack` (default: its own) lives."""
    return StackTarget(env=environment, stack_name=stack or environment.stack_name, root=config.root)


def stack_outputs(env_name: str, stack: str | None, config_dir: Path | None) -> tuple[dict[str, Any], Environment]:
    """A deployed stack's outputs and its environment (for commands that read what it made)."""
    resolved = environment_stack(env_name, stack, config_dir)
    return read_outputs(resolved.target, require_engine()), resolved.environment


def run_stack_operation(
    operation: Operation, resolved: EnvironmentStack, program: Callable[[], None], view: ProgressView, engine: Engine
) -> OperationResult:
    """`operation` on the stack, its events shown by `view`; an interruption says how to recover."""
    env, target = resolved.environment, resolved.target
    SUPERVISOR.recovery = (
        f"ec2c cancel --env {env.name} --stack {target.stack_name}`, then `ec2c {operation} --env {env.name} "
        f"--stack {target.stack_name}"
    )
    return run_operation(target, engine, operation, program, view)


def roll_out(
    plan: Plan,
    operation: Operation,
    config: ConfigDir,
    engine: Engine,
    view: Callable[[PlannedTarget], ProgressView],
    program_for: Callable[[Environment], Callable[[], None]],
    *,
    force: bool = False,
    refresh: bool = False,
    read_state: StateReader = backend_reader,
) -> RolloutReport:
    """Every target of `plan`, wave after wave, each in its own workspace with the program
    `program_for` its environment; `view(target)` shows one target's events. A signal stops new
    targets from starting (`SUPERVISOR.reason`).

    For `up`, a target whose inputs are those of its last successful update is left alone
    (`changes.decide`) unless `force`; `refresh` refreshes each deployed target first, so drift
    counts as a change.
    """
    programs = {id(t): program_for(t.env) for _, _, ts in plan.waves for t in ts}

    def run_one(target: PlannedTarget, op: Operation) -> TargetRun:
        stack_target = StackTarget(env=target.env, stack_name=target.stack_name, root=config.root)
        program = programs[id(target)]

        def run(what: Operation, reason: str | None = None) -> OperationResult:
            try:
                return run_operation(stack_target, engine, what, program, view(target))
            except OperationFailed as exc:
                raise TargetFailed(exc.message, reason) from None

        if op != "up":
            return TargetRun(run(op))
        if force:
            return TargetRun(run("up", REASON_FORCED), REASON_FORCED)
        decision = decide(stack_target, inputs_fingerprint(target.env, engine.version), read_state)
        if refresh and decision.exists and not decision.unreadable:
            drift = drift_reason(run("refresh").changes)
            if drift:
                return TargetRun(run("up", drift), drift)
        return TargetRun(run("up", decision.reason) if decision.deploy else None, decision.reason)

    return execute(plan, operation, run_one, cancelled=SUPERVISOR.reason)
