"""`ec2c status --plan P` and the data behind `ec2c report --plan P`.

Both read every target of a rollout plan in parallel (`--workers` at a time): the stack through
the Automation API, the latest report's index from the bucket its outputs name, with the caller's
credentials. Exit 0 when every target could be read and its last update succeeded, else 1.
The estate's findings stay in the targets' shards and are streamed by the format written
(`estate.Estate`), never gathered in memory.
"""

from __future__ import annotations

import csv
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from ec2c.scanner.documents import format_rate
from rich.table import Table
from rich.text import Text

from ..console import err, print_json
from ..deploy.commands import ConfigDirOpt, JsonOpt
from ..errors import OperationFailed

if TYPE_CHECKING:
    from collections.abc import Callable

    from ec2c.scanner.reader import Report

    from .estate import Estate

PlanOpt = Annotated[Path, typer.Option("--plan", help="Rollout plan (YAML): every target of its waves.")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=64, help="Targets read at once.")]
DEFAULT_WORKERS = 8


def _plan_targets(plan: Path, config_dir: Path | None) -> tuple[Any, list[Any]]:
    """The config folder and every target of the plan's waves, in plan order."""
    from ..deploy.environments import locate_config_dir
    from ..deploy.rollout import load_plan

    config = locate_config_dir(config_dir)
    return config, [target for _, _, wave in load_plan(plan, config).waves for target in wave]


def latest_reader(session: Any) -> Callable[[str, str], Report]:
    """`fetch(bucket, region)`: the latest report of a bucket, read with `session`'s credentials;
    a ReportReadError (one line: the object, then why) when there is none or it is unusable."""
    from ec2c.scanner.contract import LATEST_REPORT_KEY
    from ec2c.scanner.reader import load_latest
    from ec2c.scanner.storage import ReportReadError, S3Store

    lock = threading.Lock()  # a boto3 session is not thread-safe; the clients it makes are

    def fetch(bucket: str, region: str) -> Report:
        with lock:
            client = session.client("s3", region_name=region)
        store = S3Store(client, bucket)
        report = load_latest(store)
        if report is None:
            raise ReportReadError(store.uri(LATEST_REPORT_KEY), "no report yet; the analyzer has not completed a "
                                  "scan (its schedule runs it, or `ec2c run --env <env>` starts one now)")  # fmt: skip
        return report

    return fetch


def read_plan(plan: Path, config_dir: Path | None, workers: int) -> list[Any]:
    """Every target's `TargetStatus`, in plan order."""
    from ec2c.stacks import packaging

    from ..engine.pulumi_cli import require_engine
    from ..scan.command import check_aws_environment, make_session
    from .status import read_all, read_target

    config, targets = _plan_targets(plan, config_dir)
    engine = require_engine()
    local = packaging.code_sha256(packaging.archive_members())
    check_aws_environment(os.environ)
    fetch = latest_reader(make_session())
    return read_all(targets, lambda target: read_target(target, config.root, engine, local, fetch), workers)


def _cell(value: Any) -> Text:
    return Text("-" if value is None else str(value))


def _minutes(stamp: str | None) -> str:
    """`2026-11-26T13:05:55Z` -> `11-26 13:05` (UTC): a table cell, not a log line (--json has it all)."""
    return (stamp or "")[5:16].replace("T", " ")


def _problems(problems: dict[str, str | None]) -> None:
    """Why targets could not be read, one line each under the table (too long for a cell)."""
    for target, problem in problems.items():
        if problem:
            err.print(Text(f"{target}: {problem}", style="red"))


def _rate(value: Any) -> Text:
    return Text(format_rate(value))


def status(plan: PlanOpt, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False,
           workers: WorkersOpt = DEFAULT_WORKERS) -> None:  # fmt: skip
    """Show every target of a plan: stack, last update, scanner code, last scan."""
    rows = read_plan(plan, config_dir, workers)
    if as_json:
        print_json([row.to_dict() for row in rows])
    else:
        table = Table(title=f"{len(rows)} targets", title_justify="left")
        for column in ("target", "account", "region", "stack", "updated (UTC)", "code", "last scan", "rate", "errors"):
            table.add_column(column, no_wrap=True)
        for row in rows:
            table.add_row(
                Text(f"{row.env}/{row.stack}"), _cell(row.account_id), Text(row.region),
                Text(row.last_result or "exists", style="red" if row.last_result == "failed" else "")
                if row.exists else Text("missing", style="red"),
                Text(_minutes(row.last_update) or "-"),
                Text(row.code, style="yellow" if row.code != "current" else ""),
                Text(_minutes(row.last_scan) or "-"), _rate(row.compliance_rate), _cell(row.scan_errors),
            )  # fmt: skip
        err.print(table)
        _problems({f"{row.env}/{row.stack}": row.problem for row in rows})
    bad = [f"{row.env}/{row.stack}" for row in rows if not row.healthy]
    if bad:
        raise OperationFailed(f"{len(bad)} of {len(rows)} targets unreadable or failed: {', '.join(bad)}")


def estate_report(plan: Path, config_dir: Path | None, workers: int) -> Estate:
    """Every target read and tallied, `workers` at a time (an `estate.Estate`)."""
    from ec2c.scanner.documents import iso_utc

    from .estate import Estate

    rows = read_plan(plan, config_dir, workers)
    return Estate([row.as_target_report() for row in rows], iso_utc(datetime.now(timezone.utc)), workers)


ESTATE_FORMATS = ("json", "csv", "html")


def write_estate(estate: Estate, kind: str, out: TextIO) -> None:
    """The estate as `kind` (one of ESTATE_FORMATS), streamed into `out`: JSON and CSV hold every
    failure, tagged with its target (CSV: a `target` column before the report's columns); the
    HTML page the most severe `estate.FINDINGS_SHOWN` beside the totals."""
    from . import estate as estate_module

    if kind == "csv":
        writer = csv.writer(out)
        for row in estate.csv_rows():
            writer.writerow(row)
    elif kind == "html":
        from .estate_html import to_html

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
            Text(f"{row['env']}/{row['stack']}"), _cell(row.get("account_id")), Text(row["region"]),
            Text(_minutes(row.get("generated_at")) or "not read", style="" if row["readable"] else "red"),
            _rate(row.get("compliance_rate")), _cell(row.get("errors")),
        )  # fmt: skip
    err.print(targets)
    summary = document["summary"]
    for title, key in (("by account", "by_account"), ("by region", "by_region")):
        table = Table(title=title, title_justify="left")
        for column in (title.split()[-1], "instances", "compliant", "non-compliant", "rate"):
            table.add_column(column)
        for name, counts in summary[key].items():
            table.add_row(Text(name), str(counts["total_instances"]), str(counts["compliant_instances"]),
                          str(counts["non_compliant_instances"]), _rate(counts["compliance_rate"]))  # fmt: skip
        err.print(table)
    line = Text(
        f"estate: {summary['total_instances']} instances · {summary['compliant_instances']} compliant · "
        f"{summary['non_compliant_instances']} non-compliant · compliance "
    )
    line.append_text(_rate(summary["compliance_rate"]))
    line.append(f" · {summary['findings_total']} findings")
    err.print(line)
    if document["partial"]:
        _problems({u["target"]: u["reason"] for u in document["unread_targets"]})
        unread = ", ".join(u["target"] for u in document["unread_targets"]) or "a target's own report is partial"
        err.print(Text(f"PARTIAL: not read: {unread}; never counted compliant", style="yellow"))


def drift(plan: PlanOpt, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False,
          workers: WorkersOpt = DEFAULT_WORKERS) -> None:  # fmt: skip
    """Show which resources of each target differ from its state (a refresh preview: writes nothing)."""
    from ..engine.pulumi_cli import require_engine
    from .drift import detect
    from .status import read_all

    config, targets = _plan_targets(plan, config_dir)
    engine = require_engine()
    rows = read_all(targets, lambda target: detect(target, config.root, engine), workers)
    if as_json:
        print_json([row.to_dict() for row in rows])
    else:
        table = Table(title=f"drift of {len(rows)} targets", title_justify="left")
        for column in ("target", "region", "drifted resources", "changed", "problem"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(
                Text(f"{row.env}/{row.stack}"), Text(row.region),
                Text("\n".join(f"{r.op} {r.urn.split('::')[-1]} ({r.type})" for r in row.resources) or "none"),
                Text("\n".join(", ".join(r.changed) or "-" for r in row.resources)),
                Text(row.problem or "", style="red"),
            )  # fmt: skip
        err.print(table)
    drifted = [f"{row.env}/{row.stack}" for row in rows if row.drifted]
    failed = [f"{row.env}/{row.stack}" for row in rows if row.problem]
    if drifted or failed:
        parts = ([f"drift in {', '.join(drifted)}"] if drifted else []) + (
            [f"not read: {', '.join(failed)}"] if failed else []
        )
        raise OperationFailed("; ".join(parts))
