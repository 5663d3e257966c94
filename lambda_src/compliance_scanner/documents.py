"""The report's documents as types: the index (`latest.json`), a finding, the summary, an error.

`docs/report-schema.md` lists the same fields, and a test checks the two against each other both
ways, so these types are the contract every reader and writer of a report codes against. Only
the standard library is imported: the scanner is zipped into the Lambda with nothing else.

Schema 3 splits a report in two: a small index (run, summary, errors, the account guardrails and,
per region, its shard keys and counts) and per-region gzip JSON Lines shards holding the
findings, so neither the scanner nor a reader ever holds a whole estate's findings at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NotRequired, TypedDict

from .contract import SCHEMA_VERSION as SCHEMA_VERSION  # the version these documents describe

SHARD_NAMES = ("findings", "csv", "new", "resolved", "unevaluated")
"""A region's shards: its FAILs (JSON Lines), the same as CSV, the unsuppressed FAILs new since the
previous run, the previous run's FAILs resolved now, and the rules left unevaluated on one
resource."""


class RuleCounts(TypedDict):
    failed: int
    passed: int
    suppressed: int
    skipped: int


class TypeCounts(TypedDict):
    evaluated: int
    non_compliant: int


class Summary(TypedDict):
    total_instances: int
    compliant_instances: int
    non_compliant_instances: int
    unevaluated_instances: int
    compliance_rate: float | None
    by_rule: dict[str, RuleCounts]
    by_severity: dict[str, int]
    by_resource_type: dict[str, TypeCounts]


class Finding(TypedDict):
    finding_id: str
    resource_type: str
    resource_id: str
    resource_arn: str
    account_id: str | None
    instance_id: str | None
    region: str
    rule_id: str
    title: str
    severity: str
    severity_reason: str | None
    status: str
    suppressed: bool
    suppression_reason: str | None
    message: str
    tags: dict[str, str]
    first_seen: str
    risk: str
    remediation: str
    remediation_cli: str
    remediation_pulumi: str
    mappings: dict[str, str]
    changed_at: NotRequired[str]
    """Only in a report with change records overlaid (`overlay`): when the record that last
    re-evaluated the resource was written; the full scan's findings have no such field."""
    change_record: NotRequired[str]
    """The key of that record (`reports/changes/...`)."""


class ErrorDocument(TypedDict):
    region: str
    operation: str
    code: str
    message: str


class Unevaluated(TypedDict):
    region: str
    resource_type: str
    resource_id: str
    rule_id: str
    message: str


class PolicyDocument(TypedDict):
    enabled_rules: list[str]
    alert_threshold: float
    alert_on_new_findings: bool
    reachability_grading: bool
    suppressions: int


class Shards(TypedDict):
    findings: str
    csv: str
    new: str
    resolved: str
    unevaluated: str


class RegionEntry(TypedDict):
    region: str
    complete: bool
    instances: int
    findings: int
    new: int
    resolved: int
    unevaluated: int
    bytes: int
    shards: Shards | None
    """Keys in the report's bucket (or folder); None for a report upgraded from schema 2, whose
    findings are inline."""


class OverlayDocument(TypedDict):
    """What a report shown with change records overlaid (`overlay`) holds beyond the full scan."""

    records: int
    through: str
    """`generated_at` of the last record overlaid."""
    resources: int
    """Distinct resources the records re-evaluated (or found gone)."""


class ReportIndex(TypedDict):
    schema_version: int
    run_id: str
    generated_at: str
    finished_at: str
    account_id: str | None
    regions: list[str]
    incomplete_regions: list[str]
    partial: bool
    partial_reason: str | None
    policy: PolicyDocument
    summary: Summary
    account_findings: list[Finding]
    errors: list[ErrorDocument]
    expired_suppressions: list[dict[str, object]]
    previous_run_id: str | None
    previous_generated_at: str | None
    """When the report the history was taken against started (null without one)."""
    new_findings: int
    resolved_findings: int
    region_shards: list[RegionEntry]
    overlay: NotRequired[OverlayDocument]
    """Only in a report with change records overlaid, which is never stored: the scanner writes
    no such key."""


def iso_utc(moment: datetime) -> str:
    """The one timestamp format of every document: ISO 8601 UTC to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_utc(text: str) -> datetime:
    """An ISO 8601 time back as an aware UTC datetime (`Z` and offsets alike; a zoneless one is
    UTC, as every time the scanner writes or AWS returns is, never this machine's zone);
    ValueError when it is no ISO 8601 time."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_rate(rate: float | None) -> str:
    """A compliance rate for people: `93.5%`, or `n/a` when nothing was evaluated."""
    return "n/a" if rate is None else f"{float(rate):.1f}%"


def format_time(value: str | None) -> str:
    """A document timestamp for people: `2025-06-01 12:00 UTC` (the text as given if it is not
    ISO 8601, `-` when absent)."""
    if not value:
        return "-"
    try:
        moment = parse_iso_utc(value)
    except ValueError:
        return value
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


class RunDocument(TypedDict):
    """A run as the Step Functions steps pass it on (`scanner.run_document`)."""

    run_id: str
    generated_at: str
    observed_at: str
    account_id: str | None
    history_error: str | None
    previous_key: str | None
    """The dated key of the previous run's index, read once by the plan step so that every
    worker of the run takes its history from the same report."""
