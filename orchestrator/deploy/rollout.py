"""Multi-account, multi-region rollouts: ordered waves, bounded parallelism, fail-fast.

A plan lists waves; each wave's targets run in parallel (up to its `parallelism`), each in its
own workspace and work dir. A wave starts only when every earlier wave succeeded (a canary
wave guards the rest whatever the setting); with fail-fast the first failure also stops the
targets of its own wave that have not started yet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import BadInput, Ec2cError
from .environments import ConfigDir, Environment, describe_validation_error, read_yaml
from .lifecycle import Operation, OperationResult

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_SKIPPED = "skipped"


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str
    stack: str | None = None
    aws: dict[str, Any] = {}
    tags: dict[str, str] = {}


class WaveSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    parallelism: int = Field(1, ge=1, le=32)
    targets: list[TargetSpec] = Field(min_length=1)


class PlanSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fail_fast: bool = True
    waves: list[WaveSpec] = Field(min_length=1)


@dataclass(frozen=True)
class PlannedTarget:
    wave: str
    env: Environment

    @property
    def stack_name(self) -> str:
        return self.env.stack_name


@dataclass(frozen=True)
class Plan:
    fail_fast: bool
    waves: list[tuple[str, int, list[PlannedTarget]]]


@dataclass
class TargetOutcome:
    wave: str
    stack: str
    env: str
    region: str
    account: str
    status: str
    duration_s: float = 0.0
    error: str | None = None
    result: OperationResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "wave": self.wave,
            "stack": self.stack,
            "env": self.env,
            "region": self.region,
            "account": self.account,
            "status": self.status,
            "duration_s": round(self.duration_s, 2),
            "error": self.error,
            "outputs": self.result.outputs if self.result else {},
        }


@dataclass
class RolloutReport:
    outcomes: list[TargetOutcome] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(o.status == STATUS_OK for o in self.outcomes)


def load_plan(path: Path, config: ConfigDir) -> Plan:
    """Read and validate a plan; every target is resolved to a validated Environment up front."""
    try:
        spec = PlanSpec.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise BadInput(f"{path}: {describe_validation_error(exc)}") from None
    waves = []
    seen: dict[str, str] = {}
    for w, wave in enumerate(spec.waves):
        targets = []
        for t, target in enumerate(wave.targets):
            overrides: dict[str, Any] = {"aws": target.aws, "tags": target.tags}
            if target.stack:
                overrides["stack"] = target.stack
            try:
                env = config.load(target.env, overrides)
            except BadInput as exc:
                raise BadInput(f"{path}: waves[{w}].targets[{t}]: {exc.message}") from None
            key = f"{env.backend}|{env.project}|{env.stack_name}"
            if key in seen:
                raise BadInput(
                    f"{path}: waves[{w}].targets[{t}]: stack {env.stack_name!r} appears twice "
                    f"(also in {seen[key]}); give one of them a distinct `stack:`"
                )
            seen[key] = f"waves[{w}].targets[{t}]"
            targets.append(PlannedTarget(wave=wave.name, env=env))
        waves.append((wave.name, wave.parallelism, targets))
    return Plan(fail_fast=spec.fail_fast, waves=waves)


def execute(
    plan: Plan,
    operation: Operation,
    run_one: Callable[[PlannedTarget, Operation], OperationResult],
    cancelled: Callable[[], str | None] = lambda: None,
) -> RolloutReport:
    """Run the plan; `run_one` deploys one target (in its own workspace) and raises on failure.

    `cancelled` returns a reason once the run must stop (a signal): targets not yet started are
    skipped with it, targets in flight end as their engine does.
    """
    report = RolloutReport()
    started = time.monotonic()
    stop = threading.Event()

    def attempt(target: PlannedTarget) -> TargetOutcome:
        outcome = TargetOutcome(
            wave=target.wave,
            stack=target.stack_name,
            env=target.env.name,
            region=target.env.aws.region,
            account=target.env.aws.account_id or "-",
            status=STATUS_SKIPPED,
        )
        reason = cancelled()
        if reason:
            outcome.error = f"not started: {reason}"
            return outcome
        if stop.is_set():
            outcome.error = "not started: an earlier target failed (fail-fast)"
            return outcome
        t0 = time.monotonic()
        try:
            outcome.result = run_one(target, operation)
            outcome.status = STATUS_OK
        except Ec2cError as exc:
            outcome.status, outcome.error = STATUS_FAILED, exc.message
        except Exception as exc:  # noqa: BLE001 - one target's crash must not hide the others' results
            outcome.status, outcome.error = STATUS_FAILED, f"{type(exc).__name__}: {exc}"
        outcome.duration_s = time.monotonic() - t0
        if outcome.status == STATUS_FAILED and plan.fail_fast:
            stop.set()
        return outcome

    for _, parallelism, targets in plan.waves:
        if stop.is_set():
            report.outcomes.extend(attempt(t) for t in targets)
            continue
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            report.outcomes.extend(pool.map(attempt, targets))
        if any(o.status == STATUS_FAILED for o in report.outcomes):
            stop.set()
    report.duration_s = time.monotonic() - started
    return report
