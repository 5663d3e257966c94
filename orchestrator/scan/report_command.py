"""`ec2c report --env E`: the latest report of a deployed environment, from its own bucket.

No scan runs. The bucket comes from the stack's outputs (`compliance_bucket_name`, `region`), and
the object is read with the caller's credentials, exactly as `aws s3 cp` would: whoever may read
the reports may see them, without any access to EC2. Any of the scan's formats can be produced
from it (HTML for a person, ASFF/OCSF for a pipeline).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import typer
from botocore.exceptions import BotoCoreError, ClientError

from ..console import err, print_data
from ..deploy.commands import ConfigDirOpt, StackOpt
from ..errors import BadInput, OperationFailed
from . import render as scan_render
from .command import (
    OutputFormat,
    check_aws_environment,
    describe_aws_error,
    emit,
    make_session,
    resolve_output,
    write_output,
)

BUCKET_OUTPUT = "compliance_bucket_name"
REGION_OUTPUT = "region"


def fetch_latest_report(session: Any, bucket: str, region: str) -> dict[str, Any]:
    """`reports/latest.json` of `bucket`; every way it can be missing or unreadable is an
    OperationFailed that says which and what to do."""
    from compliance_scanner.contract import LATEST_REPORT_KEY

    where = f"s3://{bucket}/{LATEST_REPORT_KEY}"
    try:
        body = session.client("s3", region_name=region).get_object(Bucket=bucket, Key=LATEST_REPORT_KEY)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404"):
            raise OperationFailed(f"{where}: no report yet; the analyzer has not completed a scan (its schedule "
                                  "runs it, or invoke the function named in `ec2c outputs`)") from None
        error = exc.response.get("Error", {})
        reason = " ".join(str(error.get("Message", "")).split())
        raise OperationFailed(f"{where}: {code}: {reason} (read with the caller's credentials)") from None
    except BotoCoreError as exc:
        raise OperationFailed(f"{where}: {describe_aws_error(exc)}") from None
    try:
        report = json.loads(body)
    except ValueError:
        raise OperationFailed(f"{where}: not a JSON report") from None
    if not isinstance(report, dict) or "summary" not in report:
        raise OperationFailed(f"{where}: not a compliance report (no summary)")
    return report


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
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write the report to FILE."),
    limit: int = typer.Option(scan_render.DEFAULT_LIMIT, "--limit", min=0, help="Rows of the findings table (0: all)."),
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
    from compliance_scanner.contract import LATEST_REPORT_KEY

    region = str(outputs.get(REGION_OUTPUT) or environment.aws.region)
    check_aws_environment(os.environ)
    latest = fetch_latest_report(make_session(), str(bucket), region)
    err.print(f"Latest report of {env}: s3://{bucket}/{LATEST_REPORT_KEY}", style="dim", markup=False, highlight=False)
    emit(latest, output_format, output_path, limit, {}, region)


def _estate(plan: Path, config_dir: Path | None, fmt: OutputFormat, output: Path | None, workers: int) -> None:
    from ..fleet.command import estate_csv, estate_report, render_estate

    if fmt not in (OutputFormat.table, OutputFormat.json, OutputFormat.csv, OutputFormat.html):
        raise BadInput(f"--plan: --format {fmt.value} is not available for an estate report (table, json, csv or html)")
    estate = estate_report(plan, config_dir, workers)
    if fmt is OutputFormat.html:
        from ..fleet.estate_html import to_html

        text = to_html(estate)
    elif fmt is OutputFormat.csv:
        text = estate_csv(estate)
    else:  # json, and the file of --format table
        text = json.dumps(estate, sort_keys=True, default=str) + "\n"
    if fmt is OutputFormat.table:
        render_estate(estate)
    if output is not None:
        write_output(output, text)
        err.print(f"Estate report written to {output}", style="dim", markup=False)
    elif fmt is not OutputFormat.table:
        print_data(text)
    if estate["partial"]:
        raise OperationFailed(f"the estate report is partial: {len(estate['unread_targets'])} target(s) not read")
