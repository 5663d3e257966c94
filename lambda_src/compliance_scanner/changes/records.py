"""Change records: what one batch of change events re-evaluated, stored next to the reports.

An event-driven evaluation does not rewrite the latest full report (its shards hold a whole
fleet); it writes one small record per batch under `reports/changes/`, keyed by the time it was
written. The record lists every resource it looked at (evaluated again, or gone) with that
resource's complete set of current failures, so a reader can overlay it on the latest report by
replacing those resources' findings, and nothing else. `records_since` lists exactly the records
newer than a report: the keys sort by time, and S3 starts the listing after the report's start.

Beside the records, one small state object per resource (`reports/changes-state/...`) keeps the
failures its last evaluation left, so the next event for it can tell a new failure from a known
one without reading every record since the last full scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict, cast

from ..contract import CHANGES_PREFIX, REPORT_PREFIX
from ..documents import ErrorDocument, Finding
from ..registry import Severity
from ..storage import MissingObject, ReportReadError, Store, get_json

CHANGE_SCHEMA_VERSION = 1
CHANGE_KIND = "change"
STATE_PREFIX = REPORT_PREFIX + "changes-state/"
"""Per-resource state; outside `CHANGES_PREFIX`, so listing the records never lists it."""
_STAMP = "%Y%m%dT%H%M%S%fZ"

ResourceState = Literal["evaluated", "gone"]


class ChangedResource(TypedDict):
    resource_type: str
    resource_id: str
    region: str
    state: ResourceState
    """`evaluated`: read again, its findings are the record's; `gone`: no longer exists (a
    terminated instance, a deleted template), so it has no findings any more."""


class SkippedEvent(TypedDict):
    event_id: str
    reason: str


class EventCounts(TypedDict):
    received: int
    """Messages in the batch."""
    evaluated: int
    """Events that led to a re-evaluation."""
    skipped: int
    """Events that changed nothing the rules read, or could not be read (see `skipped`)."""
    retried: int
    """Events handed back to the queue (their region could not be read completely)."""


class ChangeRecord(TypedDict):
    kind: Literal["change"]
    schema_version: int
    record_id: str
    generated_at: str
    account_id: str | None
    base_run_id: str | None
    """The full report the evaluation compared with (its latest at the time), if any."""
    event_ids: list[str]
    events: EventCounts
    earliest_event: str | None
    latest_event: str | None
    resources: list[ChangedResource]
    findings: list[Finding]
    """Every current failure (suppressed ones included) of the resources `evaluated` here; a
    failure whose rule could not be evaluated this time is carried over from before."""
    new_findings: list[Finding]
    resolved_findings: list[Finding]
    errors: list[ErrorDocument]
    skipped: list[SkippedEvent]


class ResourceStateDocument(TypedDict):
    evaluated_at: str
    record_key: str
    gone: bool
    failing: list[Finding]


def stamp(moment: datetime) -> str:
    """A UTC moment as the sortable text the keys start with (microseconds, fixed width)."""
    return moment.astimezone(UTC).strftime(_STAMP)


def record_key(generated_at: datetime, batch_id: str) -> str:
    """`reports/changes/<UTC time>-<batch id>.json`: records sort by when they were written."""
    return f"{CHANGES_PREFIX}{stamp(generated_at)}-{batch_id}.json"


def state_key(region: str, resource_type: str, resource_id: str) -> str:
    return f"{STATE_PREFIX}{region}/{resource_type}/{resource_id}.json"


def records_since(store: Store, after: datetime | None) -> Iterator[tuple[str, ChangeRecord]]:
    """(key, record) for every change record written after `after` (every one when None), oldest
    first. A key that does not parse as a record is a ReportReadError naming it: an overlay is
    never silently short of a record."""
    for key in store.keys(CHANGES_PREFIX, CHANGES_PREFIX + stamp(after) if after is not None else ""):
        if not key.endswith(".json"):
            continue
        document = get_json(store, key)
        yield key, check_record(document, store.uri(key))


def alerting(findings: Iterable[Finding], least: Severity) -> list[Finding]:
    """The new failures a change alert is about: those at `least` or worse."""
    return [f for f in findings if Severity(f["severity"]).rank <= least.rank]


def alerted_since(store: Store, after: datetime | None, least: Severity) -> frozenset[str]:
    """The finding ids the change path alerted as new in the records written after `after`
    (every record when None): a full scan comparing with the report of `after` finds them new
    too, and its alert need not repeat them."""
    return frozenset(
        finding["finding_id"]
        for _, record in records_since(store, after)
        for finding in alerting(record["new_findings"], least)
    )


def check_record(document: Any, where: str) -> ChangeRecord:
    """The document as a ChangeRecord, or a ReportReadError saying what is wrong with it."""
    if not isinstance(document, dict) or document.get("kind") != CHANGE_KIND:
        raise ReportReadError(where, "not a change record (kind is not 'change')")
    version = document.get("schema_version")
    if version != CHANGE_SCHEMA_VERSION:
        raise ReportReadError(
            where, f"unknown change record schema_version {version!r} (this version reads {CHANGE_SCHEMA_VERSION})"
        )
    for name in ("resources", "findings", "new_findings", "resolved_findings"):
        if not isinstance(document.get(name), list):
            raise ReportReadError(where, f"change record without a {name} list")
    return cast(ChangeRecord, document)


def read_state(store: Store, key: str) -> ResourceStateDocument | None:
    """A resource's last event-driven state, or None when it has none (the latest full report
    is then the reference). A state that cannot be read is a ReportReadError, never taken for
    "no state": that would call its known failures new and alert on them again."""
    try:
        document = get_json(store, key)
    except MissingObject:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("failing"), list):
        raise ReportReadError(store.uri(key), "not a resource state (no failing list)")
    return cast(ResourceStateDocument, document)
