"""An estate (every target of a plan merged) as a terminal view, JSON, CSV or an HTML page, and
the cells the fleet's tables share."""

from __future__ import annotations

import csv
from typing import Any, TextIO

from rich.table import Table
from rich.text import Text

from ec2c.scanner.documents import format_rate

from ..console import err
from . import estate as estate_module
from .estate import Estate
from .estate_html import to_html
from .formats import OutputFormat


def cell(value: Any) -> Text:
    """A table cell: `-` for a value that is not known."""
    return Text("-" if value is None else str(value))


def minutes(stamp: str | None) -> str:
    """`2026-11-26T13:05:55Z` -> `11-26 13:05` (UTC): a table cell, not a log line (--json has it all)."""
    return (stamp or "")[5:16].replace("T", " ")


def rate(value: Any) -> Text:
    """A compliance rate as the reports spell it."""
    return Text(format_rate(value))


def print_problems(problems: dict[str, str | None]) -> None:
    """Why targets could not be read, one line each under the table (too long for a cell)."""
    for target, problem in problems.items():
        if problem:
            err.print(Text(f"{target}: {problem}", style="red"))


def write_estate(estate: Estate, kind: str, out: TextIO) -> None:
    """The estate as `kind` (one of `formats.ESTATE_FORMATS`), streamed into `out`: JSON and CSV hold every
    failure, tagged with its target (CSV: a `target` column before the report's columns); the
    HTML page the most severe `estate.FINDINGS_SHOWN` beside the totals."""
    if kind == OutputFormat.csv:
        writer = csv.writer(out)
        for row in estate.csv_rows():
            writer.writerow(row)
    elif kind == OutputFormat.html:
        out.write(to_html(estate.top(estate_module.FINDINGS_SHOWN)))
    else:
        estate.write_json(out)


def render_estate(estate: Estate) -> None:
    """Targets, then compliance by account and by region, then the estate's totals (the counts
    only: the findings are in the JSON, CSV and HTML outputs)."""
    document = estate.document()
    targets = Table(title="targets", title_justify="left")
    for column in ("target", "account", "region", "last scan", "rate", "errors"):
        targets.add_column(column, no_wrap=True)
    for row in document["targets"]:
        targets.add_row(
            Text(f"{row['env']}/{row['stack']}"),
            cell(row.get("account_id")),
            Text(row["region"]),
            Text(minutes(row.get("generated_at")) or "not read", style="" if row["readable"] else "red"),
            rate(row.get("compliance_rate")),
            cell(row.get("errors")),
        )
    err.print(targets)
    summary = document["summary"]
    for title, key in (("by account", "by_account"), ("by region", "by_region")):
        table = Table(title=title, title_justify="left")
        for column in (title.split()[-1], "instances", "compliant", "non-compliant", "rate"):
            table.add_column(column)
        for name, counts in summary[key].items():
            table.add_row(
                Text(name),
                str(counts["total_instances"]),
                str(counts["compliant_instances"]),
                str(counts["non_compliant_instances"]),
                rate(counts["compliance_rate"]),
            )
        err.print(table)
    line = Text(
        f"estate: {summary['total_instances']} instances · {summary['compliant_instances']} compliant · "
        f"{summary['non_compliant_instances']} non-compliant · compliance "
    )
    line.append_text(rate(summary["compliance_rate"]))
    line.append(f" · {summary['findings_total']} findings")
    err.print(line)
    if document["partial"]:
        print_problems({u["target"]: u["reason"] for u in document["unread_targets"]})
        unread = ", ".join(u["target"] for u in document["unread_targets"]) or "a target's own report is partial"
        err.print(Text(f"PARTIAL: not read: {unread}; never counted compliant", style="yellow"))
