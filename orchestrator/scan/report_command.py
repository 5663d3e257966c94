"""`ec2c report --env E`: the latest report of a deployed environment, from its own bucket.

No scan runs. The bucket comes from the stack's outputs (`compliance_bucket_name`, `region`), and
the objects are read with the caller's credentials, exactly as `aws s3 cp` would: whoever may read
the reports may see them, without any access to EC2. Any of the scan's formats can be produced
from it (HTML for a person, ASFF/OCSF for a pipeline).

`reports/latest.json` is read through the scanner's own reader (`S3Store`, `load_latest`): a
schema 3 index whose findings stream from the run's shards as the output is written, or a schema
1 or 2 report, upgraded with its findings inline. Every way the report can be unusable ends in
one line naming the object and why, exit 1: no report yet, not JSON, not a report, an unknown
schema version, and (found while the output streams) a shard the index lists but that is gone,
truncated or not gzip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from botocore.exceptions import BotoCoreError

from ..console import err
from ..deploy.commands import ConfigDirOpt, StackOpt
from ..errors import BadInput, OperationFailed
from . import render as scan_render
from .command import (
    OutputFormat,
    check_aws_environment,
    describe_aws_error,
    emit,
    make_session,
    open_output,
    resolve_output,
    unreadable_as_failure,
)

if TYPE_CHECKING:
    from ec2c.scanner.reader import Report

BUCKET_OUTPUT = "compliance_bucket_name"
REGION_OUTPUT = "region"


def fetch_latest_report(session: Any, bucket: str, region: str) -> Report:
    """`reports/latest.json` of `bucket` as a `Report` (the index: its findings stay in their
    shards until a view streams them); every way it can be missing or unreadable is an
    OperationFailed whose one line names the object and why."""
    from ec2c.scanner.contract import LATEST_REPORT_KEY
    from ec2c.scanner.reader import load_latest
    from ec2c.scanner.storage import S3Store

    store = S3Store(session.client("s3", region_name=region), bucket)
    where = store.uri(LATEST_REPORT_KEY)
    with unreadable_as_failure():
        try:
            latest = load_latest(store)
        except BotoCoreError as exc:  # the body's read, after a successful GetObject
            raise OperationFailed(f"{where}: {describe_aws_error(exc)}") from None
    if latest is None:
        raise OperationFailed(f"{where}: no report yet; the analyzer has not completed a scan (its schedule "
                              "runs it, or `ec2c run --env <env>` starts one now)")
    return latest


def report(
    env: Optional[str] = typer.Option(None, "--env", "-e", help="Environment name (a file in the config folder)."),
    stack: StackOpt = None,
    plan: Optional[Path] = typer.Option(
        None, "--plan", help="Rollout plan (YAML): merge the latest reports of all its targets into one estate report."
    ),
    config_dir: ConfigDirOpt = None,
    output_format: OutputFormat = typer.Option(
        OutputFormat.table, "--format", "-f", case_sensitive=False,
        help="table, json, csv, html, asff or ocsf (as `ec2c scan`); with --plan: table, json, csv or html.",
    ),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", metavar="FILE",
        help="Write the report to FILE (a folder: ec2-compliance-report.<format> in it).",
    ),
    limit: int = typer.Option(
        scan_render.DEFAULT_LIMIT, "--limit", min=0,
        help=f"Rows of the findings table (0: all, up to {scan_render.MAX_ROWS:,}; the rest are counted).",
    ),
    workers: int = typer.Option(8, "--workers", min=1, max=64, help="With --plan: targets read at once."),
) -> None:
    """Show the latest report of a deployed environment, or of every target of a plan merged into
    one estate report (read from the stacks' buckets; no scan runs)."""
    from ..deploy.commands import stack_outputs

    if (env is None) == (plan is None):
        raise BadInput("expected exactly one of --env E or --plan P")
    output_path = resolve_output(output, output_format) if output is not None else None
    if plan is not None:
        _estate(plan, config_dir, output_format, output_path, workers)
        return
    outputs, environment = stack_outputs(env, stack, config_dir)
    bucket = outputs.get(BUCKET_OUTPUT)
    if not bucket:
        raise OperationFailed(
            f"stack {environment.stack_name if stack is None else stack}: no `{BUCKET_OUTPUT}` output; "
            f"deploy it first (`ec2c up --env {env}`)"
        )
    from ec2c.scanner.contract import LATEST_REPORT_KEY

    region = str(outputs.get(REGION_OUTPUT) or environment.aws.region)
    check_aws_environment(os.environ)
    latest = fetch_latest_report(make_session(), str(bucket), region)
    err.print(f"Latest report of {env}: s3://{bucket}/{LATEST_REPORT_KEY}", style="dim", markup=False, highlight=False)
    with unreadable_as_failure():
        try:
            emit(latest, output_format, output_path, limit, {}, region, _rest_at(latest, output_format, env))
        except BotoCoreError as exc:  # a shard's body cut off mid-read
            raise OperationFailed(f"s3://{bucket}: reading the report's shards failed: {describe_aws_error(exc)}") from None


def _rest_at(latest: Report, fmt: OutputFormat, env: str | None) -> str | None:
    """Where the HTML page says every finding is, when it cannot embed them all."""
    if fmt is not OutputFormat.html:
        return None
    from .html_report import rest_location

    return f"{rest_location(latest)}, or `ec2c report --env {env} --format csv`"


def _estate(plan: Path, config_dir: Path | None, fmt: OutputFormat, output: Path | None, workers: int) -> None:
    """`report --plan`: every target's latest report merged, its findings streamed into the
    output (the file of `--format table` is JSON); exit 1 when the estate is partial."""
    import sys

    from ..fleet.command import ESTATE_FORMATS, estate_report, render_estate, write_estate

    if fmt not in (OutputFormat.table, *(OutputFormat(kind) for kind in ESTATE_FORMATS)):
        raise BadInput(f"--plan: --format {fmt.value} is not available for an estate report (table, json, csv or html)")
    estate = estate_report(plan, config_dir, workers)
    kind = OutputFormat.json.value if fmt is OutputFormat.table else fmt.value
    if output is not None:
        with open_output(output) as out:
            write_estate(estate, kind, out)
        err.print(f"Estate report written to {output}", style="dim", markup=False)
    elif fmt is not OutputFormat.table:
        write_estate(estate, kind, sys.stdout)
        sys.stdout.flush()
    if fmt is OutputFormat.table:
        render_estate(estate)
    document = estate.document()
    if document["partial"]:
        raise OperationFailed(f"the estate report is partial: {len(document['unread_targets'])} target(s) not read")
