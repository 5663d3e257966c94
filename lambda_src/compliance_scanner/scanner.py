"""`scan()`: collect regions, evaluate the policy, and build the report document.

The one function the Lambda handler and the CLI share; everything it returns is plain JSON-able
data, and it never raises for AWS errors (they are listed in the report's `errors`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3

from . import sources
from .budget import TimeBudget
from .clients import make_client
from .collector import Progress, RegionScan, collect_region
from .evaluation import Outcome, evaluate_resources
from .policy import Policy
from .permissions import needed_sources
from .report import apply_history, build_report

REGION_WORKERS = 4
"""Regions scanned at once: each mostly waits on the network, and a handful keeps API throttling
(per region and account) and the Lambda's memory in check."""


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


def _partial_reason(stopped: str | None, unscanned: Sequence[str]) -> str | None:
    if stopped is None:
        return None
    if unscanned:
        return f"{stopped}; regions not scanned: {', '.join(unscanned)}"
    return stopped


def scan(
    session: boto3.session.Session,
    regions: Sequence[str],
    policy: Policy,
    *,
    account_id: str | None = None,
    now: datetime | None = None,
    time_left_ms: Callable[[], int] | None = None,
    on_progress: Progress | None = None,
    previous: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    region_workers: int = REGION_WORKERS,
) -> dict[str, Any]:
    """Scan `regions` and return the report document.

    `time_left_ms` is the Lambda's remaining-time function: collection stops early enough to
    leave time for publishing and the report is marked partial. `previous` is the last report,
    for `new_findings`/`resolved_findings`. Without `account_id` the reservations' owner is used.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    budget = TimeBudget(time_left_ms)
    needed = needed_sources(policy)
    ordered = list(dict.fromkeys(regions))

    def one(region: str) -> tuple[RegionScan, list[Outcome]] | None:
        """A region collected and evaluated (evaluation overlaps other regions' API calls);
        None for a region the budget did not let start."""
        if budget.exhausted():
            return None
        result = collect_region(session, region, needed, budget, now, on_progress)
        return result, evaluate_resources([*result.instances, *result.resources], policy, now.date())

    _load_models(session, needed, ordered)
    with ThreadPoolExecutor(max_workers=max(1, min(region_workers, len(ordered)))) as pool:
        results = list(pool.map(one, ordered))
    scanned = [item[0] for item in results if item is not None]
    outcomes = [outcome for item in results if item is not None for outcome in item[1]]
    unscanned = [region for region, item in zip(ordered, results) if item is None]
    stopped = next((r.stopped_reason for r in scanned if r.stopped_reason), None)
    if stopped is None and unscanned:
        stopped = "time budget exhausted"
    instances = [instance for result in scanned for instance in result.instances]
    owners = [result.owner_id for result in scanned if result.owner_id]
    report = build_report(
        run_id=run_id or new_run_id(now),
        generated_at=now,
        account_id=account_id or (owners[0] if owners else None),
        regions=list(dict.fromkeys(regions)),
        policy=policy,
        instances=instances,
        outcomes=outcomes,
        errors=[error for result in scanned for error in result.errors],
        partial_reason=_partial_reason(stopped, unscanned),
        incomplete_regions=[r.region for r in scanned if not r.complete] + unscanned,
    )
    apply_history(report, previous)
    return report
