"""One SQS batch of change events: read what they touched, judge it, record it, tell people.

The queue's event source mapping hands the scanner up to a batch of EventBridge events (a
CloudTrail API call, or an instance state change). Each message is read on its own and a bad
one is logged by id and skipped, never raised: a raise would hand the whole batch back and,
after enough receives, send good events to the dead-letter queue with it. The events are then
merged per account and region (`events.coalesce`), so a burst for one instance is one
evaluation; only the touched resources are read (`targeted.collect_targets`, filtered calls),
evaluated with every enabled rule and the policy's suppressions, and judged against what they
failed before (`verdicts`).

The order of the writes is the contract: the change record first (what the overlay reads), then
the alert and Security Hub, then the resources' states last. A failure before the states are
written hands the batch's messages back to the queue, and the retry judges them again against
the old states: an alert is never lost, and the one sent is not sent again after the states say
it was. A region that could not be listed completely hands back only its own messages.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..assessment.evaluation import Outcome, evaluate_resources
from ..assessment.permissions import needed_sources
from ..collection.budget import TimeBudget
from ..collection.clients import make_client
from ..contract import (
    METRIC_CHANGE_EVENTS,
    METRIC_CHANGE_EVENTS_RETRIED,
    METRIC_CHANGE_EVENTS_SKIPPED,
    METRIC_CHANGE_NEW_FAILURES,
    METRIC_CHANGE_RESOURCES,
    METRIC_TIME_TO_VERDICT,
)
from ..documents import ErrorDocument, Finding, parse_iso_utc
from ..registry import ACCOUNT, INSTANCE, LAUNCH_TEMPLATE
from ..reports.alerts import change_alert_message, change_alert_subject
from ..reports.asff import findings_to_asff
from ..reports.reader import Report, load_latest
from ..reports.security_hub import import_findings
from ..rules import CATALOGUE
from ..settings import Settings
from ..storage import ReportReadError, Store, put_json
from .events import Affected, Skipped, affected, coalesce, event_names
from .records import SkippedEvent, read_state, record_key, stamp, state_key
from .targeted import Targets, collect_targets
from .verdicts import BatchContext, ResourceKey, Verdicts, judge, key_of, outcome_key

LOG = logging.getLogger("ec2c.scanner")
SQS_SOURCE = "aws:sqs"
WRITE_ERRORS = (ReportReadError, ClientError, BotoCoreError, OSError)


def is_change_batch(event: Any) -> bool:
    """An SQS event source batch (every record from SQS), as Lambda delivers the events queue."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(record, Mapping) and record.get("eventSource") == SQS_SOURCE for record in records)
    )


@dataclass
class _Parsed:
    """The batch's messages: what each touched, or why it was skipped."""

    touched: list[tuple[str, Affected]] = field(default_factory=list)
    skipped: list[SkippedEvent] = field(default_factory=list)


def parse_batch(
    records: Sequence[Mapping[str, Any]], names: Iterable[str], account_id: str | None, regions: Sequence[str]
) -> _Parsed:
    """Each message's event read on its own (`events.affected`), then kept only for this
    scanner's account and scan regions. Skips are logged with the event's id (or the message's,
    when the body is no event at all)."""
    wanted = frozenset(names)
    parsed = _Parsed()
    for record in records:
        message_id = str(record.get("messageId") or "")
        result = _affected(record.get("body"), message_id, wanted, account_id, regions)
        if isinstance(result, Skipped):
            LOG.info("change event skipped: %s", result.reason)
            parsed.skipped.append({"event_id": result.event_id or message_id, "reason": result.reason})
        else:
            parsed.touched.append((message_id, result))
    return parsed


def _affected(
    body: Any, message_id: str, names: frozenset[str], account_id: str | None, regions: Sequence[str]
) -> Affected | Skipped:
    try:
        event = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        event = None
    if not isinstance(event, Mapping):
        return Skipped("", f"message {message_id}: the body is not a JSON event")
    result = affected(event, names)
    if isinstance(result, Skipped):
        return result
    if account_id is not None and result.account != account_id:
        return Skipped(result.event_id, f"event {result.event_id}: account {result.account} is not this scanner's")
    if result.region not in regions:
        return Skipped(result.event_id, f"event {result.event_id}: region {result.region} is not scanned")
    if not _names_something(_targets(result)):
        return Skipped(result.event_id, f"event {result.event_id}: names no resource; left to the scheduled scan")
    return result


def _targets(change: Affected) -> Targets:
    return Targets(
        region=change.region,
        instance_ids=change.instance_ids,
        security_group_ids=change.security_group_ids,
        network_interface_ids=change.network_interface_ids,
        prefix_list_ids=change.prefix_list_ids,
        image_ids=change.image_ids,
        launch_template_ids=change.launch_template_ids,
        launch_template_names=change.launch_template_names,
        account_guardrails=change.account_guardrails,
    )


def _names_something(targets: Targets) -> bool:
    """Whether the targets name anything: an event that only says "some instance of the region"
    (an address disassociated by association id) would cost a full read of the region, which is
    the scheduled scan's job."""
    return targets != Targets(targets.region)


@dataclass
class _Collected:
    outcomes: list[Outcome] = field(default_factory=list)
    gone: list[ResourceKey] = field(default_factory=list)
    errors: list[ErrorDocument] = field(default_factory=list)
    retry_events: set[str] = field(default_factory=set)
    calls: int = 0


def _collect(
    session: boto3.session.Session, settings: Settings, groups: Sequence[Affected], budget: TimeBudget, now: datetime
) -> _Collected:
    needed = needed_sources(settings.policy)
    collected = _Collected()
    for group in groups:
        collection = collect_targets(session, _targets(group), needed, budget, now, group.account)
        collected.calls += collection.calls
        collected.errors += [error.to_document() for error in collection.errors]
        if not collection.complete:
            collected.retry_events |= set(group.event_ids)
            continue
        collected.outcomes += evaluate_resources(collection.records, settings.policy, now.date())
        collected.gone += [(group.region, INSTANCE, gone) for gone in sorted(collection.missing_instance_ids)]
        collected.gone += [
            (group.region, LAUNCH_TEMPLATE, gone)
            for gone in sorted(collection.missing_launch_templates)
            if gone.startswith("lt-")
        ]
    return collected


def _previous(
    store: Store, base: Report | None, base_unusable: bool, keys: Iterable[ResourceKey]
) -> dict[ResourceKey, Sequence[Finding] | None]:
    """What each resource failed before: its state, when not older than the latest full report's
    start (to the second, as reports are stamped); the report's findings for it otherwise (one streamed read of each region concerned); unknown
    (None) when the report could not be read."""
    previous: dict[ResourceKey, Sequence[Finding] | None] = {}
    from_base: set[ResourceKey] = set()
    started = parse_iso_utc(base.index["generated_at"]) if base is not None else None
    for key in dict.fromkeys(keys):
        state = read_state(store, state_key(*key))
        if state is not None and (started is None or parse_iso_utc(state["evaluated_at"]) >= started):
            previous[key] = state["failing"]
        elif base_unusable:
            previous[key] = None
        else:
            from_base.add(key)
    if base is None or not from_base:
        return previous
    found: dict[ResourceKey, list[Finding]] = {key: [] for key in from_base}
    for region in sorted({key[0] for key in from_base if key[1] != ACCOUNT}):
        for finding in base.findings(region):
            if key_of(finding) in found:
                found[key_of(finding)].append(finding)
    for finding in base.index["account_findings"]:
        if finding["status"] == "FAIL" and key_of(finding) in found:
            found[key_of(finding)].append(finding)
    previous.update(found)
    return previous


def handle_changes(
    session: boto3.session.Session,
    settings: Settings,
    store: Store,
    event: Mapping[str, Any],
    *,
    account_id: str | None,
    time_left_ms: Callable[[], int] | None = None,
    batch_id: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """The batch's partial response: the messages to hand back to the queue (their region could
    not be read completely, or the results could not be written); every other one is done."""
    records = event["Records"]
    names = event_names(CATALOGUE[rule_id] for rule_id in settings.policy.enabled_rule_ids())
    parsed = parse_batch(records, names, account_id, settings.regions)
    if not parsed.touched:
        _put_metrics(session, settings, len(records), len(parsed.skipped), 0, 0, 0, [])
        return {"batchItemFailures": []}
    started = clock()
    budget = TimeBudget(time_left_ms)
    base, base_unusable = _latest(store)
    collected = _collect(session, settings, coalesce(change for _, change in parsed.touched), budget, started)
    judged = [(message, change) for message, change in parsed.touched if change.event_id not in collected.retry_events]
    retry = [message for message, change in parsed.touched if change.event_id in collected.retry_events]
    batch = batch_id or uuid.uuid4().hex[:12]
    key = record_key(started, batch)
    try:
        verdicts = judge(
            BatchContext(
                record_id=f"{stamp(started)}-{batch}",
                record_key=key,
                generated_at=started,
                account_id=account_id,
                base_run_id=base.index["run_id"] if base is not None else None,
                event_ids=[change.event_id for _, change in judged],
                counts={
                    "received": len(records),
                    "evaluated": len(judged),
                    "skipped": len(parsed.skipped),
                    "retried": len(retry),
                },
                earliest_event=min((change.earliest for _, change in judged), default=None),
                latest_event=max((change.latest for _, change in judged), default=None),
                errors=collected.errors,
                skipped=parsed.skipped,
            ),
            collected.outcomes,
            collected.gone,
            _previous(store, base, base_unusable, [*(outcome_key(o) for o in collected.outcomes), *collected.gone]),
        )
        put_json(store, key, verdicts.record)
        alerted = _alert(session, settings, store.uri(key), verdicts)
        _security_hub(session, settings, verdicts, account_id)
        for state, document in verdicts.states.items():
            put_json(store, state, document)
    except WRITE_ERRORS as exc:
        LOG.error("change batch %s not recorded, handed back to the queue: %s", batch, exc)
        return {"batchItemFailures": [{"itemIdentifier": message} for message, _ in parsed.touched]}
    finished = clock()
    _put_metrics(
        session,
        settings,
        len(records),
        len(parsed.skipped),
        len(retry),
        len(verdicts.record["resources"]),
        len(verdicts.record["new_findings"]),
        [(finished - change.latest).total_seconds() for _, change in judged],
    )
    LOG.info(
        "change batch %s: %s",
        batch,
        json.dumps(
            {
                "record": key,
                "events": verdicts.record["events"],
                "resources": len(verdicts.record["resources"]),
                "new": len(verdicts.record["new_findings"]),
                "resolved": len(verdicts.record["resolved_findings"]),
                "alerted": alerted,
                "api_calls": collected.calls,
            },
            sort_keys=True,
        ),
    )
    return {"batchItemFailures": [{"itemIdentifier": message} for message in retry]}


def _latest(store: Store) -> tuple[Report | None, bool]:
    """The latest full report, and whether one exists but cannot be read."""
    try:
        return load_latest(store), False
    except ReportReadError as exc:
        LOG.error("latest report unusable for change events: %s", exc)
        return None, True


def _alert(session: boto3.session.Session, settings: Settings, record_uri: str, verdicts: Verdicts) -> bool:
    """One message for the batch's new failures at the alert severity or worse, if any."""
    findings = verdicts.alerting(settings.events_alert_severity)
    if not findings or settings.topic_arn is None:
        return False
    record = verdicts.record
    make_client(session, "sns", settings.home_region).publish(
        TopicArn=settings.topic_arn,
        Subject=change_alert_subject(len(findings), settings.events_alert_severity.value, record["account_id"]),
        Message=change_alert_message(findings, settings.events_alert_severity.value, record_uri, record["event_ids"]),
    )
    return True


def _security_hub(
    session: boto3.session.Session, settings: Settings, verdicts: Verdicts, account_id: str | None
) -> None:
    """The re-evaluated resources' failures ACTIVE and the fixed ones ARCHIVED, as a full scan
    imports them; refused findings are logged, as there."""
    record = verdicts.record
    if not settings.security_hub or account_id is None or not (record["findings"] or record["resolved_findings"]):
        return
    outcome = import_findings(
        make_client(session, "securityhub", settings.home_region),
        findings_to_asff(
            record["findings"], record["resolved_findings"], account_id, settings.home_region, record["generated_at"]
        ),
    )
    LOG.log(logging.INFO if outcome.ok else logging.ERROR, "%s", outcome.summary())


def _put_metrics(
    session: boto3.session.Session,
    settings: Settings,
    received: int,
    skipped: int,
    retried: int,
    resources: int,
    new: int,
    latencies: Sequence[float],
) -> None:
    """The batch's counts, and the time from each evaluated event to its verdict as one
    statistic set. Metrics never fail a batch whose results are written."""
    data: list[Any] = [
        {"MetricName": METRIC_CHANGE_EVENTS, "Value": received, "Unit": "Count"},
        {"MetricName": METRIC_CHANGE_EVENTS_SKIPPED, "Value": skipped, "Unit": "Count"},
        {"MetricName": METRIC_CHANGE_EVENTS_RETRIED, "Value": retried, "Unit": "Count"},
        {"MetricName": METRIC_CHANGE_RESOURCES, "Value": resources, "Unit": "Count"},
        {"MetricName": METRIC_CHANGE_NEW_FAILURES, "Value": new, "Unit": "Count"},
    ]
    if latencies:
        data.append(
            {
                "MetricName": METRIC_TIME_TO_VERDICT,
                "StatisticValues": {
                    "SampleCount": len(latencies),
                    "Sum": sum(latencies),
                    "Minimum": min(latencies),
                    "Maximum": max(latencies),
                },
                "Unit": "Seconds",
            }
        )
    try:
        make_client(session, "cloudwatch", settings.home_region).put_metric_data(
            Namespace=settings.namespace, MetricData=data
        )
    except (ClientError, BotoCoreError) as exc:
        LOG.error("change metrics not published: %s", exc)
