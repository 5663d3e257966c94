"""`ec2c report --env E`: the latest report of a deployed environment, from its own bucket.

No scan runs. The bucket comes from the stack's outputs (`compliance_bucket_name`, `region`), and
the object is read with the caller's credentials, exactly as `aws s3 cp` would: whoever may read
the reports may see them, without any access to EC2. Any of the scan's formats can be produced
from it (HTML for a person, ASFF/OCSF for a pipeline).
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import typer
from botocore.exceptions import BotoCoreError, ClientError

from ..console import err
from ..deploy.commands import ConfigDirOpt, EnvOpt, StackOpt
from ..errors import OperationFailed
from . import render as scan_render
from .command import OutputFormat, check_aws_environment, describe_aws_error, emit, make_session, resolve_output

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
        raise OperationFailed(f"{where}: {describe_aws_error(exc)}") from None
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
    env: EnvOpt,
    stack: StackOpt = None,
    config_dir: ConfigDirOpt = None,
    output_format: OutputFormat = typer.Option(
        OutputFormat.table, "--format", "-f", case_sensitive=False,
        help="table, json, csv, html, asff or ocsf (as `ec2c scan`).",
    ),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write the report to FILE."),
    limit: int = typer.Option(scan_render.DEFAULT_LIMIT, "--limit", min=0, help="Rows of the findings table (0: all)."),
) -> None:
    """Show the latest report of a deployed environment (read from its bucket; no scan runs)."""
    from ..deploy.commands import stack_outputs

    output_path = resolve_output(output, output_format) if output is not None else None
    outputs, environment = stack_outputs(env, stack, config_dir)
    bucket = outputs.get(BUCKET_OUTPUT)
    if not bucket:
        raise OperationFailed(
            f"stack {environment.stack_name if stack is None else stack}: no `{BUCKET_OUTPUT}` output; "
            f"deploy it first (`ec2c up --env {env}`)"
        )
    region = str(outputs.get(REGION_OUTPUT) or environment.aws.region)
    check_aws_environment(os.environ)
    latest = fetch_latest_report(make_session(), str(bucket), region)
    err.print(f"Latest report of {env}: s3://{bucket}/reports/latest.json", style="dim", markup=False, highlight=False)
    emit(latest, output_format, output_path, limit, {}, region)
