"""What the scan page and the estate page share: report values coerced for display, findings and
charts reduced to plain view values, and the one template environment.

Both pages (`html_report`, `estate_html`) read reports that may come from an older
schema, a partial scan or a hand-edit, so every value goes through a coercion that turns the
unexpected into an empty string, a zero or None instead of an exception; and both must show a
finding, a severity or a rule alike, so they reduce them here.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from ec2c.scanner.documents import format_time

from .render import ACCOUNT, RESOURCE_TYPE_COLUMN, SEVERITY_LABEL, resource_type, severity_rank

MAPPING_LABELS: dict[str, str] = {
    "security_hub": "Security Hub (FSBP)",
    "cis": "CIS AWS Foundations",
    "aws_config": "AWS Config rule",
    "prowler": "Prowler check",
}


@dataclass(frozen=True)
class SeverityBar:
    """One bar of the severity chart, with its geometry precomputed (the template does no maths)."""

    severity: str
    label: str
    count: int
    x: float
    y: float
    height: float


@dataclass(frozen=True)
class RuleBar:
    """One rule of the by-rule chart: open (unsuppressed) failures, suppressed, passed, skipped."""

    rule_id: str
    title: str
    failed: int
    suppressed: int
    passed: int
    skipped: int
    open: int
    segments: tuple[tuple[str, float, float, int], ...]  # (kind, x %, width %, count)


@dataclass(frozen=True)
class FindingView:
    """A finding reduced to the strings the page shows; missing fields become empty strings."""

    severity: str
    severity_label: str
    severity_reason: str
    rule_id: str
    title: str
    resource_type: str
    resource_type_label: str
    resource_id: str
    resource_arn: str
    name: str
    region: str
    message: str
    suppressed: bool
    suppression_reason: str
    first_seen: str
    first_seen_label: str
    risk: str
    remediation: str
    remediation_cli: str
    remediation_pulumi: str
    mappings: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...]
    changed_at: str
    """When a change record re-evaluated the resource since the full scan; empty otherwise."""
    changed_at_label: str


def as_text(value: Any) -> str:
    return "" if value is None else str(value)


def as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_number(value: Any) -> float | None:
    """A JSON number as float; null, booleans and anything else as None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def timestamp_label(value: Any) -> str:
    """`2026-01-15T09:30:00Z` as `2026-01-15 09:30 UTC` (`documents.format_time`, the one format
    people see); anything unparsable as given, nothing as an empty string."""
    text = as_text(value)
    return format_time(text) if text else ""


def severity_key(severity: str) -> tuple[int, str]:
    return severity_rank(severity), severity


def finding_view(finding: Mapping[str, Any]) -> FindingView:
    tags = as_mapping(finding.get("tags"))
    mappings = as_mapping(finding.get("mappings"))
    severity = as_text(finding.get("severity")).lower()
    ordered_mappings = [key for key in MAPPING_LABELS if mappings.get(key)]
    ordered_mappings += sorted(key for key in mappings if key not in MAPPING_LABELS and mappings.get(key))
    kind = resource_type(finding)
    return FindingView(
        severity=severity,
        severity_label=SEVERITY_LABEL.get(severity, severity.upper() or "?"),
        severity_reason=as_text(finding.get("severity_reason")),
        rule_id=as_text(finding.get("rule_id")),
        title=as_text(finding.get("title")),
        resource_type=kind,
        resource_type_label=RESOURCE_TYPE_COLUMN.get(kind, kind),
        resource_id=as_text(finding.get("resource_id") or finding.get("instance_id")),
        resource_arn=as_text(finding.get("resource_arn")),
        name="" if kind == ACCOUNT else as_text(tags.get("Name")),
        region=as_text(finding.get("region")),
        message=as_text(finding.get("message")),
        suppressed=bool(finding.get("suppressed")),
        suppression_reason=as_text(finding.get("suppression_reason")),
        first_seen=as_text(finding.get("first_seen")),
        first_seen_label=timestamp_label(finding.get("first_seen")) if finding.get("first_seen") else "",
        risk=as_text(finding.get("risk")),
        remediation=as_text(finding.get("remediation")),
        remediation_cli=as_text(finding.get("remediation_cli")),
        remediation_pulumi=as_text(finding.get("remediation_pulumi")),
        mappings=tuple((MAPPING_LABELS.get(key, key), as_text(mappings[key])) for key in ordered_mappings),
        tags=tuple(sorted((as_text(k), as_text(v)) for k, v in tags.items())),
        changed_at=as_text(finding.get("changed_at")),
        changed_at_label=timestamp_label(finding.get("changed_at")),
    )


CHART_HEIGHT = 150.0  # plot area of the severity chart, in SVG user units
CHART_TOP = 28.0
BAR_WIDTH = 44.0
BAR_PITCH = 68.0


def build_severity_bars(by_severity: Mapping[str, Any]) -> tuple[list[SeverityBar], int]:
    """One bar per severity the summary lists (the usual five in order, then any other), scaled to
    the largest count; a zero still gets its bar (height 0 over a track) so the scale reads."""
    severities = sorted((as_text(s) for s in by_severity), key=severity_key)
    counts = {s: max(as_int(by_severity.get(s)), 0) for s in severities}
    peak = max(counts.values(), default=0)
    bars = []
    for index, severity in enumerate(severities):
        height = CHART_HEIGHT * counts[severity] / peak if peak else 0.0
        bars.append(
            SeverityBar(
                severity=severity,
                label=SEVERITY_LABEL.get(severity.lower(), severity.upper()),
                count=counts[severity],
                x=12 + index * BAR_PITCH,
                y=round(CHART_TOP + CHART_HEIGHT - height, 2),
                height=round(height, 2),
            )
        )
    return bars, peak


def build_rule_bars(by_rule: Mapping[str, Any], titles: Mapping[str, str]) -> list[RuleBar]:
    """Per rule, segments as percentages of the instances it looked at; rules failing (open first,
    then suppressed-only) come before clean ones so the chart leads with what needs work."""
    bars = []
    for rule_id, raw in by_rule.items():
        counts = as_mapping(raw)
        failed, suppressed = max(as_int(counts.get("failed")), 0), max(as_int(counts.get("suppressed")), 0)
        passed, skipped = max(as_int(counts.get("passed")), 0), max(as_int(counts.get("skipped")), 0)
        suppressed = min(suppressed, failed)
        open_ = failed - suppressed
        total = failed + passed + skipped
        segments = []
        offset = 0.0
        for kind, count in (("open", open_), ("suppressed", suppressed), ("passed", passed), ("skipped", skipped)):
            if count and total:
                width = 100.0 * count / total
                segments.append((kind, round(offset, 3), round(width, 3), count))
                offset += width
        bars.append(
            RuleBar(
                rule_id=as_text(rule_id),
                title=titles.get(as_text(rule_id), ""),
                failed=failed,
                suppressed=suppressed,
                passed=passed,
                skipped=skipped,
                open=open_,
                segments=tuple(segments),
            )
        )
    bars.sort(key=lambda b: (-b.open, -b.failed, b.rule_id))
    return bars


@functools.lru_cache(maxsize=1)
def template_environment() -> jinja2.Environment:
    """Autoescape on for every template whatever its file name (`select_autoescape` would skip
    `.j2`), and undefined names are errors, so a typo cannot silently drop a field."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ec2c.orchestrator.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"
