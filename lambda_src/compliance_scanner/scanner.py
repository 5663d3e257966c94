"""`scan()`: collect regions, evaluate the policy, and build the report document.

The one function the Lambda handler and the CLI share; everything it returns is plain JSON-able
data, and it never raises for AWS errors (they are listed in the report's `errors`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3

from .budget import TimeBudget
from .collector import Progress, RegionScan, collect_region
from .evaluation import evaluate_instances
from .policy import Policy
from .report import build_report, diff
from .rules import CATALOGUE


def needed_sources(policy: Policy) -> frozenset[str]:
    """The data sources of the enabled rules: the collector fetches nothing else."""
    return frozenset(
        source for rule_id in policy.enabled_rule_ids() for source in CATALOGUE[rule_id].sources
    )


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
) -> dict[str, Any]:
    """Scan `regions` and return the report document.

    `time_left_ms` is the Lambda's remaining-time function: collection stops early enough to
    leave time for publishing and the report is marked partial. `previous` is the last report,
    for `new_findings`/`resolved_findings`. Without `account_id` the reservations' owner is used.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    budget = TimeBudget(time_left_ms)
    needed = needed_sources(policy)
    scanned: list[RegionScan] = []
    unscanned: list[str] = []
    stopped: str | None = None
    for region in dict.fromkeys(regions):
        if stopped is not None:
            unscanned.append(region)
            continue
        result = collect_region(session, region, needed, budget, now, on_progress)
        scanned.append(result)
        stopped = result.stopped_reason
    instances = [instance for result in scanned for instance in result.instances]
    owners = [result.owner_id for result in scanned if result.owner_id]
    report = build_report(
        run_id=run_id or new_run_id(now),
        generated_at=now,
        account_id=account_id or (owners[0] if owners else None),
        regions=list(dict.fromkeys(regions)),
        policy=policy,
        instances=instances,
        outcomes=evaluate_instances(instances, policy, now.date()),
        errors=[error for result in scanned for error in result.errors],
        partial_reason=_partial_reason(stopped, unscanned),
        incomplete_regions=[r.region for r in scanned if not r.complete] + unscanned,
    )
    report.update(diff(previous, report))
    return report
