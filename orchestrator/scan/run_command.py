"""`ec2c run --env E [--wait]`: a scan of a deployed environment, run by its state machine.

The state machine comes from the stack's outputs (`state_machine_arn`), read as `ec2c report`
reads the bucket, and is started with the caller's credentials (the AWS SDK's own resolution,
as `ec2c report` reads the reports). `--regions` narrows this one run (the execution input
`{"regions": [...]}`), checked as `ec2c scan` checks it.

Without `--wait` the command prints the execution's ARN (stdout) and its console page, and exits
0. With `--wait` it follows the execution (`run_scan.follow`) and prints a line each time a
region changes: queued, scanning (invocation n, and the retries of one), done, failed with its
error. Its exit code is the run's: 0 a complete report, 1 a partial one (a region failed or was
not fully read; as `ec2c scan --fail-on` treats a partial report, and `--allow-partial` accepts
it the same way) or an execution that failed, timed out or was aborted, 130/143 when SIGINT or
SIGTERM stops the waiting; the execution itself goes on, and the message says how to follow it.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any, Optional

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.text import Text

from ..console import err, print_data
from ..deploy.commands import ConfigDirOpt, EnvOpt, StackOpt
from ..engine.supervisor import SUPERVISOR, Interrupted
from ..errors import OperationFailed
from . import run_scan
from .command import (
    check_aws_environment,
    describe_aws_error,
    known_regions,
    make_session,
    parse_regions,
    validate_regions,
)
from .report_command import BUCKET_OUTPUT, REGION_OUTPUT

pause = time.sleep
"""How the command waits between two polls (a test replaces it)."""

_STATE_STYLES = {
    run_scan.RegionState.queued: "dim",
    run_scan.RegionState.scanning: "cyan",
    run_scan.RegionState.done: "green",
    run_scan.RegionState.failed: "red",
}


def run(
    env: EnvOpt,
    stack: StackOpt = None,
    config_dir: ConfigDirOpt = None,
    regions: Optional[list[str]] = typer.Option(
        None, "--regions", "-r", metavar="REGION[,REGION]",
        help="Regions to scan in this run only, comma-separated or repeated. Default: the environment's scan regions.",
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Follow the execution to its end: each region's progress, then the run's outcome."
    ),
    poll_interval: float = typer.Option(
        run_scan.POLL_INTERVAL_S, "--poll-interval", min=1.0, metavar="SECONDS",
        help="With --wait: seconds between two reads of the execution.",
    ),
    allow_partial: bool = typer.Option(
        False, "--allow-partial", help="With --wait: exit 0 even when some regions could not be scanned completely.",
    ),
) -> None:
    """Start a scan of a deployed environment on its Step Functions state machine (one worker per
    region); with --wait, follow it and exit with its outcome."""
    from ..deploy.commands import stack_outputs

    region_list = parse_regions(regions)
    if region_list:
        validate_regions(region_list, known_regions())
    check_aws_environment(os.environ)
    outputs, environment = stack_outputs(env, stack, config_dir)
    stack_name = environment.stack_name if stack is None else stack
    state_machine = _state_machine_arn(outputs, stack_name, env)
    sfn_region = run_scan.arn_region(state_machine) or str(outputs.get(REGION_OUTPUT) or environment.aws.region)
    client = make_session().client("stepfunctions", region_name=sfn_region)

    execution = _start(client, state_machine, region_list)
    try:
        print_data(execution)
        err.print(Text(f"Started the scan of {env}: {run_scan.console_url(execution)}"), soft_wrap=True)
        if not wait:
            hint = f"Follow it there, or read the report when it ends: ec2c report --env {env}"
            err.print(Text(hint, style="dim"), soft_wrap=True)
            return
        outcome = _follow(client, execution, poll_interval)
    except KeyboardInterrupt:  # SIGINT, or SIGTERM through the supervisor's handler
        raise Interrupted(
            f"stopped waiting; the execution goes on in AWS: {execution} (follow it at "
            f"{run_scan.console_url(execution)} or with `aws stepfunctions describe-execution --execution-arn "
            f"{execution}`; its report: `ec2c report --env {env}` once it ends)",
            SUPERVISOR.first or signal.SIGINT,
        ) from None
    _conclude(outcome, execution, env, outputs.get(BUCKET_OUTPUT), allow_partial)


def _state_machine_arn(outputs: dict[str, Any], stack_name: str, env: str) -> str:
    value = outputs.get(run_scan.STATE_MACHINE_OUTPUT)
    if not value:
        if not outputs.get(BUCKET_OUTPUT):
            raise OperationFailed(f"stack {stack_name}: no `{run_scan.STATE_MACHINE_OUTPUT}` output; deploy it first "
                                  f"(`ec2c up --env {env}`)")  # fmt: skip
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


def _aws_failure(what: str, exc: Exception) -> OperationFailed:
    """One line for a failed Step Functions call: its operation, code and message."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = " ".join(str(error.get("Message", "")).split()) or code
        return OperationFailed(f"{what}: {getattr(exc, 'operation_name', '') or 'request'}: {code}: {message}")
    return OperationFailed(f"{what}: {describe_aws_error(exc)}")


def _start(client: Any, state_machine: str, regions: list[str]) -> str:
    try:
        return run_scan.start(client, state_machine, regions)
    except (BotoCoreError, ClientError) as exc:
        raise _aws_failure(f"starting {state_machine}", exc) from None
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while the execution was being started; it may have started: see the state machine's "
            f"executions at {run_scan.console_url(state_machine)}",
            SUPERVISOR.first or signal.SIGINT,
        ) from None


def _follow(client: Any, execution: str, interval_s: float) -> run_scan.Outcome:
    try:
        return run_scan.follow(client, execution, _show, interval_s=interval_s, sleep=lambda s: pause(s))
    except (BotoCoreError, ClientError) as exc:
        failure = _aws_failure(f"following {execution}", exc)
        goes_on = f"the execution goes on: {run_scan.console_url(execution)}"
        raise OperationFailed(f"{failure.message} ({goes_on})") from None


def _show(update: run_scan.Update) -> None:
    """One line per update; AWS's text is printed as it is (a Text, never markup)."""
    if isinstance(update, run_scan.Phase):
        message = {
            run_scan.Phase.planning: "Planning the run ...",
            run_scan.Phase.scanning: "Scanning the regions ...",
            run_scan.Phase.aggregating: "Aggregating the regions' results into the report ...",
        }.get(update)
        if message:
            err.print(Text(message, style="dim"), soft_wrap=True)
        return
    line = Text("  ")
    line.append(update.region, style="bold")
    line.append(": ")
    line.append(update.describe(), style=_STATE_STYLES[update.state])
    err.print(line, soft_wrap=True)


def _conclude(outcome: run_scan.Outcome, execution: str, env: str, bucket: Any, allow_partial: bool) -> None:
    """The run's outcome and the exit: ok 0, partial 1 (unless allowed), any other end 1."""
    if outcome.status != "SUCCEEDED":
        ended = outcome.status.lower().replace("_", " ")
        given = outcome.error or outcome.cause
        reason = run_scan.failure_text(outcome.error, outcome.cause) if given else "no error given"
        raise OperationFailed(f"execution {ended}: {reason} ({run_scan.console_url(execution)})")
    result = outcome.output if isinstance(outcome.output, dict) else {}
    status = result.get("status")
    if status not in ("ok", "partial"):
        raise OperationFailed(f"the execution succeeded, but its output is not the scan's outcome (no status ok or "
                              f"partial): {run_scan.console_url(execution)}")  # fmt: skip
    _summary(result, env, bucket)
    if status == "partial" and not allow_partial:
        incomplete = [str(region) for region in result.get("incomplete_regions") or []]
        failed = [p.region for p in outcome.progress.regions.values() if p.state is run_scan.RegionState.failed]
        named = incomplete or failed
        where = f"regions not fully scanned: {', '.join(named)}" if named else "see its errors"
        raise OperationFailed(f"the run is partial ({where}); a region that was not read cannot pass "
                              f"(`ec2c report --env {env}` shows the errors; --allow-partial accepts it)")


def _summary(result: dict[str, Any], env: str, bucket: Any) -> None:
    from ec2c.scanner.documents import format_rate

    summary = result.get("summary") if isinstance(result.get("summary"), dict) else {}
    status = str(result.get("status"))
    line = Text(f"Run {result.get('run_id')}: ")
    line.append(status, style="bold green" if status == "ok" else "bold yellow")
    line.append(" · ")
    line.append(str(summary.get("total_instances", 0)), style="bold")
    line.append(" instances · ")
    non_compliant = summary.get("non_compliant_instances", 0)
    line.append(str(non_compliant), style="bold red" if non_compliant else "bold green")
    line.append(" non-compliant · compliance ")
    line.append(format_rate(summary.get("compliance_rate")), style="bold")
    errors = result.get("errors")
    if errors:
        line.append(f" · {errors} error{'s' if errors != 1 else ''}")
    incomplete = result.get("incomplete_regions") or []
    if incomplete:
        line.append(" · incomplete regions: ")
        line.append(", ".join(str(region) for region in incomplete), style="yellow")
    err.print(line, soft_wrap=True)
    key = result.get("report_key")
    where = f"s3://{bucket}/{key}" if bucket and key else key
    if where:
        err.print(Text(f"Report: {where}", style="dim"), soft_wrap=True)
    err.print(Text(f"Read it with: ec2c report --env {env}"), soft_wrap=True)
