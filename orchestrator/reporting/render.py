"""Human rendering of a scan report: rich tables for the terminal (stderr).

Works from a `ec2c.scanner.reports.reader.Report` alone (a fresh scan's, or one read back from a
bucket or a folder), so it can render a report from anywhere. Layout choices for an 80-column
terminal with many findings: findings are sorted by severity, the resource cell stacks name over
id and region, messages wrap, and the table stops after `limit` rows with a pointer to the full
JSON/CSV.

Bounded memory. A report's failures are streamed from its shards, never listed: one pass keeps
the `limit` most severe in a heap (`heapq.nsmallest`) and counts the rest by severity, type and
suppression (`FailureTally`), so the "... N more" line is exact whatever the report's size.
`--limit 0` asks for every row, which no heap bounds: it is capped at `MAX_ROWS`, and the "more"
line says so. The summary line alone (under JSON or CSV on stdout) reads only the index.

Resource types. A report's failures are instance, launch template and default security group
findings plus the FAILs of the account guardrails (`Report.failures`). The findings table shows
them in one section per type, in this order: instances, launch templates, security groups,
account guardrails; a report holding only instance findings (schema 1, or nothing else failed)
shows no section headings. Launch templates and security groups are labelled by their Name tag
when they have one, and always by id; account guardrails by `account <id>` and the region (one
account's settings differ per region).

The `limit` is applied over all failures together, most severe unsuppressed first whatever their
type, and only then are the rows shown split into sections: a long tail of low instance findings
cannot push a high account finding out of view. Each section heading says how many of its
type's failures it shows, and the "... N more findings" line counts everything left out.

Account guardrails that PASS or are SKIPPED are not failures and never appear in the findings
table; a compact matrix (rule x region: FAIL / pass / skipped) summarises all their results.

A finding a change record re-evaluated since the full scan (`ec2c report --env`, see
`ec2c.scanner.changes.overlay`) says so under its message: `changed: re-evaluated <time>`.

Every string from AWS or a user (tags, names, messages, regions, rule ids) is a rich `Text`,
never parsed as console markup.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from ec2c.scanner.documents import Summary, format_rate, format_time
from ec2c.scanner.registry import ACCOUNT, INSTANCE, RESOURCE_TYPE_KEYS, RESOURCE_TYPES, SEVERITIES, Severity

if TYPE_CHECKING:  # the reader pulls in the rules and the policy: the CLI starts without them
    from ec2c.scanner.reports.reader import Report

SEVERITY_ORDER: tuple[str, ...] = tuple(severity.value for severity in SEVERITIES)
SEVERITY_STYLE: dict[str, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFORMATIONAL: "dim",
}
SEVERITY_LABEL: dict[str, str] = {severity.value: severity.label for severity in SEVERITIES}
RESOURCE_TYPE_ORDER: tuple[str, ...] = RESOURCE_TYPE_KEYS
RESOURCE_TYPE_HEADING: dict[str, str] = {kind.key: kind.heading for kind in RESOURCE_TYPES}
RESOURCE_TYPE_COLUMN: dict[str, str] = {kind.key: kind.column for kind in RESOURCE_TYPES}
RESOURCE_TYPE_NOUN: dict[str, str] = {kind.key: kind.noun for kind in RESOURCE_TYPES}
OTHER_RESOURCE_NOUNS: tuple[tuple[str, str, str], ...] = tuple(
    (kind.key, kind.unit, kind.units) for kind in RESOURCE_TYPES if kind.key != INSTANCE
)
"""The types counted apart from instances in a summary line: (type, one, many); an account is
counted per region, as its guardrails are."""
STATUS_CELL: dict[str, tuple[str, str]] = {
    "FAIL": ("FAIL", "bold red"),
    "PASS": ("pass", "green"),
    "SKIPPED": ("skipped", "yellow"),
}
DEFAULT_LIMIT = 40
MAX_ROWS = 5_000
"""The most rows a table shows, `--limit 0` included: the rows shown are held in memory (a heap
while the report streams past), so "all" has to stop somewhere; the rest are counted."""
FLAT_MIN_WIDTH = 140


def severity_rank(severity: str | None) -> int:
    """0 for critical ... 4 for informational; unknown severities sort last."""
    return Severity.rank_of(severity)


def severity_text(severity: str | None, *, dim: bool = False) -> Text:
    sev = (severity or "").lower()
    label = SEVERITY_LABEL.get(sev, sev.upper() or "?")
    return Text(label, style="dim" if dim else SEVERITY_STYLE.get(sev, ""))


def resource_type(finding: Mapping[str, Any]) -> str:
    """The finding's `resource_type`; a schema 1 finding (without one) is an instance's."""
    return str(finding.get("resource_type") or INSTANCE)


def resource_type_rank(kind: str) -> int:
    """Instances, launch templates, security groups, account guardrails, then any type this version
    does not know."""
    try:
        return RESOURCE_TYPE_ORDER.index(kind)
    except ValueError:
        return len(RESOURCE_TYPE_ORDER)


def resource_id(finding: Mapping[str, Any]) -> str:
    """The instance, launch template, security group or account id (`instance_id` for a schema 1
    finding)."""
    return str(finding.get("resource_id") or finding.get("instance_id") or "")


def _name(finding: Mapping[str, Any]) -> str:
    """The Name tag (instances, launch templates, security groups); an account has none."""
    if resource_type(finding) == ACCOUNT:
        return ""
    tags = finding.get("tags") or {}
    return str(tags.get("Name") or "") if isinstance(tags, Mapping) else ""


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [f for f in value if isinstance(f, Mapping)] if isinstance(value, (list, tuple)) else []


def table_order(finding: Mapping[str, Any]) -> tuple[Any, ...]:
    """The order people read failures in: unsuppressed first, then by severity, resource type,
    region, name/id, rule (a sort key)."""
    return (
        bool(finding.get("suppressed")),
        severity_rank(finding.get("severity")),
        resource_type_rank(resource_type(finding)),
        str(finding.get("region") or ""),
        _name(finding) or "~",
        resource_id(finding),
        str(finding.get("rule_id") or ""),
    )


def sort_findings(findings: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """`findings` in `table_order` (for lists already bounded; a report's stream goes through
    `top_failures`)."""
    return sorted(findings, key=table_order)


TallyKey = tuple[str, bool, str]
"""(severity, suppressed, resource type): what the "more" line breaks hidden failures down by."""


@dataclass
class FailureTally:
    """Every failure of a report counted in the pass that picked the rows shown: a handful of
    counters (keys are severities, types and rules), whatever the report's size."""

    counts: Counter[TallyKey] = field(default_factory=Counter)
    severities: dict[str, str] = field(default_factory=dict)
    """rule id -> severity of its first failure (the rules table's severity column when no policy
    says, as for `ec2c report`)."""
    titles: dict[str, str] = field(default_factory=dict)
    """rule id -> title of its first failure that has one."""

    def add(self, finding: Mapping[str, Any]) -> None:
        self.counts[_tally_key(finding)] += 1
        rule_id = str(finding.get("rule_id") or "")
        self.severities.setdefault(rule_id, str(finding.get("severity") or ""))
        if finding.get("title"):
            self.titles.setdefault(rule_id, str(finding["title"]))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def suppressed(self) -> int:
        return sum(count for (_, suppressed, _), count in self.counts.items() if suppressed)

    def by_type(self) -> Counter[str]:
        kinds: Counter[str] = Counter()
        for (_, _, kind), count in self.counts.items():
            kinds[kind] += count
        return kinds


def _tally_key(finding: Mapping[str, Any]) -> TallyKey:
    return str(finding.get("severity")), bool(finding.get("suppressed")), resource_type(finding)


def top_failures(failures: Iterable[Mapping[str, Any]], count: int) -> tuple[list[Mapping[str, Any]], FailureTally]:
    """The `count` first failures in `table_order` and the tally of all of them, in one pass over
    the stream (a heap of `count` findings, never a list of every one)."""
    tally = FailureTally()

    def counted() -> Iterator[Mapping[str, Any]]:
        for finding in failures:
            tally.add(finding)
            yield finding

    stream = counted()
    shown = heapq.nsmallest(count, stream, key=table_order) if count > 0 else []
    for _ in stream:  # what nsmallest(0) leaves unread is still counted
        pass
    return shown, tally


def row_limit(limit: int) -> int:
    """`--limit` as a row count: 0 (all) and anything above it become `MAX_ROWS`."""
    return MAX_ROWS if limit <= 0 else min(limit, MAX_ROWS)


def _more_line(hidden: Counter[TallyKey], capped: bool) -> Text:
    """`... N more findings (by severity; suppressed) · by type: where to see them`."""
    total = sum(hidden.values())
    severities: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    suppressed = 0
    for (severity, is_suppressed, kind), count in hidden.items():
        severities[severity] += count
        kinds[kind] += count
        suppressed += count if is_suppressed else 0
    detail = ", ".join(f"{severities[s]} {s}" for s in SEVERITY_ORDER if severities.get(s))
    if suppressed:
        detail += f"; {suppressed} suppressed"
    plural = "s" if total != 1 else ""
    line = f"... {total} more finding{plural} ({detail})"
    if set(kinds) - {INSTANCE}:
        line += " · " + ", ".join(
            f"{kinds[k]} {RESOURCE_TYPE_NOUN.get(k, k)}" for k in sorted(kinds, key=resource_type_rank)
        )
    where = (
        f": the table shows at most {MAX_ROWS:,} rows; see --format json or csv"
        if capped
        else ": see --format json or csv, or --limit 0"
    )
    return Text(line + where, style="dim")


def _message(finding: Mapping[str, Any]) -> Text:
    """The message, then whether it is suppressed and whether a change record re-evaluated it
    since the full scan (`ec2c report --env`)."""
    message = Text(str(finding.get("message") or finding.get("title") or ""))
    if finding.get("suppressed"):
        reason = finding.get("suppression_reason") or "no reason given"
        message.append(f"\nsuppressed: {reason}", style="italic")
    if finding.get("changed_at"):
        message.append(f"\nchanged: re-evaluated {format_time(str(finding['changed_at']))}", style="italic")
    return message


def _severity_cell(finding: Mapping[str, Any]) -> Text:
    suppressed = bool(finding.get("suppressed"))
    cell = severity_text(finding.get("severity"), dim=suppressed)
    if suppressed:
        cell.append("\n(suppr.)", style="dim italic")
    return cell


def _section_heading(kind: str, shown: int, total: int) -> Rule:
    label = RESOURCE_TYPE_HEADING.get(kind, kind)
    count = f"{total}" if shown == total else f"{shown} of {total}"
    return Rule(Text.assemble((label, "bold"), (f" ({count})", "dim")), align="left", style="dim")


def findings_table(
    shown: Sequence[Mapping[str, Any]], tally: FailureTally, *, width: int, capped: bool = False
) -> Group | None:
    """The failures `shown` (already the first ones in `table_order`, see `top_failures`) out of
    all those `tally` counted; None when there are none.

    The rows are split into one section per resource type (instances, launch templates, security
    groups, account guardrails), each headed by its type and how many of that type's failures it
    shows. Only instance findings: no section heading, as before there were other types. When
    rows were left out, a last line counts them (`capped`: because of `MAX_ROWS`, not `--limit`).

    Wide terminals get flat tables (resource and region columns, the same widths in every
    section); narrower ones get the findings grouped under one heading line per resource, so the
    message keeps room.
    """
    if not shown:
        return None
    totals = tally.by_type()
    sections: dict[str, list[Mapping[str, Any]]] = {}
    for finding in shown:
        sections.setdefault(resource_type(finding), []).append(finding)
    kinds = sorted(sections, key=resource_type_rank)
    headed = bool(set(totals) - {INSTANCE})
    flat = width >= FLAT_MIN_WIDTH
    widths = _flat_widths(shown)

    parts: list[Any] = [Text("Findings", style="bold")]
    for kind in kinds:
        rows = sections[kind]
        if headed:
            parts.append(_section_heading(kind, len(rows), totals[kind]))
        parts.append(_flat_table(rows, kind, widths) if flat else _grouped(rows, width))
    hidden = tally.counts - Counter(_tally_key(f) for f in shown)
    if hidden:
        parts.append(_more_line(hidden, capped))
    return Group(*parts)


def _resource_lines(finding: Mapping[str, Any]) -> list[str]:
    name = _name(finding)
    return [name, resource_id(finding)] if name else [resource_id(finding)]


def _flat_widths(shown: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Column widths shared by every section's table, so their columns line up."""
    longest_rule = max((len(str(f.get("rule_id") or "")) for f in shown), default=10)
    longest_resource = max((len(line) for f in shown for line in _resource_lines(f)), default=19)
    longest_region = max((len(str(f.get("region") or "")) for f in shown), default=6)
    return {
        "resource": max(19, min(longest_resource, 26)),
        "region": max(6, longest_region),
        "rule": max(10, min(longest_rule, 34)),
    }


def _resource_cell(finding: Mapping[str, Any]) -> Text:
    suppressed = bool(finding.get("suppressed"))
    cell = Text()
    name = _name(finding)
    if name:
        cell.append(name + "\n", style="" if suppressed else "bold")
    cell.append(resource_id(finding), style="dim")
    return cell


def _flat_table(shown: Sequence[Mapping[str, Any]], kind: str, widths: Mapping[str, int]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    table.add_column("Severity", no_wrap=True, min_width=8)
    table.add_column(RESOURCE_TYPE_COLUMN.get(kind, "Resource"), width=widths["resource"], overflow="fold")
    table.add_column("Region", width=widths["region"], overflow="fold")
    table.add_column("Rule", width=widths["rule"], overflow="fold")
    table.add_column("Message", ratio=1, min_width=20, overflow="fold")
    for finding in shown:
        table.add_row(
            _severity_cell(finding),
            _resource_cell(finding),
            Text(str(finding.get("region", ""))),
            Text(str(finding.get("rule_id", ""))),
            _message(finding),
            style="dim" if finding.get("suppressed") else "",
        )
    return table


def _group_heading(kind: str, items: Sequence[Mapping[str, Any]], region: str, ident: str) -> Text:
    all_suppressed = all(f.get("suppressed") for f in items)
    strong = "dim" if all_suppressed else "bold"
    heading = Text()
    if kind == ACCOUNT:
        heading.append("account ", style="dim")
        heading.append(ident, style=strong)
    else:
        name = _name(items[0])
        heading.append(name or ident, style=strong)
        if name:
            heading.append(f"  {ident}", style="dim")
    heading.append(f"  {region}", style="dim")
    return heading


def _grouped(shown: Sequence[Mapping[str, Any]], width: int) -> Group:
    """One heading per resource (in order of its most severe finding), then its findings: an
    instance or launch template by name and id, an account by `account <id>`, each with its region."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for finding in shown:  # already sorted: first appearance = most severe finding
        key = (resource_type(finding), str(finding.get("region", "")), resource_id(finding))
        groups.setdefault(key, []).append(finding)
    longest_rule = max((len(str(f.get("rule_id") or "")) for f in shown), default=10)
    rule_width = max(14, min(longest_rule, 31 if width >= 90 else 27))

    parts: list[Any] = []
    for (kind, region, ident), items in groups.items():
        parts.append(_group_heading(kind, items, region, ident))
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(width=1)
        grid.add_column(width=9, no_wrap=True)
        grid.add_column(width=rule_width, overflow="fold")
        grid.add_column(ratio=1, overflow="fold")
        for finding in items:
            grid.add_row(
                "",
                _severity_cell(finding),
                Text(str(finding.get("rule_id", ""))),
                _message(finding),
                style="dim" if finding.get("suppressed") else "",
            )
        parts.append(grid)
    return Group(*parts)


def _status_cell(finding: Mapping[str, Any] | None) -> Text:
    if finding is None:
        return Text("-", style="dim")
    status = str(finding.get("status") or "").upper()
    if status == "FAIL" and finding.get("suppressed"):
        return Text("suppr.", style="dim italic")
    label, style = STATUS_CELL.get(status, (status.lower() or "?", ""))
    return Text(label, style=style)


def guardrails_table(
    account_findings: Sequence[Mapping[str, Any]], *, width: int, regions: Sequence[str] = ()
) -> Table | None:
    """Every account guardrail result at a glance: one row per rule (failing ones first, by
    severity), one column per region (FAIL, pass, skipped; `suppr.` for a suppressed FAIL, `-`
    when the rule has no result there). None without account findings.

    Regions come in the order of `regions` (the report's), then any other region a result names.
    When they do not fit across `width`, one Result column lists instead, per rule, the regions
    where it fails, is suppressed or was skipped, and how many pass."""
    results = [f for f in account_findings if isinstance(f, Mapping)]
    if not results:
        return None
    seen = {str(f.get("region") or "") for f in results}
    regions = [r for r in dict.fromkeys(str(r) for r in regions) if r in seen]
    regions += sorted(seen - set(regions))
    by_rule: dict[str, dict[str, Mapping[str, Any]]] = {}
    for finding in results:
        by_rule.setdefault(str(finding.get("rule_id") or ""), {})[str(finding.get("region") or "")] = finding

    def failing(rule: str) -> bool:
        return any(str(f.get("status")).upper() == "FAIL" and not f.get("suppressed") for f in by_rule[rule].values())

    def key(rule: str) -> tuple[int, int, str]:
        worst = min(severity_rank(f.get("severity")) for f in by_rule[rule].values())
        return (0 if failing(rule) else 1, worst, rule)

    rules = sorted(by_rule, key=key)
    rule_width = max(len(rule) for rule in rules)
    region_widths = [max(len(region), 7) for region in regions]
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        title=Text("Account guardrails by region", style="bold"),
        title_justify="left",
    )
    table.add_column("Rule", overflow="fold")
    if rule_width + sum(w + 3 for w in region_widths) <= width:  # a column: 1 pad + 1 divider + 1 pad
        for region in regions:
            table.add_column(Text(region), no_wrap=True)
        for rule in rules:
            table.add_row(Text(rule), *(_status_cell(by_rule[rule].get(region)) for region in regions))
        return table

    table.add_column("Result", ratio=1, overflow="fold")
    for rule in rules:
        by_status: dict[str, list[str]] = {}
        for region in regions:
            in_region = by_rule[rule].get(region)
            if in_region is None:
                continue
            status = str(in_region.get("status") or "").upper()
            if status == "FAIL" and in_region.get("suppressed"):
                status = "SUPPRESSED"
            by_status.setdefault(status, []).append(region)
        cell = Text()
        for status, style in (("FAIL", "bold red"), ("SUPPRESSED", "dim italic"), ("SKIPPED", "yellow")):
            if by_status.get(status):
                if cell:
                    cell.append(" · ", style="dim")
                cell.append(status.lower() if status != "FAIL" else status, style=style)
                cell.append(" " + ", ".join(by_status[status]))
        passed = len(by_status.get("PASS", []))
        if passed:
            if cell:
                cell.append(" · ", style="dim")
            cell.append(f"pass {passed} region{'s' if passed != 1 else ''}", style="green")
        table.add_row(Text(rule), cell)
    return table


def rules_table(summary: Summary, severities: Mapping[str, str]) -> Table | None:
    """Per-rule counts: failing rules first (by severity), then the ones that passed everywhere."""
    by_rule: Mapping[str, Mapping[str, Any]] = summary["by_rule"]
    if not by_rule:
        return None
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        title=Text("Rules", style="bold"),
        title_justify="left",
    )
    table.add_column("Rule", overflow="fold")
    table.add_column("Severity", no_wrap=True)
    table.add_column("Failed", justify="right")
    table.add_column("Suppr.", justify="right")
    table.add_column("Passed", justify="right")

    def key(item: tuple[str, Mapping[str, Any]]) -> tuple[int, int, int, str]:
        rule_id, counts = item
        active = int(counts.get("failed", 0)) - int(counts.get("suppressed", 0))
        return (0 if active > 0 else 1, severity_rank(severities.get(rule_id)), -active, rule_id)

    for rule_id, counts in sorted(by_rule.items(), key=key):
        failed = int(counts.get("failed", 0))
        suppressed = int(counts.get("suppressed", 0))
        passed = int(counts.get("passed", 0))
        active = failed - suppressed
        fail_cell = Text(str(failed), style="bold red" if active > 0 else ("dim" if failed else "green"))
        table.add_row(
            Text(rule_id, style="" if active > 0 else "dim"),
            severity_text(severities.get(rule_id), dim=active <= 0),
            fail_cell,
            Text(str(suppressed), style="dim"),
            Text(str(passed), style="green" if passed else "dim"),
        )
    return table


def group_errors(errors: Sequence[Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    """One row per (operation, code, message): a gap shared by every region is said once."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    first: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for error in errors:
        key = (str(error.get("operation") or ""), str(error.get("code") or ""), str(error.get("message") or ""))
        grouped.setdefault(key, []).append(str(error.get("region") or "-"))
        first.setdefault(key, error)
    return [(", ".join(regions), first[key]) for key, regions in grouped.items()]


def errors_table(errors: Sequence[Mapping[str, Any]]) -> Table | None:
    if not errors:
        return None
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        expand=True,
        title=Text("Errors (these regions or checks were not fully scanned)", style="bold red"),
        title_justify="left",
    )
    table.add_column("Region", overflow="fold")
    table.add_column("Operation", overflow="fold")
    table.add_column("Code", overflow="fold")
    table.add_column("Message", ratio=1, overflow="fold")
    for regions, error in group_errors(errors):
        table.add_row(
            Text(regions),
            Text(str(error.get("operation") or "-")),
            Text(str(error.get("code") or "-"), style="red"),
            Text(str(error.get("message") or "")),
        )
    return table


def _other_types_text(summary: Summary) -> Text | None:
    """`1 of 2 launch templates, 1 of 4 security groups, 2 of 3 account regions non-compliant` from
    `summary.by_resource_type`, for the types other than instances that were evaluated (a report
    of an older version lacks the newer types)."""
    by_type = summary["by_resource_type"]
    text = Text()
    for kind, one, many in OTHER_RESOURCE_NOUNS:
        counts = by_type.get(kind)
        if counts is None:
            continue
        evaluated, failing = int(counts["evaluated"]), int(counts["non_compliant"])
        if evaluated <= 0:
            continue
        if text:
            text.append(", ")
        text.append(f"{failing}", style="bold red" if failing else "bold green")
        text.append(f" of {evaluated} {one if evaluated == 1 else many}")
    if not text:
        return None
    text.append(" non-compliant")
    return text


def failure_counts(report: Report) -> tuple[int, int]:
    """(failures, suppressed failures) from the index alone: each region's count of findings plus
    the failing account guardrails, and the suppressed part as `summary.by_rule` counts it (a
    suppression only ever covers a FAIL)."""
    index = report.index
    total = sum(entry["findings"] for entry in index["region_shards"])
    total += sum(1 for f in index["account_findings"] if f["status"] == "FAIL")
    suppressed = sum(int(counts.get("suppressed") or 0) for counts in report.summary["by_rule"].values())
    return total, min(suppressed, total)


def _rate_style(rate: float | None) -> str:
    if rate is None:
        return "green"
    return "green" if rate >= 90 else ("yellow" if rate >= 70 else "bold red")


def summary_text(report: Report, tally: FailureTally | None = None) -> Text:
    """One line: instances, compliant, non-compliant, rate, the other resource types, findings
    (every failure: instances, launch templates, security groups and account guardrails), errors,
    partial. The failures are counted by `tally` when a table pass made one, else from the index."""
    summary = report.summary
    index = report.index
    total = int(summary["total_instances"])
    compliant = int(summary["compliant_instances"])
    non_compliant = int(summary["non_compliant_instances"])
    unevaluated = int(summary["unevaluated_instances"])
    rate = summary["compliance_rate"]
    errors = len(index["errors"])
    findings, suppressed = (tally.total, tally.suppressed) if tally is not None else failure_counts(report)

    line = Text()
    line.append(f"{total}", style="bold")
    line.append(" instances · ")
    line.append(f"{compliant}", style="bold green")
    line.append(" compliant · ")
    line.append(f"{non_compliant}", style="bold red" if non_compliant else "bold green")
    line.append(" non-compliant · ")
    if unevaluated:
        line.append(f"{unevaluated}", style="bold yellow")
        line.append(" not fully evaluated · ")
    line.append("compliance ")
    line.append(format_rate(rate), style=_rate_style(rate))
    others = _other_types_text(summary)
    if others is not None:
        line.append(" · ")
        line.append_text(others)
    line.append(" · ")
    line.append(f"{findings - suppressed} findings", style="bold" if findings else "")
    if suppressed:
        line.append(f" (+{suppressed} suppressed)", style="dim")
    line.append(" · ")
    line.append(f"{errors} error{'s' if errors != 1 else ''}", style="bold red" if errors else "")
    if index["partial"]:
        line.append(" · ")
        line.append("PARTIAL", style="bold yellow")
    return line


def header_text(report: Report) -> Text:
    index = report.index
    text = Text()
    text.append("EC2 compliance scan", style="bold")
    if index["account_id"]:
        text.append(f"  account {index['account_id']}", style="dim")
    if index["regions"]:
        text.append(f"  regions {', '.join(index['regions'])}", style="dim")
    if index["generated_at"]:
        text.append(f"  at {format_time(index['generated_at'])}", style="dim")
    return text


def render_report(
    console: Console,
    report: Report,
    *,
    severities: Mapping[str, str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> None:
    """Print the whole human view of a report to `console`: its failures streamed once (the
    rows shown and the counts of the rest), everything else from the index."""
    rows = row_limit(limit)
    shown, tally = top_failures(report.failures(), rows)
    account_findings = _mappings(report.index["account_findings"])
    severities = dict(severities or {})
    for rule_id, severity in tally.severities.items():
        severities.setdefault(rule_id, severity)
    for finding in account_findings:
        severities.setdefault(str(finding.get("rule_id") or ""), str(finding.get("severity") or ""))

    console.print(header_text(report))
    console.print()
    capped = (limit <= 0 or limit > MAX_ROWS) and tally.total > rows
    findings = findings_table(shown, tally, width=console.width, capped=capped)
    if findings is None:
        console.print(Text("No findings: every scanned resource passed every enabled rule.", style="green"))
    else:
        console.print(findings)
    console.print()
    guardrails = guardrails_table(account_findings, width=console.width, regions=report.index["regions"])
    if guardrails is not None:
        console.print(guardrails)
        console.print()
    rules = rules_table(report.summary, severities)
    if rules is not None:
        console.print(rules)
        console.print()
    errors = errors_table(report.index["errors"])
    if errors is not None:
        console.print(errors)
        console.print()
    console.print(summary_text(report, tally))


def render_summary_line(console: Console, report: Report) -> None:
    """The summary line alone, from the index (no finding is read)."""
    console.print(summary_text(report))
