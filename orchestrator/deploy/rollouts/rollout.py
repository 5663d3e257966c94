"""Multi-account, multi-region rollouts: ordered waves, bounded parallelism, fail-fast, shards.

A plan lists waves; each wave's targets run in parallel (up to its `parallelism`), each in its
own workspace and work dir. A wave starts only when every earlier wave succeeded (a canary
wave guards the rest whatever the setting); with fail-fast the first failure also stops the
targets of its own wave that have not started yet. A target may end "unchanged": its inputs
are those of its last successful update (see `changes`), so the engine never started.

When a fleet outgrows one machine, a CI matrix runs it: `select` cuts the plan into the part
one job deploys (a wave, a shard of it, an account), the same way on every machine.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...errors import BadInput, Ec2cError, OperationFailed
from ..inputs.environments import ConfigDir, Environment, describe_validation_error, read_yaml
from ..stack.lifecycle import Operation, OperationResult

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_SKIPPED = "skipped"
STATUS_UNCHANGED = "unchanged"
SUMMARY_WORDS = {
    STATUS_OK: "deployed",
    STATUS_UNCHANGED: "unchanged",
    STATUS_FAILED: "failed",
    STATUS_SKIPPED: "not started",
}
"""How the summary counts each status (a rollout's `ok` target was deployed)."""


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
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "wave": self.wave,
            "stack": self.stack,
            "env": self.env,
            "region": self.region,
            "account": self.account,
            "status": self.status,
            "reason": self.reason,
            "duration_s": round(self.duration_s, 2),
            "error": self.error,
            "outputs": self.result.outputs if self.result else {},
        }


class TargetFailed(OperationFailed):
    """A target's operation failed; `reason` says why it ran (its row keeps both)."""

    def __init__(self, message: str, reason: str | None) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TargetRun:
    """What `run_one` did to a target: the operation's result, or none when the target was
    unchanged (the engine never started), and why it ran or did not."""

    result: OperationResult | None
    reason: str | None = None


@dataclass
class RolloutReport:
    outcomes: list[TargetOutcome] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(o.status in (STATUS_OK, STATUS_UNCHANGED) for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        """Targets per summary word (deployed, unchanged, failed, not started), every word present."""
        return {word: sum(1 for o in self.outcomes if o.status == status) for status, word in SUMMARY_WORDS.items()}

    def summary(self, operation: str) -> str:
        """`3 deployed, 40 unchanged, 1 failed, 4 not started` (for `up`; other operations say `ok`)."""
        counts = self.counts()
        if operation != "up":
            counts = {("ok" if word == "deployed" else word): n for word, n in counts.items()}
        return ", ".join(f"{n} {word}" for word, n in counts.items())


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


_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
MAX_SHARDS = 256


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`: `--shard K/N`, as a CI matrix numbers its jobs."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, position: int) -> bool:
        """Whether the target at `position` (0-based, in its wave's plan order) is this shard's:
        round-robin, so every shard of a wave gets the same number of targets, give or take one,
        and the same plan splits the same way on every machine and every run."""
        return position % self.count == self.index - 1


def parse_shard(text: str) -> Shard:
    """`K/N` with 1 <= K <= N; anything else is bad input."""
    match = _SHARD.match(text)
    if match is None:
        raise BadInput(f"--shard: expected K/N with whole numbers, such as 1/3, got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise BadInput(f"--shard: N must be between 1 and {MAX_SHARDS}, got {text!r}")
    if not 1 <= index <= count:
        raise BadInput(f"--shard: K must be between 1 and N ({count}), got {text!r}")
    return Shard(index, count)


def select(plan: Plan, *, shard: Shard | None = None, wave: str | None = None, account: str | None = None) -> Plan:
    """The part of `plan` one CI job runs: one wave (`wave`), one shard of each wave's targets,
    one account's targets. Waves keep their order and parallelism; waves left empty are dropped.

    The shard is taken before the account filter, so `--shard K/N --account A` is exactly the
    account-A targets of shard K, whichever other accounts the shard holds.
    """
    names = [name for name, _, _ in plan.waves]
    if wave is not None and wave not in names:
        raise BadInput(f"--wave: the plan has no wave {wave!r}; its waves are {', '.join(names)}")
    waves = []
    for name, parallelism, targets in plan.waves:
        if wave is not None and name != wave:
            continue
        chosen = [t for i, t in enumerate(targets) if shard is None or shard.holds(i)]
        if account is not None:
            chosen = [t for t in chosen if (t.env.aws.account_id or "") == account]
        if chosen:
            waves.append((name, parallelism, chosen))
    return Plan(fail_fast=plan.fail_fast, waves=waves)


def execute(
    plan: Plan,
    operation: Operation,
    run_one: Callable[[PlannedTarget, Operation], TargetRun],
    cancelled: Callable[[], str | None] = lambda: None,
) -> RolloutReport:
    """Run the plan; `run_one` deploys one target (in its own workspace), or finds it unchanged,
    and raises on failure.

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
            ran = run_one(target, operation)
            outcome.result, outcome.reason = ran.result, ran.reason
            outcome.status = STATUS_OK if ran.result is not None else STATUS_UNCHANGED
        except TargetFailed as exc:
            outcome.status, outcome.error, outcome.reason = STATUS_FAILED, exc.message, exc.reason
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
