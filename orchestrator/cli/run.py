"""`ec2c run --env E [--wait]`: a scan of a deployed environment on its state machine (the
service: `scan.remote`).

`--regions` narrows this one run (the execution input `{"regions": [...]}`), checked as `ec2c
scan` checks it. Without `--wait` the command prints the execution's ARN (stdout) and its console
page, and exits 0. With `--wait` it follows the execution and prints a line each time a region
changes: queued, scanning (invocation n, and the retries of one), done, failed with its error.
Its exit code is the run's: 0 a complete report, 1 a partial one (a region failed or was not
fully read; as `ec2c scan --fail-on` treats a partial report, and `--allow-partial` accepts it the
same way) or an execution that failed, timed out or was aborted, 130/143 when SIGINT or SIGTERM
stops the waiting; the execution itself goes on, and the message says how to follow it.
"""

from __future__ import annotations

import signal
from typing import Annotated, Any

import typer
from rich.text import Text

from ec2c.scanner.documents import format_rate

from ..console import err, print_data
from ..engine.supervisor import SUPERVISOR, Interrupted, supervised
from ..scan import run_scan
from .guard import guard
from .options import ConfigDirOpt, EnvOpt, RunRegionsOpt, StackOpt

_STATE_STYLES = {
    run_scan.RegionState.queued: "dim",
    run_scan.RegionState.scanning: "cyan",
    run_scan.RegionState.done: "green",
    run_scan.RegionState.failed: "red",
}


@guard
@supervised
def run(
    env: EnvOpt,
    stack: StackOpt = None,
    config_dir: ConfigDirOpt = None,
    regions: RunRegionsOpt = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Follow the execution to its end: each region's progress, then the run's outcome."),
    ] = False,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval",
            min=1.0,
            metavar="SECONDS",
            help="With --wait: seconds between two reads of the execution.",
        ),
    ] = run_scan.POLL_INTERVAL_S,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="With --wait: exit 0 even when some regions could not be scanned completely.",
        ),
    ] = False,
) -> None:
    """Start a scan of a deployed environment on its Step Functions state machine (one worker per
    region); with --wait, follow it and exit with its outcome."""
    from ..scan import remote
    from ..scan.regions import checked_regions

    region_list = checked_regions(regions)
    machine = remote.environment_state_machine(env, stack, config_dir)
    execution = remote.start(machine, region_list)
    try:
        print_data(execution)
        err.print(Text(f"Started the scan of {env}: {run_scan.console_url(execution)}"), soft_wrap=True)
        if not wait:
            hint = f"Follow it there, or read the report when it ends: ec2c report --env {env}"
            err.print(Text(hint, style="dim"), soft_wrap=True)
            return
        outcome = remote.follow(machine, execution, _show, poll_interval)
    except KeyboardInterrupt:  # SIGINT, or SIGTERM through the supervisor's handler
        raise Interrupted(
            f"stopped waiting; the execution goes on in AWS: {execution} (follow it at "
            f"{run_scan.console_url(execution)} or with `aws stepfunctions describe-execution --execution-arn "
            f"{execution}`; its report: `ec2c report --env {env}` once it ends)",
            SUPERVISOR.first or signal.SIGINT,
        ) from None
    result = remote.run_result(outcome, execution)
    _summary(result, env, machine.bucket)
    remote.check_complete(result, outcome, env, allow_partial)


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


def _summary(result: dict[str, Any], env: str, bucket: Any) -> None:
    found = result.get("summary")
    summary = found if isinstance(found, dict) else {}
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
