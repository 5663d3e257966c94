"""`ec2c report --env E | --plan P`: the latest report of a deployed environment, or of every
target of a plan merged into one estate report (the services: `scan.latest`, `fleet.plan`).

No scan runs. Any of the scan's formats can be produced from an environment's report (HTML for
a person, ASFF/OCSF for a pipeline); an estate report is a table, JSON, CSV or HTML. An
environment's report includes the change records its event-driven evaluations wrote since the
full scan (`--no-changes`: the full scan alone), so it shows the estate as of the last change.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..console import err
from ..errors import BadInput, OperationFailed
from ..reporting.files import open_output, resolve_output
from ..reporting.formats import ESTATE_FORMATS, OutputFormat
from .guard import guard
from .options import (
    DEFAULT_LIMIT,
    DEFAULT_WORKERS,
    ConfigDirOpt,
    OptionalEnvOpt,
    PlanWorkersOpt,
    ReportFormatOpt,
    ReportLimitOpt,
    ReportOutputOpt,
    StackOpt,
)

if TYPE_CHECKING:  # the reader pulls in the rules and the policy: the CLI starts without them
    from ec2c.scanner.reports.reader import Report


@guard
def report(
    env: OptionalEnvOpt = None,
    stack: StackOpt = None,
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan", help="Rollout plan (YAML): merge the latest reports of all its targets into one estate report."
        ),
    ] = None,
    config_dir: ConfigDirOpt = None,
    output_format: ReportFormatOpt = OutputFormat.table,
    output: ReportOutputOpt = None,
    limit: ReportLimitOpt = DEFAULT_LIMIT,
    workers: PlanWorkersOpt = DEFAULT_WORKERS,
    no_changes: Annotated[
        bool,
        typer.Option(
            "--no-changes",
            help="--env: show the latest full scan alone, without the change records written since.",
        ),
    ] = False,
) -> None:
    """Show the latest report of a deployed environment, or of every target of a plan merged into
    one estate report (read from the stacks' buckets; no scan runs).

    An environment's report includes the change records of its event-driven evaluations written
    since the full scan; `--no-changes` leaves them out."""
    if (env is None) == (plan is None):
        raise BadInput("expected exactly one of --env E or --plan P")
    if plan is not None and no_changes:
        raise BadInput("--no-changes: only with --env (an estate report shows each target's full scan)")
    output_path = resolve_output(output, output_format) if output is not None else None
    if plan is not None:
        _estate(plan, config_dir, output_format, output_path, workers)
        return
    _environment(env or "", stack, config_dir, output_format, output_path, limit, not no_changes)


def _environment(
    env: str,
    stack: str | None,
    config_dir: Path | None,
    fmt: OutputFormat,
    output: Path | None,
    limit: int,
    changes: bool,
) -> None:
    from ..reporting.html_report import rest_location
    from ..reporting.writers import emit
    from ..scan.latest import deployed_report, streaming_from, with_changes

    latest = deployed_report(env, stack, config_dir)
    err.print(f"Latest report of {env}: {latest.uri}", style="dim", markup=False, highlight=False)
    full = latest.report
    if changes:
        latest = with_changes(latest)
        _say_changes(latest.report)
    # the run's shards hold the full scan's findings, without the change records
    shards = f"{rest_location(full)}, or " if latest.report is full else ""
    rest_at = f"{shards}`ec2c report --env {env} --format csv`" if fmt is OutputFormat.html else None
    with streaming_from(latest.bucket):
        emit(latest.report, fmt, output, limit, {}, latest.region, rest_at)


def _say_changes(report: Report) -> None:
    """One line on stderr when change records were laid over the report."""
    overlaid = report.index.get("overlay")
    if overlaid is None:
        return
    err.print(
        f"Includes {overlaid['records']} change record(s) through {overlaid['through']} "
        f"({overlaid['resources']} resource(s) re-evaluated since the full scan)",
        style="dim",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _estate(plan: Path, config_dir: Path | None, fmt: OutputFormat, output: Path | None, workers: int) -> None:
    """`report --plan`: every target's latest report merged, its findings streamed into the
    output (the file of `--format table` is JSON); exit 1 when the estate is partial."""
    from ..fleet.plan import estate_report
    from ..reporting.estate_output import render_estate, write_estate

    if fmt not in (OutputFormat.table, *ESTATE_FORMATS):
        raise BadInput(f"--plan: --format {fmt.value} is not available for an estate report (table, json, csv or html)")
    estate = estate_report(plan, config_dir, workers)
    kind = OutputFormat.json if fmt is OutputFormat.table else fmt
    if output is not None:
        with open_output(output) as out:
            write_estate(estate, kind.value, out)
        err.print(f"Estate report written to {output}", style="dim", markup=False)
    elif fmt is not OutputFormat.table:
        write_estate(estate, kind.value, sys.stdout)
        sys.stdout.flush()
    if fmt is OutputFormat.table:
        render_estate(estate)
    document = estate.document()
    if document["partial"]:
        raise OperationFailed(f"the estate report is partial: {len(document['unread_targets'])} target(s) not read")
