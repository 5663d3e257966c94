"""One estate report from the latest reports of many targets, without holding their findings.

Rates are computed from instance counts, never averaged: a 10-instance account at 50% and a
1,000-instance account at 100% make an estate at 99.5%, not 75%. A target whose report could not
be read is listed with its reason and makes the estate partial; it is never counted compliant.

Each target's report is a `ec2c.scanner.reports.reader.Report` (schema 3 index and shards, or a
schema 1/2 document upgraded by `load_report`). Building an estate reads each one twice at most:

1. **Tally** (`tally`, in parallel across targets): the target's findings are streamed once to
   count them, to count its non-compliant instances per region (a set of instance ids per region,
   dropped when the region is done: bounded by that region's instances, never by the estate), and
   to prove every shard readable. A missing or corrupt shard makes the target unreadable here,
   before any output is written, so every format agrees on what was read.
2. **Output**: JSON and CSV stream every finding again, tagged with its target; the HTML page
   keeps only the first `FINDINGS_SHOWN` in the order it lists them (`render.table_order`:
   open before suppressed, then by severity) with `heapq.nsmallest` over the targets' chained
   streams, and shows the totals. The table shows the totals only.

An object that becomes unreadable between the two (a deletion, a lifecycle rule) marks its target
unreadable in everything built after: the counts of the JSON document (written after its
findings) and the HTML page exclude it, and the estate is partial. Findings of that target
already written to JSON or CSV stay there.

Per region: a schema 3 index has each region's instance count, and the tally its non-compliant
instances, so a multi-region target's instances go under each of its regions when that split is
exact: the per-region counts add up to the summary's, and its unevaluated instances (which a
region's index entry does not count) are none or all in the one region with instances. Otherwise
(schema 1 and 2 reports, whose index has no instance counts, and the inexact case) the target's
instances go under its regions' joined names (`eu-west-1+us-east-1`), as before schema 3: a guess
would misstate the heat map.

The estate document (`ESTATE_SCHEMA`) keeps version 1: no key was removed or changed type, so
readers of version 1 read it unchanged. Added: `summary.findings_total` and
`summary.findings_suppressed` (every failure of the readable targets and the suppressed part, from
the tally), which the HTML page needs once its list is cut. A multi-region schema 3 target now
appears under its real regions in `by_region` and `by_account_region` (same shape; the joined
label remains for the cases above). `findings` holds every failure in the JSON output, and only
the first `FINDINGS_SHOWN` in the document the HTML page is built from (`Estate.top`).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from ec2c.scanner.documents import Finding
from ec2c.scanner.model import FAIL
from ec2c.scanner.registry import INSTANCE
from ec2c.scanner.reports.reader import Report
from ec2c.scanner.reports.report import CSV_COLUMNS
from ec2c.scanner.storage import ReportReadError

from .render import table_order

ESTATE_SCHEMA = "ec2-compliance-estate/1"
FINDINGS_SHOWN = 5_000
"""Findings embedded in the HTML page: the most severe across the estate (the totals are shown)."""
_COUNTS = ("total_instances", "compliant_instances", "non_compliant_instances", "unevaluated_instances")


@dataclass(frozen=True)
class Tally:
    """What streaming a target's findings once tells: instance counts by region label, and how
    many failures (and suppressed failures) it has."""

    regions: Mapping[str, Mapping[str, int]]
    findings: int
    suppressed: int


@dataclass(frozen=True)
class TargetReport:
    """One target of the plan: where it deploys, and its latest report or why there is none."""

    env: str
    stack: str
    account_id: str | None
    region: str
    report: Report | None = None
    reason: str | None = None
    tally: Tally | None = None

    def label(self) -> str:
        return f"{self.env}/{self.stack}"

    def unread(self, reason: str) -> TargetReport:
        return replace(self, report=None, reason=reason, tally=None)


def _counts(summary: Mapping[str, Any]) -> dict[str, int]:
    return {key: int(summary.get(key) or 0) for key in _COUNTS}


def _joined(report: Report) -> str:
    return "+".join(report.index["regions"]) or "unknown"


def tally(report: Report) -> Tally:
    """Stream the report's failures once (see the module docstring); ReportReadError when a shard
    is missing or corrupt."""
    summary = _counts(report.summary)
    entries = report.index["region_shards"] if report.sharded else []
    streams: list[tuple[str, Iterator[Finding]]] = [
        (entry["region"], report.findings(entry["region"])) for entry in entries
    ] or [("", report.findings())]  # generators: each region's shard is opened when its turn comes
    failing: dict[str, int] = {}
    findings = suppressed = 0
    for region, stream in streams:
        instances: set[str] = set()
        for finding in stream:
            findings += 1
            if finding.get("suppressed"):
                suppressed += 1
            elif finding.get("status") == FAIL and (finding.get("resource_type") or INSTANCE) == INSTANCE:
                instances.add(str(finding.get("resource_id") or finding.get("instance_id")))
        failing[region] = len(instances)
    for finding in report.index["account_findings"]:
        if finding.get("status") == FAIL:
            findings += 1
            suppressed += bool(finding.get("suppressed"))
    split = _split(entries, failing, summary)
    return Tally(split if split is not None else {_joined(report): summary}, findings, suppressed)


def _split(
    entries: Sequence[Mapping[str, Any]], failing: Mapping[str, int], summary: Mapping[str, int]
) -> dict[str, dict[str, int]] | None:
    """The summary's instance counts under each region, or None when the index and the tally
    cannot place them exactly."""
    if not entries:
        return None
    populated = [entry["region"] for entry in entries if entry["instances"]]
    unevaluated = summary["unevaluated_instances"]
    if (
        sum(entry["instances"] for entry in entries) != summary["total_instances"]
        or sum(failing.values()) != summary["non_compliant_instances"]
        or (unevaluated and len(populated) != 1)
    ):
        return None
    regions: dict[str, dict[str, int]] = {}
    for entry in entries:
        region, instances = entry["region"], int(entry["instances"])
        here = unevaluated if region in populated else 0
        compliant = instances - failing.get(region, 0) - here
        if compliant < 0:
            return None
        regions[region] = {
            "total_instances": instances,
            "compliant_instances": compliant,
            "non_compliant_instances": failing.get(region, 0),
            "unevaluated_instances": here,
        }
    return regions


def tallied(target: TargetReport) -> TargetReport:
    """The target with its tally, or unread with the one-line reason its report failed."""
    if target.report is None or target.tally is not None:
        return target
    try:
        return replace(target, tally=tally(target.report))
    except ReportReadError as exc:
        return target.unread(str(exc))


def prepare(targets: Sequence[TargetReport], workers: int = 1) -> list[TargetReport]:
    """Every target tallied, `workers` at a time, in plan order."""
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets) or 1))) as pool:
        return list(pool.map(tallied, targets))


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))

    def add(self, counts: Mapping[str, Any]) -> None:
        for key in _COUNTS:
            self.counts[key] += int(counts.get(key, 0) or 0)

    def document(self) -> dict[str, Any]:
        compliant, failing = self.counts["compliant_instances"], self.counts["non_compliant_instances"]
        rated = compliant + failing
        return {**self.counts, "compliance_rate": round(100.0 * compliant / rated, 2) if rated else None}


def _account(target: TargetReport, report: Report) -> str:
    return report.index["account_id"] or target.account_id or "unknown"


def merge(targets: Sequence[TargetReport], generated_at: str) -> dict[str, Any]:
    """The estate document without findings: totals, rates by account, region, rule and
    severity, every target, and the targets that could not be read. A target not tallied yet is
    tallied here (its findings streamed); `prepare` does that in parallel beforehand."""
    targets = [tallied(target) for target in targets]
    estate = _Tally()
    by_account: dict[str, _Tally] = {}
    by_region: dict[str, _Tally] = {}
    by_cell: dict[tuple[str, str], _Tally] = {}
    by_rule: dict[str, dict[str, int]] = {}
    by_severity: dict[str, int] = {}
    findings = suppressed = 0
    rows = []
    for target in targets:
        report = target.report
        row: dict[str, Any] = {
            "env": target.env,
            "stack": target.stack,
            "account_id": target.account_id,
            "region": target.region,
            "readable": report is not None,
            "reason": target.reason,
        }
        rows.append(row)
        if report is None or target.tally is None:
            continue
        index, summary = report.index, report.summary
        account = _account(target, report)
        row.update(
            account_id=account,
            run_id=index["run_id"],
            generated_at=index["generated_at"],
            partial=bool(index["partial"]),
            errors=len(index["errors"]),
            compliance_rate=summary.get("compliance_rate"),
        )
        estate.add(summary)
        by_account.setdefault(account, _Tally()).add(summary)
        for region, counts in target.tally.regions.items():
            by_region.setdefault(region, _Tally()).add(counts)
            by_cell.setdefault((account, region), _Tally()).add(counts)
        rule_table: Mapping[str, Mapping[str, Any]] = summary.get("by_rule") or {}
        for rule_id, rule_counts in rule_table.items():
            merged = by_rule.setdefault(rule_id, {})
            for key, value in rule_counts.items():
                merged[key] = merged.get(key, 0) + int(value)
        severity_counts: Mapping[str, int] = summary.get("by_severity") or {}
        for severity, count in severity_counts.items():
            by_severity[severity] = by_severity.get(severity, 0) + int(count)
        findings += target.tally.findings
        suppressed += target.tally.suppressed
    unread = [row for row in rows if not row["readable"]]
    partial = [row for row in rows if row["readable"] and row.get("partial")]
    return {
        "schema": ESTATE_SCHEMA,
        "generated_at": generated_at,
        "partial": bool(unread or partial),
        "unread_targets": [{"target": f"{r['env']}/{r['stack']}", "reason": r["reason"]} for r in unread],
        "targets": rows,
        "summary": {
            **estate.document(),
            "by_account": {key: tally.document() for key, tally in sorted(by_account.items())},
            "by_region": {key: tally.document() for key, tally in sorted(by_region.items())},
            "by_account_region": [
                {"account_id": account, "region": region, **tally.document()}
                for (account, region), tally in sorted(by_cell.items())
            ],
            "by_rule": by_rule,
            "by_severity": by_severity,
            "findings_total": findings,
            "findings_suppressed": suppressed,
        },
    }


class Estate:
    """The targets of a plan, tallied, and the views of them: the document of counts, every
    finding streamed, the CSV rows, the most severe findings. A target whose report fails while
    its findings are streamed is marked unread from then on (`targets`, `document`)."""

    def __init__(self, targets: Sequence[TargetReport], generated_at: str, workers: int = 1) -> None:
        self.targets = prepare(targets, workers)
        self.generated_at = generated_at

    def document(self) -> dict[str, Any]:
        return merge(self.targets, self.generated_at)

    def _readable(self) -> Iterator[tuple[int, TargetReport, Report]]:
        for position, target in enumerate(self.targets):
            if target.report is not None:
                yield position, target, target.report

    def _failed(self, position: int, exc: ReportReadError) -> None:
        self.targets[position] = self.targets[position].unread(str(exc))

    def findings(self) -> Iterator[dict[str, Any]]:
        """Every failure of every readable target, in plan order, tagged with its `target` and
        (when the finding lacks one) its report's account."""
        for position, target, report in self._readable():
            account, label = _account(target, report), target.label()
            try:
                for finding in report.failures():
                    yield {**finding, "account_id": finding.get("account_id") or account, "target": label}
            except ReportReadError as exc:
                self._failed(position, exc)

    def csv_rows(self) -> Iterator[list[str]]:
        """The header (`target`, then the report's columns), then one row per failure."""
        yield ["target", *CSV_COLUMNS]
        for position, target, report in self._readable():
            try:
                lines = report.csv_lines(leading={"target": target.label()})
                next(lines)  # each report's own header
                yield from lines
            except ReportReadError as exc:
                self._failed(position, exc)

    def top(self, limit: int = FINDINGS_SHOWN) -> dict[str, Any]:
        """The document with the `limit` most severe findings across the estate (what the HTML
        page shows beside the totals)."""
        shown = heapq.nsmallest(limit, self.findings(), key=table_order)
        readable = {t.label() for t in self.targets if t.report is not None}
        return {**self.document(), "findings": [f for f in shown if f["target"] in readable]}

    def write_json(self, out: TextIO) -> None:
        """The estate as one JSON document (keys sorted, as `json.dumps(sort_keys=True)` writes
        it), every finding streamed into `findings`. That key sorts first, so the counts, written
        after it, already exclude a target whose report failed while its findings were written."""
        out.write('{"findings": [')
        for number, finding in enumerate(self.findings()):
            out.write((", " if number else "") + json.dumps(finding, sort_keys=True, default=str))
        document = self.document()
        assert min(document) > "findings", "the document's keys must sort after `findings`"
        out.write("], " + json.dumps(document, sort_keys=True, default=str)[1:] + "\n")
