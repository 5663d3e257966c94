"""The estate report (`ec2c report --plan P --format html`) as one self-contained HTML page.

The estate merges the latest reports of every target of a rollout plan (`estate.merge`); this page
is for the people who own many accounts and regions and need to see at a glance where the estate
is weak. Its centre is an account x region heat map: a row per account, a column per region, each
cell coloured by the compliance rate of the instances scanned there.

Why it is built this way (the same reasons as the single-report page, `reporting.html_report`):

* **One file, no network.** It is mailed and attached to CI runs and opened from `file://`. CSS is
  inline, the charts are inline SVG, and the page has no script at all. A Content-Security-Policy
  with `default-src 'none'` (the stylesheet allowed by its hash, `script-src 'none'`) makes the
  browser refuse any fetch, so a later edit that adds one fails loudly instead of phoning home.
* **Estate text is hostile.** Reasons, target names, tags and messages come from many accounts.
  Jinja autoescaping is on for every value (attributes included) and no value is marked safe.
* **Unread is never compliant.** A target whose report could not be read makes a loud partial
  warning with its reason, and its heat-map cell (when the plan says which account and region it
  is) is hatched "not read", never coloured by a rate it does not have.
* **The template stays dumb.** Ordering, labels, tones and the heat map's grid are computed here
  into plain values, so the logic is unit-testable without a browser. Rules, severities and
  findings are reduced by `reporting.html_views`, shared with the single report, so both pages show
  them alike.
* **Bounded, whatever the estate.** The document it renders (`estate.Estate.top`) holds only the
  most severe findings across the estate (`estate.FINDINGS_SHOWN`); the counts (open, suppressed,
  the total the list is cut from) come from the document's summary, so the page says how many it
  leaves out and where all of them are (the JSON and CSV outputs).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ec2c.scanner.documents import format_rate, format_time

from .html_views import (
    FindingView,
    RuleBar,
    SeverityBar,
    as_int,
    as_list,
    as_mapping,
    as_number,
    as_text,
    build_rule_bars,
    build_severity_bars,
    csp_hash,
    finding_view,
    template_environment,
)
from .render import SEVERITY_ORDER, sort_findings

TEMPLATE = "estate.html.j2"
STYLE_TEMPLATE = "estate.css.j2"

GOOD_AT = 90.0  # a rate at or above this is green
WARN_AT = 70.0  # at or above this (and below GOOD_AT) amber; below it red
TONE_LABEL: dict[str, str] = {
    "good": f"{GOOD_AT:g}% or more",
    "warn": f"{WARN_AT:g}% to {GOOD_AT:g}%",
    "bad": f"under {WARN_AT:g}%",
    "none": "nothing rated",
    "empty": "no target",
    "unread": "not read",
}
STAT_LABELS: tuple[tuple[str, str], ...] = (
    ("total_instances", "Instances"),
    ("compliant_instances", "Compliant"),
    ("non_compliant_instances", "Non-compliant"),
    ("unevaluated_instances", "Unevaluated"),
)


def rate_tone(rate: float | None) -> str:
    """good (>= 90), warn (>= 70), bad, or none when nothing was rated."""
    if rate is None:
        return "none"
    if rate >= GOOD_AT:
        return "good"
    return "warn" if rate >= WARN_AT else "bad"


def _rate_attr(rate: float | None) -> str:
    """The rate as the `data-rate` hooks carry it: a plain number, or empty when there is none."""
    return "" if rate is None else f"{rate:g}"


@dataclass(frozen=True)
class Counts:
    """Instance counts and the rate computed from them (a heat-map total, a cell, the estate)."""

    total: int
    compliant: int
    non_compliant: int
    unevaluated: int
    rate: float | None
    rate_label: str
    rate_attr: str
    tone: str

    @classmethod
    def of(cls, doc: Any) -> Counts:
        counts = as_mapping(doc)
        rate = as_number(counts.get("compliance_rate"))
        return cls(
            total=as_int(counts.get("total_instances")),
            compliant=as_int(counts.get("compliant_instances")),
            non_compliant=as_int(counts.get("non_compliant_instances")),
            unevaluated=as_int(counts.get("unevaluated_instances")),
            rate=rate,
            rate_label=format_rate(rate),
            rate_attr=_rate_attr(rate),
            tone=rate_tone(rate),
        )


@dataclass(frozen=True)
class HeatCell:
    """One account in one region. `state` is `rated` (a rate), `unrated` (instances, none rated),
    `unread` (only targets that could not be read) or `empty` (no target there). A rated cell may
    also have unread targets (`unread` lists them) and partial reports (`partial`)."""

    account: str
    region: str
    state: str
    tone: str
    counts: Counts | None
    unread: tuple[str, ...]
    partial: tuple[str, ...]
    title: str


@dataclass(frozen=True)
class HeatRow:
    account: str
    cells: tuple[HeatCell, ...]
    total: Counts | None  # None: every target of the account was unread


@dataclass(frozen=True)
class HeatColumn:
    region: str
    total: Counts | None


@dataclass(frozen=True)
class TargetView:
    """A target of the plan as one row of the targets table."""

    label: str
    account: str
    region: str
    readable: bool
    partial: bool
    run_id: str
    generated_at: str
    generated_at_label: str
    rate_label: str
    rate_attr: str
    tone: str
    errors: int
    problem: str


@dataclass(frozen=True)
class EstateFinding:
    """A finding with the target and account it came from."""

    target: str
    account: str
    view: FindingView


@dataclass(frozen=True)
class Unread:
    target: str
    reason: str


@dataclass
class EstateView:
    """Everything the template renders, already ordered and formatted."""

    generated_at: str
    generated_at_label: str
    partial: bool
    unread: list[Unread]
    partial_targets: list[str]
    targets: list[TargetView]
    read_targets: int
    estate: Counts
    stats: list[tuple[str, str, int]]
    accounts: list[str]
    regions: list[HeatColumn]
    heat_rows: list[HeatRow]
    legend: list[tuple[str, str]]
    rule_bars: list[RuleBar]
    severity_bars: list[SeverityBar]
    findings: list[EstateFinding]
    findings_total: int
    open_findings: int
    suppressed_findings: int
    csp: str = field(default="")


def _cell_title(account: str, region: str, counts: Counts | None, unread: tuple[str, ...]) -> str:
    """The tooltip: where, what rate out of how many rated, what was not read."""
    text = f"{account} · {region}: "
    if counts is None:
        text += "no report read" if unread else "no target"
    else:
        rated = counts.compliant + counts.non_compliant
        text += f"{counts.rate_label} ({counts.compliant} of {rated} rated instances compliant"
        text += f", {counts.unevaluated} unevaluated)" if counts.unevaluated else ")"
    if unread:
        text += f"; not read: {', '.join(unread)}"
    return text


def _heat_map(estate: Mapping[str, Any], targets: list[Mapping[str, Any]]) -> tuple[list[HeatRow], list[HeatColumn]]:
    """The grid: every account (sorted) x every region (sorted) seen in a cell of
    `by_account_region` or in an unread target whose plan names its account. A readable target's
    instances are under the account and region(s) its report names; an unread one can only be
    placed by the plan's account and region, and is left off the map when its account is unknown
    (it is still in the partial warning and the targets table)."""
    summary = as_mapping(estate.get("summary"))
    cells: dict[tuple[str, str], Counts] = {}
    for raw in as_list(summary.get("by_account_region")):
        entry = as_mapping(raw)
        cells[(as_text(entry.get("account_id")), as_text(entry.get("region")))] = Counts.of(entry)
    unread: dict[tuple[str, str], list[str]] = {}
    partial: dict[tuple[str, str], list[str]] = {}
    for row in targets:
        account, region = as_text(row.get("account_id")), as_text(row.get("region"))
        label = f"{as_text(row.get('env'))}/{as_text(row.get('stack'))}"
        if not row.get("readable") and account:
            unread.setdefault((account, region), []).append(label)
        elif row.get("readable") and row.get("partial") and (account, region) in cells:
            partial.setdefault((account, region), []).append(label)
    accounts = sorted({a for a, _ in cells} | {a for a, _ in unread})
    regions = sorted({r for _, r in cells} | {r for _, r in unread})
    by_account, by_region = as_mapping(summary.get("by_account")), as_mapping(summary.get("by_region"))
    rows = []
    for account in accounts:
        row_cells = []
        for region in regions:
            counts, missing = cells.get((account, region)), tuple(unread.get((account, region), ()))
            if counts is not None:
                state, tone = ("rated" if counts.rate is not None else "unrated"), counts.tone
            else:
                state = tone = "unread" if missing else "empty"
            row_cells.append(
                HeatCell(
                    account=account,
                    region=region,
                    state=state,
                    tone=tone,
                    counts=counts,
                    unread=missing,
                    partial=tuple(partial.get((account, region), ())),
                    title=_cell_title(account, region, counts, missing),
                )
            )
        total = by_account.get(account)
        rows.append(HeatRow(account, tuple(row_cells), Counts.of(total) if total is not None else None))
    columns = [HeatColumn(r, Counts.of(by_region[r]) if r in by_region else None) for r in regions]
    return rows, columns


def _target_view(row: Mapping[str, Any]) -> TargetView:
    readable, partial = bool(row.get("readable")), bool(row.get("partial"))
    rate = as_number(row.get("compliance_rate"))
    problems = [as_text(row.get("reason"))] if row.get("reason") else []
    if not readable and not problems:
        problems.append("report not read")
    if partial:
        problems.append("partial report")
    return TargetView(
        label=f"{as_text(row.get('env'))}/{as_text(row.get('stack'))}",
        account=as_text(row.get("account_id")),
        region=as_text(row.get("region")),
        readable=readable,
        partial=partial,
        run_id=as_text(row.get("run_id")),
        generated_at=as_text(row.get("generated_at")),
        generated_at_label=format_time(as_text(row.get("generated_at"))) if row.get("generated_at") else "",
        rate_label=format_rate(rate) if readable else "not read",
        rate_attr=_rate_attr(rate),
        tone=rate_tone(rate) if readable else "unread",
        errors=as_int(row.get("errors")),
        problem="; ".join(problems),
    )


def build_view(estate: Mapping[str, Any]) -> EstateView:
    """The page's content from an estate document (`estate.Estate.top`), tolerant of missing
    keys: without the summary's finding counts, the findings listed are all there are."""
    summary = as_mapping(estate.get("summary"))
    rows = [as_mapping(r) for r in as_list(estate.get("targets"))]
    heat_rows, columns = _heat_map(estate, rows)
    raw_findings = [f for f in as_list(estate.get("findings")) if isinstance(f, Mapping)]
    findings = [
        EstateFinding(target=as_text(f.get("target")), account=as_text(f.get("account_id")), view=finding_view(f))
        for f in sort_findings(raw_findings)
    ]
    titles = {f.view.rule_id: f.view.title for f in findings if f.view.title}
    total = as_int(summary["findings_total"]) if "findings_total" in summary else len(findings)
    suppressed = (
        as_int(summary["findings_suppressed"])
        if "findings_suppressed" in summary
        else sum(1 for f in findings if f.view.suppressed)
    )
    # Every usual severity gets its bar, zero or not, so one severity alone is not one giant bar.
    severity_bars, _ = build_severity_bars(
        {**dict.fromkeys(SEVERITY_ORDER, 0), **as_mapping(summary.get("by_severity"))}
    )
    unread = [
        Unread(as_text(as_mapping(u).get("target")), as_text(as_mapping(u).get("reason")) or "no reason given")
        for u in as_list(estate.get("unread_targets"))
    ]
    targets = [_target_view(r) for r in rows]
    return EstateView(
        generated_at=as_text(estate.get("generated_at")),
        generated_at_label=format_time(as_text(estate.get("generated_at"))) if estate.get("generated_at") else "",
        partial=bool(estate.get("partial")) or bool(unread),
        unread=unread,
        partial_targets=[t.label for t in targets if t.readable and t.partial],
        targets=targets,
        read_targets=sum(1 for t in targets if t.readable),
        estate=Counts.of(summary),
        stats=[(key, label, as_int(summary.get(key))) for key, label in STAT_LABELS],
        accounts=[r.account for r in heat_rows],
        regions=columns,
        heat_rows=heat_rows,
        legend=[(tone, TONE_LABEL[tone]) for tone in ("good", "warn", "bad", "none", "unread", "empty")],
        rule_bars=build_rule_bars(as_mapping(summary.get("by_rule")), titles),
        severity_bars=severity_bars,
        findings=findings,
        findings_total=total,
        open_findings=total - suppressed,
        suppressed_findings=suppressed,
    )


@functools.lru_cache(maxsize=1)
def content_security_policy() -> str:
    """Nothing but the page's own stylesheet (by hash): no script at all, no fetch of any kind. The
    page inlines the stylesheet with `{% include %}`, which renders the same text as here."""
    style = template_environment().get_template(STYLE_TEMPLATE).render()
    return "; ".join(
        (
            "default-src 'none'",
            f"style-src {csp_hash(style)}",
            "script-src 'none'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


def to_html(estate: Mapping[str, Any]) -> str:
    """The estate report as a standalone HTML page (UTF-8 text), viewable offline from `file://`."""
    view = build_view(estate)
    view.csp = content_security_policy()
    return template_environment().get_template(TEMPLATE).render(view=view)


__all__ = ["build_view", "content_security_policy", "rate_tone", "to_html"]
