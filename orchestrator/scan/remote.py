"""`ec2c run`'s service: a scan of a deployed environment, run by its state machine.

The state machine comes from the stack's outputs (`state_machine_arn`), read as `ec2c report`
reads the bucket, and is started with the caller's credentials. Following it is `run_scan.follow`;
this module turns each way a run can end into a result or one line.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..deploy.rollouts import operations
from ..engine.supervisor import SUPERVISOR, Interrupted
from ..errors import OperationFailed
from . import run_scan
from .aws import check_aws_environment, describe_aws_error, make_session
from .latest import BUCKET_OUTPUT, REGION_OUTPUT

pause = time.sleep
"""How a run is waited for between two polls (a test replaces it)."""


@dataclass(frozen=True)
class StateMachine:
    """The environment's state machine and a Step Functions client in its region."""

    arn: str
    client: Any
    bucket: Any


def state_machine_arn(outputs: dict[str, Any], stack_name: str, env: str) -> str:
    """The stack's `state_machine_arn` output, or why the stack has none usable."""
    value = outputs.get(run_scan.STATE_MACHINE_OUTPUT)
    if not value:
        if not outputs.get(BUCKET_OUTPUT):
            raise OperationFailed(
                f"stack {stack_name}: no `{run_scan.STATE_MACHINE_OUTPUT}` output; deploy it first "
                f"(`ec2c up --env {env}`)"
            )
        raise OperationFailed(
            f"stack {stack_name}: no `{run_scan.STATE_MACHINE_OUTPUT}` output; it was deployed before `ec2c run` "
            f"existed: redeploy it (`ec2c up --env {env}`), which adds the scan's state machine"
        )
    arn = str(value)
    if run_scan.arn_region(arn) is None:
        raise OperationFailed(
            f"stack {stack_name}: `{run_scan.STATE_MACHINE_OUTPUT}` is {arn!r}, not a state machine ARN"
        )
    return arn


def environment_state_machine(env: str, stack: str | None, config_dir: Path | None) -> StateMachine:
    """The state machine of the environment's stack, and a client for it (the caller's credentials)."""
    check_aws_environment(os.environ)
    outputs, environment = operations.stack_outputs(env, stack, config_dir)
    stack_name = environment.stack_name if stack is None else stack
    arn = state_machine_arn(outputs, stack_name, env)
    region = run_scan.arn_region(arn) or str(outputs.get(REGION_OUTPUT) or environment.aws.region)
    return StateMachine(arn, make_session().client("stepfunctions", region_name=region), outputs.get(BUCKET_OUTPUT))


def aws_failure(what: str, exc: Exception) -> OperationFailed:
    """One line for a failed Step Functions call: its operation, code and message."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = " ".join(str(error.get("Message", "")).split()) or code
        return OperationFailed(f"{what}: {getattr(exc, 'operation_name', '') or 'request'}: {code}: {message}")
    return OperationFailed(f"{what}: {describe_aws_error(exc)}")


def start(machine: StateMachine, regions: list[str]) -> str:
    """Start an execution (`regions`: this run's, else the environment's); its ARN."""
    try:
        return run_scan.start(machine.client, machine.arn, regions)
    except (BotoCoreError, ClientError) as exc:
        raise aws_failure(f"starting {machine.arn}", exc) from None
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while the execution was being started; it may have started: see the state machine's "
            f"executions at {run_scan.console_url(machine.arn)}",
            SUPERVISOR.first or signal.SIGINT,
        ) from None


def follow(
    machine: StateMachine, execution: str, on_update: Callable[[run_scan.Update], None], interval_s: float
) -> run_scan.Outcome:
    """Poll the execution to its end, each change of a region passed to `on_update`."""
    try:
        return run_scan.follow(machine.client, execution, on_update, interval_s=interval_s, sleep=lambda s: pause(s))
    except (BotoCoreError, ClientError) as exc:
        failure = aws_failure(f"following {execution}", exc)
        goes_on = f"the execution goes on: {run_scan.console_url(execution)}"
        raise OperationFailed(f"{failure.message} ({goes_on})") from None


def run_result(outcome: run_scan.Outcome, execution: str) -> dict[str, Any]:
    """The scan's outcome document of a finished execution; an execution that did not succeed,
    or whose output is not a scan's outcome, fails with its reason."""
    if outcome.status != "SUCCEEDED":
        ended = outcome.status.lower().replace("_", " ")
        given = outcome.error or outcome.cause
        reason = run_scan.failure_text(outcome.error, outcome.cause) if given else "no error given"
        raise OperationFailed(f"execution {ended}: {reason} ({run_scan.console_url(execution)})")
    result = outcome.output if isinstance(outcome.output, dict) else {}
    if result.get("status") not in ("ok", "partial"):
        raise OperationFailed(
            f"the execution succeeded, but its output is not the scan's outcome (no status ok or "
            f"partial): {run_scan.console_url(execution)}"
        )
    return result


def check_complete(result: dict[str, Any], outcome: run_scan.Outcome, env: str, allow_partial: bool) -> None:
    """A partial run fails (as `ec2c scan --fail-on` treats a partial report) unless allowed."""
    if result.get("status") != "partial" or allow_partial:
        return
    incomplete = [str(region) for region in result.get("incomplete_regions") or []]
    failed = [p.region for p in outcome.progress.regions.values() if p.state is run_scan.RegionState.failed]
    named = incomplete or failed
    where = f"regions not fully scanned: {', '.join(named)}" if named else "see its errors"
    raise OperationFailed(
        f"the run is partial ({where}); a region that was not read cannot pass "
        f"(`ec2c report --env {env}` shows the errors; --allow-partial accepts it)"
    )
