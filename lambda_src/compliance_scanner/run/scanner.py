"""`scan()`: every region through the worker, then one aggregate writing the run's index.

The one function the Lambda handler and the CLI share. Regions run in a bounded pool; each
worker streams its region into shards in `store` (`worker.scan_region`), and `aggregate` merges
what they return (counts, errors, account findings, shard keys) into the index, stored under its
dated key and then as `reports/latest.json`. It never raises for AWS errors: they are listed in
the index's `errors`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3

from .. import sources
from ..assessment.permissions import needed_sources
from ..assessment.policy import Policy
from ..collection.budget import TimeBudget
from ..collection.clients import make_client
from ..collection.collector import Progress
from ..contract import LATEST_REPORT_KEY, SCHEMA_VERSION
from ..documents import ErrorDocument, ReportIndex, RunDocument, iso_utc, parse_iso_utc
from ..reports.reader import Report
from ..reports.report import SummaryCounter, account_order, partial_reason, policy_document, report_key
from ..storage import Store, put_json
from .worker import HISTORY_OPERATION, RegionResult, Run, scan_region

REGION_WORKERS = 4
"""Regions scanned at once: each mostly waits on the network, and a handful keeps API throttling
(per region and account) in check."""


def _load_models(session: boto3.session.Session, needed: frozenset[str], regions: Sequence[str]) -> None:
    """Build one client per service before the region threads start: the first client of a
    service parses its API model (EC2's is megabytes of JSON), and threads starting together
    would each parse it again instead of sharing the session's cache."""
    if regions:
        make_client(session, "ec2", regions[0])
        if sources.SSM in needed:
            make_client(session, "ssm", regions[0])


def new_run_id(now: datetime) -> str:
    """Sortable by time, unique across concurrent runs."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def new_run(
    policy: Policy, now: datetime, account_id: str | None, run_id: str | None = None, history_error: str | None = None
) -> Run:
    now = now.astimezone(UTC)
    return Run(
        run_id=run_id or new_run_id(now),
        generated_at=iso_utc(now),
        observed_at=now,
        policy=policy,
        account_id=account_id,
        needed=needed_sources(policy),
        history_error=history_error,
    )


def run_document(run: Run, previous_key: str | None) -> RunDocument:
    """What every step of a Step Functions execution shares about its run, as JSON (the policy
    is not in it: each invocation reads it from the function's settings)."""
    return {
        "run_id": run.run_id,
        "generated_at": run.generated_at,
        "observed_at": run.observed_at.isoformat(),
        "account_id": run.account_id,
        "history_error": run.history_error,
        "previous_key": previous_key,
    }


def run_from_document(document: Mapping[str, Any], policy: Policy) -> Run:
    """The run a step was handed; ValueError (naming the field) for a document that is not one."""
    try:
        observed_at = parse_iso_utc(str(document["observed_at"]))
        return new_run(policy, observed_at, document["account_id"], str(document["run_id"]), document["history_error"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"event.run: expected the plan step's run document ({exc})") from None


def scan(
    session: boto3.session.Session,
    regions: Sequence[str],
    policy: Policy,
    store: Store,
    *,
    account_id: str | None = None,
    now: datetime | None = None,
    time_left_ms: Callable[[], int] | None = None,
    on_progress: Progress | None = None,
    previous: Report | None = None,
    run_id: str | None = None,
    region_workers: int = REGION_WORKERS,
    history_error: str | None = None,
) -> Report:
    """Scan `regions` into `store` and return the stored report.

    `time_left_ms` is the Lambda's remaining-time function: collection stops early enough to
    leave time for storing and the report is marked partial. `previous` is the last report, for
    `first_seen` and the new/resolved findings. Without `account_id` the reservations' owner is
    used. `history_error` says why the previous report could not be read: it is listed in the
    errors, and nothing is new or resolved this run (rather than everything new).
    """
    run = new_run(policy, now or datetime.now(UTC), account_id, run_id, history_error)
    budget = TimeBudget(time_left_ms)
    ordered = list(dict.fromkeys(regions))

    def one(region: str) -> RegionResult | None:
        """None for a region the budget did not let start."""
        if budget.exhausted():
            return None
        return scan_region(session, region, run, store, previous, budget, on_progress)

    _load_models(session, run.needed, ordered)
    with ThreadPoolExecutor(max_workers=max(1, min(region_workers, len(ordered)))) as pool:
        results = list(pool.map(one, ordered))
    index = aggregate(run, ordered, dict(zip(ordered, results, strict=True)), previous)
    store_index(store, index)
    return Report(index, store)


def aggregate(
    run: Run,
    regions: Sequence[str],
    results: Mapping[str, RegionResult | None],
    previous: Report | None,
    failed: Mapping[str, ErrorDocument] | None = None,
) -> ReportIndex:
    """The run's index from its regions' results (None: a region that never started).

    `failed` holds the regions whose worker failed for good (Step Functions caught it after
    its retries): each is incomplete, its error listed, and the other regions stand."""
    failed = failed or {}
    scanned = [result for region in regions if (result := results.get(region)) is not None]
    unscanned = [region for region in regions if results.get(region) is None and region not in failed]
    counter = SummaryCounter(run.policy.enabled_rule_ids())
    for result in scanned:
        counter.merge(result.counter)
    stopped = next((r.stopped_reason for r in scanned if r.stopped_reason), None)
    if stopped is None and unscanned:
        stopped = "time budget exhausted"
    incomplete = [region for region in regions if (result := results.get(region)) is None or not result.complete]
    owners = [result.owner_id for result in scanned if result.owner_id]
    reason = partial_reason(stopped, incomplete, unscanned)
    today = run.observed_at.date()
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.run_id,
        "generated_at": run.generated_at,
        "finished_at": iso_utc(datetime.now(UTC)),
        "account_id": run.account_id or (owners[0] if owners else None),
        "regions": list(regions),
        "incomplete_regions": incomplete,
        "partial": reason is not None,
        "partial_reason": reason,
        "policy": policy_document(run.policy),
        "summary": counter.summary(),
        "account_findings": sorted((f for r in scanned for f in r.account_findings), key=account_order),
        "errors": [
            *_history_errors(run, regions),
            *(error for result in scanned for error in result.errors),
            *(failed[region] for region in regions if region in failed),
        ],
        "expired_suppressions": [s.to_document() for s in run.policy.suppressions if s.expired(today)],
        "previous_run_id": previous.index["run_id"] if previous is not None else None,
        "previous_generated_at": previous.index["generated_at"] if previous is not None else None,
        "new_findings": sum(result.entry["new"] for result in scanned),
        "resolved_findings": sum(result.entry["resolved"] for result in scanned),
        "region_shards": [result.entry for result in scanned],
    }


def _history_errors(run: Run, regions: Sequence[str]) -> list[ErrorDocument]:
    if run.history_error is None:
        return []
    return [
        {
            "region": regions[0] if regions else "",
            "operation": HISTORY_OPERATION,
            "code": "UnreadablePreviousReport",
            "message": run.history_error,
        }
    ]


def store_index(store: Store, index: ReportIndex) -> str:
    """The dated copy first, then `latest.json`: the latest index only ever names a run whose
    shards and dated copy all exist. Returns the dated key."""
    key = report_key(index)
    put_json(store, key, index)
    put_json(store, LATEST_REPORT_KEY, index)
    return key
