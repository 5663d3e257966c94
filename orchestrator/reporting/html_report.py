"""The scan report as one self-contained HTML page: summary, charts, changes and a filterable table.

Why it is built this way:

* **One file, no network.** The page is mailed, attached to CI runs and opened from disk
  (`file://`), often somewhere that cannot reach the internet or must not leak that it was opened.
  CSS, JavaScript and the charts (SVG) are inline; nothing is fetched. A Content-Security-Policy
  with `default-src 'none'` makes the browser itself refuse any fetch, so a later edit that adds
  one fails loudly instead of phoning home.
* **Report text is hostile.** Tag values, names and messages come from whoever can tag an
  instance. Jinja autoescaping is on for every value (attributes included) and no report value is
  ever marked safe; the only inline script and stylesheet are static template files whose SHA-256
  hashes the policy allows, so even a hypothetical escaping slip could not run injected script.
  Report data reaches the script only through escaped `data-*` attributes, never as an embedded
  JSON blob.
* **Every resource type, one table.** The findings table holds the report's failures
  (`Report.failures`): instances, launch templates, default security groups and the failing
  account guardrails, each row labelled with its type (and filterable by it) once more than one
  type is present. An account guardrail's resource is the account, per region. Every guardrail
  result (pass, fail, skipped) is also laid out as a rule x region grid in its own panel. A
  finding a change record re-evaluated since the full scan (`ec2c report --env`) is marked
  "Changed", and the masthead says how many records the page includes.
* **A page, not a database.** A browser does not hold 100,000 table rows, and the scanner never
  holds them either: the failures stream past once, the `FINDINGS_SHOWN` most severe are kept (a
  heap, `render.top_failures`) and the rest counted. When some are left out the page says how
  many and where every one of them is (the run's CSV shards in its bucket or folder, or the
  export formats); the counts above the table are always the whole report's. The new and
  resolved lists are capped the same way.
* **The template stays dumb.** Everything that needs a decision (ordering, percentages, labels,
  missing fields of an older or partial report) is computed here into plain values, so the template
  only lays them out and the logic is unit-testable without a browser.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ec2c.scanner.documents import format_rate
from ec2c.scanner.reports.reader import Report
from ec2c.scanner.reports.report import run_prefix

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
    severity_key,
    template_environment,
    timestamp_label,
)
from .render import (
    INSTANCE,
    OTHER_RESOURCE_NOUNS,
    RESOURCE_TYPE_HEADING,
    SEVERITY_LABEL,
    SEVERITY_ORDER,
    FailureTally,
    resource_type_rank,
    severity_rank,
    top_failures,
)

FINDINGS_SHOWN = 5_000
"""The most failures the page embeds (the most severe, unsuppressed first), and the most items of
each of its new and resolved lists: about 15 MB of HTML, still a page a browser opens quickly."""

TEMPLATE = "report.html.j2"
STYLE_TEMPLATE = "report.css.j2"
SCRIPT_TEMPLATE = "report.js.j2"

GUARDRAIL_STATUS: dict[str, tuple[str, str]] = {  # status -> (label, tone)
    "FAIL": ("Fail", "fail"),
    "PASS": ("Pass", "pass"),
    "SKIPPED": ("Skipped", "skipped"),
}
STAT_LABELS: tuple[tuple[str, str], ...] = (
    ("total_instances", "Instances"),
    ("compliant_instances", "Compliant"),
    ("non_compliant_instances", "Non-compliant"),
    ("unevaluated_instances", "Unevaluated"),
)


@dataclass(frozen=True)
class Option:
    """A filter choice: the exact value rows carry in their data-* attribute, a label and a count."""

    value: str
    label: str
    count: int


@dataclass(frozen=True)
class GuardrailCell:
    """One rule's result in one region: status FAIL/PASS/SKIPPED ("" when the rule has none there),
    a label and tone for the badge (a suppressed FAIL is labelled and toned "suppressed")."""

    region: str
    status: str
    label: str
    tone: str
    suppressed: bool
    message: str


@dataclass(frozen=True)
class GuardrailRow:
    rule_id: str
    title: str
    severity: str
    severity_label: str
    failing: int
    cells: tuple[GuardrailCell, ...]


@dataclass(frozen=True)
class GuardrailRegion:
    """A column of the guardrails grid: the region and how many of its results fail (unsuppressed)."""

    region: str
    failing: int
    results: int


@dataclass(frozen=True)
class ResourceCount:
    """A resource type other than instances, as counted in `summary.by_resource_type`."""

    resource_type: str
    noun: str
    evaluated: int
    non_compliant: int


@dataclass
class PageView:
    """Everything the template renders, already ordered and formatted."""

    title: str
    account_id: str
    regions: list[str]
    run_id: str
    previous_run_id: str
    generated_at: str
    generated_at_label: str
    change_records: int
    """Change records laid over the full scan (`ec2c report --env`); 0 for the scan alone."""
    changes_through: str
    changes_through_label: str
    stats: list[tuple[str, str, int]]
    compliance_rate: float | None
    compliance_rate_label: str
    rate_tone: str
    alert_threshold: float | None
    enabled_rules: int
    open_findings: int
    suppressed_findings: int
    partial: bool
    partial_reason: str
    incomplete_regions: list[str]
    errors: list[dict[str, str]]
    expired_suppressions: list[dict[str, str]]
    severity_bars: list[SeverityBar]
    severity_max: int
    rule_bars: list[RuleBar]
    findings: list[FindingView]
    findings_total: int
    """Every failure of the report; more than `findings` holds when the page is capped."""
    rest_at: str
    """Where every failure can be read when the page does not embed them all."""
    show_types: bool
    other_resources: list[ResourceCount]
    evaluated_resources: int
    guardrail_regions: list[GuardrailRegion]
    guardrail_rows: list[GuardrailRow]
    new_findings: list[FindingView]
    new_total: int
    resolved_findings: list[FindingView]
    resolved_total: int
    has_history: bool
    severity_options: list[Option]
    rule_options: list[Option]
    region_options: list[Option]
    type_options: list[Option]
    csp: str = field(default="")


# --- view building --------------------------------------------------------------------------------


def _capped(findings: Iterable[Mapping[str, Any]]) -> tuple[list[FindingView], FailureTally]:
    """The first `FINDINGS_SHOWN` findings in the table's order as views, and the tally of all of
    them (one pass over the stream)."""
    shown, tally = top_failures(findings, FINDINGS_SHOWN)
    return [finding_view(f) for f in shown], tally


def rest_location(report: Report) -> str:
    """Where every finding of the report is: its run's CSV shards in the bucket or folder it was
    read from, else (a one-document report) the export formats."""
    if report.sharded and report.store is not None:
        index = report.index
        folder = report.store.uri(run_prefix(index["generated_at"], index["run_id"]))
        return f"the CSV shards of this run under {folder}/ (one findings.csv.gz per region)"
    return "the report's CSV or JSON export (--format csv or json)"


def _options(
    values: Iterable[str], *, key: Callable[[str], Any] | None = None, labels: Mapping[str, str] | None = None
) -> list[Option]:
    """One choice per distinct value the rows carry, with how many rows carry it."""
    counts = Counter(values)
    return [
        Option(value=value, label=(labels or {}).get(value, value) or "(none)", count=counts[value])
        for value in sorted(counts, key=key)
    ]


def _errors(value: Any) -> list[dict[str, str]]:
    keys = ("region", "operation", "code", "message")
    return [{k: as_text(as_mapping(e).get(k)) for k in keys} for e in as_list(value)]


def _expired(value: Any) -> list[dict[str, str]]:
    """rule, match (whatever selects the instances: instance id, tag ...), reason and expiry."""
    rows = []
    for raw in as_list(value):
        entry = as_mapping(raw)
        match = []
        for key, val in entry.items():
            if key in ("rule", "reason", "expires"):
                continue
            if isinstance(val, Mapping) and set(val) >= {"key", "value"}:
                match.append(f"{key} {val['key']}={val['value']}")
            else:
                match.append(f"{key} {val}")
        rows.append(
            {
                "rule": as_text(entry.get("rule")),
                "match": ", ".join(match),
                "reason": as_text(entry.get("reason")),
                "expires": as_text(entry.get("expires")),
            }
        )
    return rows


def _other_resources(by_type: Mapping[str, Any]) -> list[ResourceCount]:
    """Launch templates, security groups and account regions, when the scan evaluated any."""
    counts = []
    for kind, one, many in OTHER_RESOURCE_NOUNS:
        entry = as_mapping(by_type.get(kind))
        evaluated = max(as_int(entry.get("evaluated")), 0)
        if evaluated:
            counts.append(
                ResourceCount(
                    kind, one if evaluated == 1 else many, evaluated, max(as_int(entry.get("non_compliant")), 0)
                )
            )
    return counts


def _guardrails(value: Any, report_regions: list[str]) -> tuple[list[GuardrailRegion], list[GuardrailRow]]:
    """Every account guardrail result as a grid: a column per region (the report's order, then any
    other), a row per rule (rules failing somewhere first, by severity)."""
    results = [f for f in as_list(value) if isinstance(f, Mapping)]
    if not results:
        return [], []
    seen = {as_text(f.get("region")) for f in results}
    regions = [r for r in dict.fromkeys(report_regions) if r in seen] + sorted(seen - set(report_regions))
    by_rule: dict[str, dict[str, Mapping[str, Any]]] = {}
    for finding in results:
        by_rule.setdefault(as_text(finding.get("rule_id")), {})[as_text(finding.get("region"))] = finding

    def cell(region: str, finding: Mapping[str, Any] | None) -> GuardrailCell:
        if finding is None:
            return GuardrailCell(region, "", "No result", "none", False, "")
        status = as_text(finding.get("status")).upper()
        suppressed = bool(finding.get("suppressed")) and status == "FAIL"
        if suppressed:
            label, tone = "Suppressed", "suppressed"
        else:
            label, tone = GUARDRAIL_STATUS.get(status, (status.title() or "?", "none"))
        message = as_text(finding.get("message"))
        if suppressed and finding.get("suppression_reason"):
            message += f" (suppressed: {as_text(finding.get('suppression_reason'))})"
        return GuardrailCell(region, status, label, tone, suppressed, message)

    rows = []
    for rule_id, by_region in by_rule.items():
        cells = tuple(cell(region, by_region.get(region)) for region in regions)
        first = next(iter(by_region.values()))
        severity = as_text(first.get("severity")).lower()
        rows.append(
            GuardrailRow(
                rule_id=rule_id,
                title=as_text(first.get("title")),
                severity=severity,
                severity_label=SEVERITY_LABEL.get(severity, severity.upper() or "?"),
                failing=sum(1 for c in cells if c.tone == "fail"),
                cells=cells,
            )
        )
    rows.sort(key=lambda r: (0 if r.failing else 1, severity_rank(r.severity), r.rule_id))
    columns = [
        GuardrailRegion(
            region, sum(1 for r in rows if r.cells[i].tone == "fail"), sum(1 for r in rows if r.cells[i].status)
        )
        for i, region in enumerate(regions)
    ]
    return columns, rows


def _rate_tone(rate: float | None, threshold: float | None) -> str:
    if rate is None:
        return "none"
    if rate >= 100 or (threshold is not None and rate >= threshold):
        return "good"
    return "warn" if rate >= 70 else "bad"


def build_view(report: Report, rest_at: str | None = None) -> PageView:
    """The page's content from a report (any schema `load_report` reads, complete or partial):
    its failures and changes streamed once each (see the module docstring), the rest from the
    index. `rest_at` says where every failure is when the page cannot embed them all (default:
    `rest_location`)."""
    index = report.index
    summary = report.summary
    policy = as_mapping(index["policy"])
    findings, tally = _capped(report.failures())
    titles = {
        as_text(f.get("rule_id")): as_text(f.get("title"))
        for f in index["account_findings"]
        if isinstance(f, Mapping) and f.get("title")
    }
    titles.update(tally.titles)
    regions = [as_text(r) for r in index["regions"]]
    other_resources = _other_resources(as_mapping(summary["by_resource_type"]))
    guardrail_regions, guardrail_rows = _guardrails(index["account_findings"], regions)
    rate = as_number(summary["compliance_rate"])
    threshold = as_number(policy.get("alert_threshold"))
    severity_bars, severity_max = build_severity_bars(as_mapping(summary["by_severity"]))
    new_findings, new = _capped(report.new_findings())
    resolved_findings, resolved = _capped(report.resolved_findings())
    account = as_text(index["account_id"])
    overlaid = as_mapping(index.get("overlay"))
    return PageView(
        title=f"EC2 compliance report{' · ' + account if account else ''}",
        account_id=account,
        regions=regions,
        run_id=as_text(index["run_id"]),
        previous_run_id=as_text(index["previous_run_id"]),
        generated_at=as_text(index["generated_at"]),
        generated_at_label=timestamp_label(index["generated_at"]),
        change_records=as_int(overlaid.get("records")),
        changes_through=as_text(overlaid.get("through")),
        changes_through_label=timestamp_label(overlaid.get("through")),
        stats=[(key, label, as_int(summary.get(key))) for key, label in STAT_LABELS],
        compliance_rate=rate,
        compliance_rate_label=format_rate(rate),
        rate_tone=_rate_tone(rate, threshold),
        alert_threshold=threshold,
        enabled_rules=len(as_list(policy.get("enabled_rules"))),
        open_findings=tally.total - tally.suppressed,
        suppressed_findings=tally.suppressed,
        partial=index["partial"],
        partial_reason=as_text(index["partial_reason"]),
        incomplete_regions=[as_text(r) for r in index["incomplete_regions"]],
        errors=_errors(index["errors"]),
        expired_suppressions=_expired(index["expired_suppressions"]),
        severity_bars=severity_bars,
        severity_max=severity_max,
        rule_bars=build_rule_bars(as_mapping(summary["by_rule"]), titles),
        findings=findings,
        findings_total=tally.total,
        rest_at=rest_at or rest_location(report),
        show_types=any(f.resource_type != INSTANCE for f in findings),
        other_resources=other_resources,
        evaluated_resources=as_int(summary.get("total_instances")) + sum(c.evaluated for c in other_resources),
        guardrail_regions=guardrail_regions,
        guardrail_rows=guardrail_rows,
        new_findings=new_findings,
        new_total=new.total,
        resolved_findings=resolved_findings,
        resolved_total=resolved.total,
        has_history=index["previous_run_id"] is not None,
        severity_options=_options(
            (f.severity for f in findings),
            key=severity_key,
            labels={s: SEVERITY_LABEL.get(s, s) for s in SEVERITY_ORDER},
        ),
        rule_options=_options(f.rule_id for f in findings),
        region_options=_options(f.region for f in findings),
        type_options=_options(
            (f.resource_type for f in findings),
            key=lambda kind: (resource_type_rank(kind), kind),
            labels=RESOURCE_TYPE_HEADING,
        ),
    )


# --- rendering ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _content_security_policy() -> str:
    """A CSP allowing exactly the page's own stylesheet and script (by hash) and nothing else: no
    fetch of any kind, no other script, no form target, no <base> rewrite. The page inlines both
    with `{% include %}`, which renders the same text as rendering them alone here."""
    env = template_environment()
    style = env.get_template(STYLE_TEMPLATE).render()
    script = env.get_template(SCRIPT_TEMPLATE).render()
    return "; ".join(
        (
            "default-src 'none'",
            f"style-src {csp_hash(style)}",
            f"script-src {csp_hash(script)}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


def html_chunks(report: Report, rest_at: str | None = None) -> Iterator[str]:
    """The page as the template renders it, piece by piece, for a writer to stream to a file."""
    view = build_view(report, rest_at)
    view.csp = _content_security_policy()
    return template_environment().get_template(TEMPLATE).generate(view=view)


def to_html(report: Report, rest_at: str | None = None) -> str:
    """The report as a standalone HTML page (UTF-8 text), viewable offline from `file://`."""
    return "".join(html_chunks(report, rest_at))


__all__ = ["FINDINGS_SHOWN", "build_view", "html_chunks", "rest_location", "to_html"]
