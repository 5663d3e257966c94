"""The Lambda handler: settings -> scan (shards and index to S3) -> CloudWatch metrics -> SNS
alert -> Security Hub; or one step of the Step Functions scan (`steps`), as its event says.

The previous run's index is read first: the workers take `first_seen` and the new and resolved
findings from its shards. An index that cannot be read (an unknown schema, a broken object) is
recorded in the new report's errors and nothing is new or resolved this run; it is never
silently replaced by an empty history that would call every failure new.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import boto3

from ..changes.batch import handle_changes, is_change_batch
from ..changes.records import alerted_since
from ..collection.clients import make_client
from ..documents import ReportIndex, parse_iso_utc
from ..reports.asff import to_asff
from ..reports.publish import put_metrics, send_alert
from ..reports.reader import Report, load_latest
from ..reports.report import report_key
from ..reports.security_hub import import_findings
from ..settings import ConfigError, Settings, load_settings
from ..storage import ReportReadError, S3Store
from . import steps, workflow
from .scanner import scan

LOG = logging.getLogger("ec2c.scanner")
LOG.setLevel(logging.INFO)


def account_from_context(context: Any) -> str | None:
    """The account id from the function's own ARN, sparing an sts:GetCallerIdentity call."""
    parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
    return parts[4] if len(parts) > 4 and parts[4] else None


def _log_progress(region: str, seen: int) -> None:
    LOG.info("scanning %s: %d instances listed", region, seen)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """An SQS batch is one of change events (`changes.batch`); an `action` in the event is a step
    of the Step Functions scan (`workflow`); without either, the invocation scans every region
    itself, as a direct invoke always has."""
    changes = is_change_batch(event)
    try:
        action = None if changes else _action(event)
        settings = load_settings(os.environ, event if action is None and not changes else None)
    except ValueError as exc:
        LOG.error("invalid configuration: %s", exc)
        raise
    session = boto3.session.Session(region_name=settings.home_region)
    store = S3Store(make_client(session, "s3", settings.home_region), settings.bucket)
    time_left_ms = getattr(context, "get_remaining_time_in_millis", None)
    if changes:
        return handle_changes(
            session,
            settings,
            store,
            event,
            account_id=account_from_context(context),
            time_left_ms=time_left_ms,
            batch_id=getattr(context, "aws_request_id", None),
        )
    if action == workflow.ACTION_PLAN:
        return steps.plan(settings, store, event, account_from_context(context))
    if action == workflow.ACTION_SCAN_REGION:
        outcome = steps.scan_region_step(session, settings, store, event, time_left_ms, _log_progress)
        LOG.info("worker %s: %s", outcome["region"], "done" if outcome["done"] else "continues")
        return outcome
    if action == workflow.ACTION_AGGREGATE:
        return publish(session, settings, store, steps.aggregate_step(settings, store, event))
    previous, history_error = _previous(store)
    report = scan(
        session,
        settings.regions,
        settings.policy,
        store,
        account_id=account_from_context(context),
        time_left_ms=time_left_ms,
        on_progress=_log_progress,
        previous=previous,
        history_error=history_error,
    )
    return publish(session, settings, store, report)


def _action(event: Any) -> str | None:
    if not isinstance(event, dict) or "action" not in event:
        return None
    action = event["action"]
    if action not in (workflow.ACTION_PLAN, workflow.ACTION_SCAN_REGION, workflow.ACTION_AGGREGATE):
        raise ConfigError(
            f"event.action: expected {workflow.ACTION_PLAN}, {workflow.ACTION_SCAN_REGION} or "
            f"{workflow.ACTION_AGGREGATE}, got {action!r}"
        )
    return str(action)


def publish(session: boto3.session.Session, settings: Settings, store: S3Store, report: Report) -> dict[str, Any]:
    """A stored report's metrics, alert and Security Hub import; the run's outcome in brief."""
    index = report.index
    key = report_key(index)
    put_metrics(make_client(session, "cloudwatch", settings.home_region), settings.namespace, index)
    alerted = settings.topic_arn is not None and send_alert(
        make_client(session, "sns", settings.home_region),
        settings.topic_arn,
        report,
        store.uri(key),
        _alerted_after_changes(settings, store, index),
    )
    imported = None
    if settings.security_hub:
        outcome = import_findings(
            make_client(session, "securityhub", settings.home_region), to_asff(report, settings.home_region)
        )
        LOG.log(logging.INFO if outcome.ok else logging.ERROR, "%s", outcome.summary())
        imported = {"imported": outcome.imported, "failed": outcome.failed}
    result = {
        "status": "partial" if index["partial"] else "ok",
        "run_id": index["run_id"],
        "report_key": key,
        "summary": index["summary"],
        "errors": len(index["errors"]),
        "incomplete_regions": index["incomplete_regions"],
        "alerted": alerted,
        "security_hub": imported,
    }
    LOG.info(
        "scan finished: %s",
        json.dumps({k: v for k, v in result.items() if k != "summary"}, sort_keys=True),
    )
    return result


def _alerted_after_changes(settings: Settings, store: S3Store, index: ReportIndex) -> frozenset[str]:
    """The new findings the change path alerted already, since the start of the report this one
    is compared with (a failure found then is new to this report too). Records that cannot be
    listed or read leave nothing out: an alert repeated, never one lost."""
    if not index["new_findings"]:
        return frozenset()
    since = index["previous_generated_at"]
    try:
        return alerted_since(store, parse_iso_utc(since) if since else None, settings.events_alert_severity)
    except ReportReadError as exc:
        LOG.warning("change records unread, the alert lists every new finding: %s", exc)
        return frozenset()


def _previous(store: S3Store) -> tuple[Report | None, str | None]:
    """The last report, or why it could not be read (logged, and recorded by the scan)."""
    try:
        return load_latest(store), None
    except ReportReadError as exc:
        LOG.error("previous report unusable: %s", exc)
        return None, str(exc)
