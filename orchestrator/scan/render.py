"""Human rendering of a scan report: rich tables for the terminal (stderr).

Works from the report document alone (the same JSON the Lambda writes to S3), so it can render a
report from anywhere. Layout choices for an 80-column terminal with many findings: findings are
sorted by severity, the instance cell stacks name over id and region, messages wrap, and the table
stops after `limit` rows with a pointer to the full JSON/CSV.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

SEVERITY_ORDER: tuple[str, ...] = ("critical", "high", "medium", "low", "informational")
SEVERITY_STYLE: dict[str, str] = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "informational": "dim",
}
SEVERITY_LABEL: dict[str, str] = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "medium": "MEDIUM",
    "low": "LOW",
    "informational": "INFO",
}
DEFAULT_LIMIT = 40
FLAT_MIN_WIDTH = 140


def severity_rank(severity: str | None) -> int:
    """0 for critical ... 4 for informational; unknown severities sort last."""
    try:
        return SEVERITY_ORDER.index((severity or "").lower())
    except ValueError:
        return len(SEVERITY_ORDER)


def severity_text(severity: str | None, *, dim: bool = False) -> Text:
    sev = (severity or "").lower()
    label = SEVERITY_LABEL.get(sev, sev.upper() or "?")
    return Text(label, style="dim" if dim else SEVERITY_STYLE.get(sev, ""))


def _name(finding: Mapping[str, Any]) -> str:
    tags = finding.get("tags") or {}
    return str(tags.get("Name") or "") if isinstance(tags, Mapping) else ""


def sort_findings(findings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Unsuppressed first, then by severity, region, instance name/id, rule."""
    return sorted(
        findings,
        key=lambda f: (
            bool(f.get("suppressed")),
            severity_rank(f.get("severity")),
            f.get("region") or "",
            _name(f) or "~",
            f.get("instance_id") or "",
            f.get("rule_id") or "",
        ),
    )


def _more_line(hidden: Sequence[Mapping[str, Any]]) -> Text:
    counts = Counter(str(f.get("severity")) for f in hidden)
    detail = ", ".join(f"{counts[s]} {s}" for s in SEVERITY_ORDER if counts.get(s))
    suppressed = sum(1 for f in hidden if f.get("suppressed"))
    if suppressed:
        detail += f"; {suppressed} suppressed"
    plural = "s" if len(hidden) != 1 else ""
    return Text(
        f"... {len(hidden)} more finding{plural} ({detail}): see --format json or csv, or --limit 0",
        style="dim",
    )


def _message(finding: Mapping[str, Any]) -> Text:
    message = Text(str(finding.get("message") or finding.get("title") or ""))
    if finding.get("suppressed"):
        reason = finding.get("suppression_reason") or "no reason given"
        message.append(f"\nsuppressed: {reason}", style="italic")
    return message


def _severity_cell(finding: Mapping[str, Any]) -> Text:
    suppressed = bool(finding.get("suppressed"))
    cell = severity_text(finding.get("severity"), dim=suppressed)
    if suppressed:
        cell.append("\n(suppr.)", style="dim italic")
    return cell


def findings_table(findings: Sequence[Mapping[str, Any]], *, width: int, limit: int = DEFAULT_LIMIT) -> Group | None:
    """The findings, most severe first; None when there are none.

    Wide terminals get one flat table (instance and region columns); narrower ones
    get the findings grouped under one heading line per instance, so the message keeps room.
    """
    if not findings:
        return None
    ordered = sort_findings(findings)
    shown = ordered if limit <= 0 else ordered[:limit]
    parts: list[Any] = [_flat_table(shown) if width >= FLAT_MIN_WIDTH else _grouped(shown, width)]
    if len(ordered) > len(shown):
        parts.append(_more_line(ordered[len(shown):]))
    return Group(*parts)


def _flat_table(shown: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True,
        title=Text("Findings", style="bold"), title_justify="left",
    )
    longest_rule = max((len(str(f.get("rule_id") or "")) for f in shown), default=10)
    table.add_column("Severity", no_wrap=True, min_width=8)
    table.add_column("Instance", min_width=19, max_width=26, overflow="fold")
    table.add_column("Region", no_wrap=True)
    table.add_column("Rule", min_width=min(longest_rule, 31), overflow="fold")
    table.add_column("Message", ratio=1, min_width=20, overflow="fold")
    for finding in shown:
        suppressed = bool(finding.get("suppressed"))
        instance = Text()
        name = _name(finding)
        if name:
            instance.append(name + "\n", style="" if suppressed else "bold")
        instance.append(str(finding.get("instance_id", "")), style="dim")
        table.add_row(
            _severity_cell(finding), instance, Text(str(finding.get("region", ""))),
            Text(str(finding.get("rule_id", ""))), _message(finding), style="dim" if suppressed else "",
        )
    return table


def _grouped(shown: Sequence[Mapping[str, Any]], width: int) -> Group:
    """One heading per instance (in order of its most severe finding), then its findings."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for finding in shown:  # already sorted: first appearance = most severe finding
        groups.setdefault((str(finding.get("region", "")), str(finding.get("instance_id", ""))), []).append(finding)
    longest_rule = max((len(str(f.get("rule_id") or "")) for f in shown), default=10)
    rule_width = max(14, min(longest_rule, 31 if width >= 90 else 27))

    parts: list[Any] = [Text("Findings", style="bold")]
    for (region, instance_id), items in groups.items():
        all_suppressed = all(f.get("suppressed") for f in items)
        heading = Text()
        name = _name(items[0])
        heading.append(name or instance_id, style="dim" if all_suppressed else "bold")
        if name:
            heading.append(f"  {instance_id}", style="dim")
        heading.append(f"  {region}", style="dim")
        parts.append(heading)
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(width=1)
        grid.add_column(width=9, no_wrap=True)
        grid.add_column(width=rule_width, overflow="fold")
        grid.add_column(ratio=1, overflow="fold")
        for finding in items:
            grid.add_row(
                "", _severity_cell(finding), Text(str(finding.get("rule_id", ""))), _message(finding),
                style="dim" if finding.get("suppressed") else "",
            )
        parts.append(grid)
    return Group(*parts)


def rules_table(summary: Mapping[str, Any], severities: Mapping[str, str]) -> Table | None:
    """Per-rule counts: failing rules first (by severity), then the ones that passed everywhere."""
    by_rule: Mapping[str, Mapping[str, int]] = summary.get("by_rule") or {}
    if not by_rule:
        return None
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
        title=Text("Rules", style="bold"), title_justify="left",
    )
    table.add_column("Rule", overflow="fold")
    table.add_column("Severity", no_wrap=True)
    table.add_column("Failed", justify="right")
    table.add_column("Suppr.", justify="right")
    table.add_column("Passed", justify="right")

    def key(item: tuple[str, Mapping[str, int]]) -> tuple[int, int, int, str]:
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
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True,
        title=Text("Errors (these regions or checks were not fully scanned)", style="bold red"),
        title_justify="left",
    )
    table.add_column("Region", overflow="fold")
    table.add_column("Operation", overflow="fold")
    table.add_column("Code", overflow="fold")
    table.add_column("Message", ratio=1, overflow="fold")
    for regions, error in group_errors(errors):
        table.add_row(
            Text(regions), Text(str(error.get("operation") or "-")),
            Text(str(error.get("code") or "-"), style="red"), Text(str(error.get("message") or "")),
        )
    return table


def summary_text(report: Mapping[str, Any]) -> Text:
    """One line: instances, compliant, non-compliant, rate, errors, partial."""
    summary = report.get("summary") or {}
    total = int(summary.get("total_instances", 0))
    compliant = int(summary.get("compliant_instances", 0))
    non_compliant = int(summary.get("non_compliant_instances", 0))
    unevaluated = int(summary.get("unevaluated_instances", 0))
    rate = summary.get("compliance_rate")
    errors = len(report.get("errors") or [])
    findings = report.get("findings") or []
    suppressed = sum(1 for f in findings if f.get("suppressed"))

    rate_style = "green"
    if isinstance(rate, (int, float)):
        rate_style = "green" if rate >= 90 else ("yellow" if rate >= 70 else "bold red")
        rate_text = f"{rate:.1f}%"
    else:
        rate_text = "n/a"

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
    line.append(rate_text, style=rate_style)
    line.append(" · ")
    line.append(f"{len(findings) - suppressed} findings", style="bold" if findings else "")
    if suppressed:
        line.append(f" (+{suppressed} suppressed)", style="dim")
    line.append(" · ")
    line.append(f"{errors} error{'s' if errors != 1 else ''}", style="bold red" if errors else "")
    if report.get("partial"):
        line.append(" · ")
        line.append("PARTIAL", style="bold yellow")
    return line


def header_text(report: Mapping[str, Any]) -> Text:
    regions = ", ".join(report.get("regions") or [])
    text = Text()
    text.append("EC2 compliance scan", style="bold")
    account = report.get("account_id")
    if account:
        text.append(f"  account {account}", style="dim")
    if regions:
        text.append(f"  regions {regions}", style="dim")
    generated = report.get("generated_at")
    if generated:
        text.append(f"  at {generated}", style="dim")
    return text


def render_report(
    console: Console,
    report: Mapping[str, Any],
    *,
    severities: Mapping[str, str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> None:
    """Print the whole human view of a report to `console`."""
    severities = dict(severities or {})
    for finding in report.get("findings") or []:
        severities.setdefault(finding.get("rule_id", ""), finding.get("severity", ""))

    console.print(header_text(report))
    console.print()
    findings = findings_table(report.get("findings") or [], width=console.width, limit=limit)
    if findings is None:
        console.print(Text("No findings: every scanned instance passed every enabled rule.", style="green"))
    else:
        console.print(findings)
    console.print()
    rules = rules_table(report.get("summary") or {}, severities)
    if rules is not None:
        console.print(rules)
        console.print()
    errors = errors_table(report.get("errors") or [])
    if errors is not None:
        console.print(errors)
        console.print()
    console.print(summary_text(report))


def render_summary_line(console: Console, report: Mapping[str, Any]) -> None:
    console.print(summary_text(report))
