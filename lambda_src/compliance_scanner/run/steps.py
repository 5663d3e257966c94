"""The three steps of the Step Functions scan, as the Lambda handler runs them.

* `plan`: the run's id and time, the previous report's key (read once, so every worker takes
  its history from the same report), and the regions the Map goes over.
* `scan_region`: one invocation of one region's worker (`worker.scan_region` with
  continuation); a region not done returns its resume token, a done one stores its result.
* `aggregate`: the finished regions' results and the failed ones into the index
  (`scanner.aggregate`, as `ec2c scan` does in one process), then metrics, alert, Security Hub.

Every step is an ordinary function of its event; the events' shapes are `workflow.definition`'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3

from ..collection.budget import TimeBudget
from ..collection.collector import Progress
from ..documents import ErrorDocument
from ..reports.reader import Report, load_latest, read_report
from ..reports.report import report_key
from ..settings import ConfigError, Settings, event_regions, region_name
from ..storage import ReportReadError, Store, get_json, put_json
from .scanner import aggregate, new_run, run_document, run_from_document, store_index
from .worker import RegionResult, Resume, result_key, scan_region

WORKER_OPERATION = "states:ScanRegion"
"""The operation of the error recorded for a region whose worker failed after its retries."""

MAX_CAUSE_CHARS = 2_000
"""A failed worker's cause as kept in the report (the stack trace Lambda adds is cut)."""


def plan(
    settings: Settings, store: Store, event: Mapping[str, Any], account_id: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """The run every worker shares and the regions the Map runs them over."""
    regions = event_regions(event.get("input")) or settings.regions
    try:
        previous = load_latest(store)
        history_error = None
    except ReportReadError as exc:
        previous, history_error = None, str(exc)
    run = new_run(settings.policy, now or datetime.now(UTC), account_id, history_error=history_error)
    return {
        "run": run_document(run, report_key(previous.index) if previous is not None else None),
        "regions": list(regions),
    }


def scan_region_step(
    session: boto3.session.Session,
    settings: Settings,
    store: Store,
    event: Mapping[str, Any],
    time_left_ms: Any,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """One invocation of a region's worker; `done` says whether the region is finished."""
    region = _region(event)
    document = _mapping(event, "run")
    run = run_from_document(document, settings.policy)
    resume = _resume(event.get("resume"))
    previous = _previous(store, document)
    result = scan_region(
        session, region, run, store, previous, TimeBudget(time_left_ms), on_progress, resume=resume, can_continue=True
    )
    if result.resume is not None:
        return {"run": event["run"], "region": region, "resume": result.resume.to_document(), "done": False}
    put_json(store, result_key(run.run_id, region), result.to_document())
    return {"run": event["run"], "region": region, "resume": None, "done": True}


def aggregate_step(settings: Settings, store: Store, event: Mapping[str, Any]) -> Report:
    """The index from the stored results of the finished regions; a failed region is an error
    of the run (its cause kept short), never a reason to lose the others."""
    document = _mapping(event, "run")
    run = run_from_document(document, settings.policy)
    regions = [str(region) for region in _sequence(event, "regions")]
    results: dict[str, RegionResult | None] = {}
    failed: dict[str, ErrorDocument] = {}
    for item in _sequence(event, "results"):
        if not isinstance(item, Mapping):
            raise ConfigError(f"event.results: expected the Map's items (objects), got {item!r}")
        region = region_name(item.get("region"), "event.results[].region")
        if item.get("done") is True:
            results[region] = RegionResult.from_document(get_json(store, result_key(run.run_id, region)))
        else:
            failed[region] = failure_error(region, item)
    index = aggregate(run, regions, results, _previous(store, document), failed)
    store_index(store, index)
    return Report(index, store)


def _previous(store: Store, run: Mapping[str, Any]) -> Report | None:
    """The report the plan step chose for the run's history (read by every step that needs it,
    never `latest.json` again: another run may have replaced it since)."""
    key = run.get("previous_key")
    return read_report(store, key) if key else None


def failure_error(region: str, item: Mapping[str, Any]) -> ErrorDocument:
    """The error a failed region's Map item carries (Step Functions' Error and Cause)."""
    cause = str(item.get("cause") or "")
    try:
        thrown = json.loads(cause)
    except ValueError:
        thrown = None
    if isinstance(thrown, dict) and "errorMessage" in thrown:  # what Lambda says of an exception
        cause = f"{thrown.get('errorType', 'Error')}: {thrown['errorMessage']}"
    cause = " ".join(cause.split())
    if len(cause) > MAX_CAUSE_CHARS:
        cause = cause[: MAX_CAUSE_CHARS - 1] + "…"
    return {
        "region": region,
        "operation": WORKER_OPERATION,
        "code": str(item.get("error") or "WorkerFailed"),
        "message": cause or "the region's worker failed after its retries",
    }


def _region(event: Mapping[str, Any]) -> str:
    return region_name(event.get("region"), "event.region")


def _mapping(event: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = event.get(name)
    if not isinstance(value, Mapping):
        raise ConfigError(f"event.{name}: expected an object, got {value!r}")
    return value


def _sequence(event: Mapping[str, Any], name: str) -> Sequence[Any]:
    value = event.get(name)
    if not isinstance(value, list):
        raise ConfigError(f"event.{name}: expected a list, got {value!r}")
    return value


def _resume(value: Any) -> Resume | None:
    if value is None:
        return None
    try:
        return Resume.from_document(value)
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"event.resume: expected a resume token from the previous invocation, got {value!r}"
        ) from None
