"""A report in each format, streamed a finding at a time from its shards.

JSON, CSV, ASFF and OCSF are written finding by finding to stdout or the file; the table and the
HTML page keep only the most severe rows (a heap) and count the rest.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from ec2c.scanner.reports.asff import to_asff
from ec2c.scanner.reports.reader import Report

from ..console import err
from ..errors import OperationFailed
from . import render
from .files import open_output
from .formats import OutputFormat, file_format
from .html_report import html_chunks
from .ocsf import to_ocsf

EXPORT_LISTS: dict[str, str] = {
    "findings": "findings",
    "new_findings": "new_findings",
    "resolved_findings": "resolved_findings",
    "unevaluated_resources": "unevaluated",
}
"""The lists the single-file export (`--format json`) holds inline, and the `Report` method that
streams each from the shards; in the index `new_findings` and `resolved_findings` are the counts
of these lists."""


def _compact(document: Any) -> str:
    """Compact JSON: indentation sends json through its pure-Python encoder, which took longer
    than the scan itself on 2,000 instances (`jq .` indents when a person reads it)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)


def _write_array(out: TextIO, items: Iterable[Any]) -> None:
    out.write("[")
    for number, item in enumerate(items):
        if number:
            out.write(",")
        out.write(_compact(item))
    out.write("]")


def write_export(out: TextIO, report: Report) -> None:
    """The single-file export (`docs/report-schema.md`): the index's fields with the findings
    lists inline, keys sorted, each list written finding by finding. Its `region_shards` keep
    their counts but name no shard (`shards: null`): the export carries no store, and
    `load_report` reads it back from its inline lists."""
    fields: dict[str, Any] = {key: value for key, value in report.index.items() if key not in EXPORT_LISTS}
    fields["region_shards"] = [{**entry, "shards": None} for entry in report.index["region_shards"]]
    out.write("{")
    for number, key in enumerate(sorted([*fields, *EXPORT_LISTS])):
        if number:
            out.write(",")
        out.write(json.dumps(key) + ":")
        if key in EXPORT_LISTS:
            _write_array(out, getattr(report, EXPORT_LISTS[key])())
        else:
            out.write(_compact(fields[key]))
    out.write("}\n")


def write_report(
    out: TextIO, report: Report, fmt: OutputFormat, hub_region: str | None = None, rest_at: str | None = None
) -> None:
    """The report in `fmt`, written to `out` piece by piece (never built as one text). ASFF names
    the Security Hub region its findings belong to: `hub_region`, else the first region scanned.
    `rest_at` tells the HTML page where every finding is when it cannot embed them all."""
    if fmt is OutputFormat.csv:
        writer = csv.writer(out)
        for row in report.csv_lines():
            writer.writerow(row)
    elif fmt is OutputFormat.html:
        for chunk in html_chunks(report, rest_at):
            out.write(chunk)
    elif fmt is OutputFormat.asff:
        if not report.index["account_id"]:
            raise OperationFailed("--format asff: the report has no account id (Security Hub findings need one)")
        _write_array(out, to_asff(report, hub_region or (report.index["regions"] or ["us-east-1"])[0]))
        out.write("\n")
    elif fmt is OutputFormat.ocsf:
        try:
            _write_array(out, to_ocsf(report))
        except ValueError as exc:
            raise OperationFailed(f"--format ocsf: {exc}") from None
        out.write("\n")
    else:
        write_export(out, report)


def emit(
    report: Report,
    fmt: OutputFormat,
    output: Path | None,
    limit: int,
    severities: Mapping[str, str],
    hub_region: str | None = None,
    rest_at: str | None = None,
) -> None:
    """Show the report first, then write the file: a write that fails still leaves the table."""
    if fmt is OutputFormat.table:
        render.render_report(err, report, severities=severities, limit=limit)
    elif output is None:
        write_report(sys.stdout, report, fmt, hub_region, rest_at)
        sys.stdout.flush()
        render.render_summary_line(err, report)
    else:
        render.render_summary_line(err, report)
    if output is not None:
        kind = file_format(output, fmt)
        with open_output(output) as out:
            write_report(out, report, kind, hub_region, rest_at)
        err.print(
            f"Report written to {output} ({kind.value})", style="dim", markup=False, highlight=False, soft_wrap=True
        )
