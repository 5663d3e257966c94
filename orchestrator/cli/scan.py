"""`ec2c scan`: scan EC2 instances from a workstation or CI (the service: `scan.local`).

The store is the `--output DIR/` folder, laid out as the analyzer's bucket (so the previous run
there is the history: first seen, new, resolved), or a temporary folder removed afterwards.

Exit codes: 0 the scan completed (even with findings, unless `--fail-on` trips), 1 the scan could
not run or every region failed or `--fail-on` found something, 2 bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ec2c.scanner.contract import LATEST_REPORT_KEY

from ..console import err
from ..errors import OperationFailed
from ..reporting.files import resolve_scan_output
from ..reporting.formats import OutputFormat
from .guard import guard
from .options import DEFAULT_LIMIT, FailOnOpt, FormatOpt, LimitOpt, RegionsOpt, ScanOutputOpt
from .progress import TerminalFeedback

REST_AT = "the CSV or JSON of the scan (--format csv or json; --output DIR/ also keeps the per-region CSV shards)"
"""Where the HTML page of a scan without a folder says every finding is."""


@guard
def scan(
    demo: Annotated[
        bool, typer.Option("--demo", help="Scan an embedded demo fleet (moto): no AWS account or network needed.")
    ] = False,
    regions: RegionsOpt = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            "-p",
            metavar="FILE",
            help="Rule policy (YAML or JSON): a policy document or an environment file with a `policy:` key.",
        ),
    ] = None,
    output_format: FormatOpt = OutputFormat.table,
    output: ScanOutputOpt = None,
    fail_on: FailOnOpt = None,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="With --fail-on: do not fail because some regions could not be scanned completely.",
        ),
    ] = False,
    security_hub: Annotated[
        bool,
        typer.Option(
            "--security-hub",
            help="Import the findings into Security Hub (BatchImportFindings, the account's default product in the "
            "SDK's region) and archive the ones this scan shows fixed (never where a region or a read failed).",
        ),
    ] = False,
    region_workers: Annotated[
        int,
        typer.Option(
            "--region-workers",
            min=1,
            max=32,
            help="Regions scanned at once (lower it if the account's API rate limits are tight).",
        ),
    ] = 4,
    limit: LimitOpt = DEFAULT_LIMIT,
) -> None:
    """Scan EC2 instances against the compliance policy and report the findings."""
    from ..reporting.writers import emit
    from ..scan import gate
    from ..scan.local import ScanRequest, local_scan
    from ..scan.regions import parse_regions

    region_list = parse_regions(regions)
    target = resolve_scan_output(output, output_format)
    request = ScanRequest(
        demo=demo,
        regions=tuple(region_list),
        policy=policy,
        folder=target.folder,
        region_workers=region_workers,
        security_hub=security_hub,
    )
    with local_scan(request, TerminalFeedback()) as result:
        rest_at = None if target.folder is not None else REST_AT
        emit(result.report, output_format, target.file, limit, result.severities, result.hub_region, rest_at)
        if target.folder is not None:
            err.print(
                f"Report stored in {result.store.uri(LATEST_REPORT_KEY)} (with its shards)",
                style="dim",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        for warning in gate.expired_suppressions(result.report):
            err.print(warning, markup=False, highlight=False)
        if result.imported is not None:
            err.print(result.imported.summary(), markup=False, highlight=False)
            if not result.imported.ok:
                raise OperationFailed(
                    f"--security-hub: not every finding was imported into {result.hub_region}; see above"
                )
        gate.check_regions(result.report, result.regions)
        gate.check_gate(result.report, fail_on, allow_partial)
