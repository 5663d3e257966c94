"""From the outcomes of re-evaluated resources and what they failed before, a change record:
their current failures, the new ones, the fixed ones, and each resource's next state (pure).

The same judgement as a full scan, for a handful of resources: a failure is new when the
resource did not fail that rule (unsuppressed) before; it is fixed only on evidence, when the
rule passed or no longer applies, or when the resource itself is gone. A rule that could not be
evaluated this time (its data not read) proves nothing: its earlier failure is carried over,
neither new nor fixed. When what the resource failed before is unknown (the latest report could
not be read), nothing is new and nothing is fixed: the failures are recorded, and no alert
repeats what may be known already.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from ..assessment.evaluation import Outcome
from ..documents import ErrorDocument, Finding, iso_utc
from ..model import FAIL, PASS, SKIPPED
from ..registry import Severity
from ..reports.history import is_active
from ..reports.report import finding_document
from .records import (
    CHANGE_KIND,
    CHANGE_SCHEMA_VERSION,
    ChangedResource,
    ChangeRecord,
    EventCounts,
    ResourceStateDocument,
    SkippedEvent,
    alerting,
    state_key,
)

ResourceKey = tuple[str, str, str]
"""(region, resource type, resource id): what a record overrides."""


def key_of(finding: Mapping[str, Any]) -> ResourceKey:
    """A finding's resource; a schema 1 finding (no `resource_type`, no `resource_id`) is an
    instance's."""
    return (
        str(finding["region"]),
        str(finding.get("resource_type") or "instance"),
        str(finding.get("resource_id") or finding["instance_id"]),
    )


def outcome_key(outcome: Outcome) -> ResourceKey:
    """The resource an outcome is about, as `key_of` names a finding's."""
    resource = outcome.resource
    return (resource.region, resource.resource_type, resource.resource_id)


@dataclass(frozen=True)
class BatchContext:
    """What a record says about the batch besides its verdicts."""

    record_id: str
    record_key: str
    generated_at: datetime
    account_id: str | None
    base_run_id: str | None
    event_ids: Sequence[str]
    counts: EventCounts
    earliest_event: datetime | None
    latest_event: datetime | None
    errors: Sequence[ErrorDocument] = ()
    skipped: Sequence[SkippedEvent] = ()


@dataclass(frozen=True)
class Verdicts:
    record: ChangeRecord
    states: Mapping[str, ResourceStateDocument]
    """The next state of every resource looked at, by its state key."""

    def alerting(self, least: Severity) -> list[Finding]:
        """The new failures at `least` or worse, worst first (then by resource and rule)."""
        chosen = alerting(self.record["new_findings"], least)
        return sorted(chosen, key=lambda f: (Severity(f["severity"]).rank, key_of(f), f["rule_id"]))


def _proves_pass(outcome: Outcome) -> bool:
    """The rule passed, or no longer applies (a SKIPPED that is not for lack of data)."""
    return outcome.result.status == PASS or (outcome.result.status == SKIPPED and not outcome.result.applicable)


def judge(
    context: BatchContext,
    outcomes: Iterable[Outcome],
    gone: Iterable[ResourceKey],
    previous: Mapping[ResourceKey, Sequence[Finding] | None],
) -> Verdicts:
    """The record and next states. `previous` holds, per resource, its failures before (None:
    unknown); a resource missing from it had none."""
    seen_at = iso_utc(context.generated_at)
    by_resource: dict[ResourceKey, list[Outcome]] = {}
    for outcome in outcomes:
        by_resource.setdefault(outcome_key(outcome), []).append(outcome)
    resources: list[ChangedResource] = []
    findings: list[Finding] = []
    new: list[Finding] = []
    resolved: list[Finding] = []
    states: dict[str, ResourceStateDocument] = {}
    for key, resource_outcomes in by_resource.items():
        before = previous.get(key, ())
        known = before is not None
        earlier = {f["rule_id"]: f for f in before or ()}
        current: list[Finding] = []
        for outcome in resource_outcomes:
            prior = earlier.get(outcome.rule_id)
            if outcome.result.status == FAIL:
                first_seen = prior["first_seen"] if prior is not None and prior.get("first_seen") else seen_at
                finding = finding_document(outcome, context.account_id, first_seen)
                current.append(finding)
                if known and is_active(finding) and not (prior is not None and is_active(prior)):
                    new.append(finding)
            elif prior is not None and not _proves_pass(outcome):
                current.append(prior)
            elif prior is not None and known and is_active(prior):
                resolved.append(prior)
        findings.extend(current)
        resources.append(_resource(key, "evaluated"))
        states[state_key(*key)] = _state(context, current, gone=False)
    for key in dict.fromkeys(gone):
        if key in by_resource:
            continue
        before = previous.get(key, ())
        resolved.extend(f for f in before or () if is_active(f))
        resources.append(_resource(key, "gone"))
        states[state_key(*key)] = _state(context, [], gone=True)
    record: ChangeRecord = {
        "kind": cast(Any, CHANGE_KIND),
        "schema_version": CHANGE_SCHEMA_VERSION,
        "record_id": context.record_id,
        "generated_at": seen_at,
        "account_id": context.account_id,
        "base_run_id": context.base_run_id,
        "event_ids": list(context.event_ids),
        "events": context.counts,
        "earliest_event": iso_utc(context.earliest_event) if context.earliest_event else None,
        "latest_event": iso_utc(context.latest_event) if context.latest_event else None,
        "resources": resources,
        "findings": findings,
        "new_findings": new,
        "resolved_findings": resolved,
        "errors": list(context.errors),
        "skipped": list(context.skipped),
    }
    return Verdicts(record, states)


def _resource(key: ResourceKey, state: str) -> ChangedResource:
    region, kind, resource_id = key
    return {"resource_type": kind, "resource_id": resource_id, "region": region, "state": cast(Any, state)}


def _state(context: BatchContext, failing: list[Finding], *, gone: bool) -> ResourceStateDocument:
    """To the microsecond: a state is compared with a full report's start, and the two may fall
    within one second."""
    return {
        "evaluated_at": context.generated_at.astimezone(UTC).isoformat(),
        "record_key": context.record_key,
        "gone": gone,
        "failing": failing,
    }
