"""The worker: one region collected, evaluated and written as shards, a page at a time.

Each page of instances is evaluated as soon as it is enriched, its findings compressed into the
region's shards and dropped, so what the worker holds is one page plus the region's bounded
caches, whatever the region's size. The history (first seen, new, resolved) is taken against the
previous run's shard of the same region through `history.PreviousFailures`: ten bytes per
previous finding, never the previous report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import boto3

from .budget import TimeBudget
from .collector import Progress, RegionCollector
from .documents import ErrorDocument, Finding, RegionEntry, Unevaluated
from .evaluation import Outcome, evaluate_resources
from .history import PreviousFailures, finding_digest, is_active
from .identity import ACCOUNT
from .model import FAIL, SKIPPED, ScanError
from .policy import Policy
from .reader import Report
from .report import (
    CSV_COLUMNS,
    FindingKey,
    SummaryCounter,
    account_order,
    cannot_tell,
    csv_row,
    finding_document,
    finding_key,
    rule_unread,
    shard_keys,
    unevaluated_document,
    unread_actions,
)
from .storage import ReportReadError, ShardWriter, Store

HISTORY_OPERATION = "history"
"""The operation of the error recorded when the previous run's shard of a region is unusable."""


@dataclass(frozen=True)
class Run:
    """What every region of one run shares."""

    run_id: str
    generated_at: str
    observed_at: datetime
    policy: Policy
    account_id: str | None
    needed: frozenset[str]
    history_error: str | None = None
    """Why the previous report could not be read (then nothing is new or resolved this run)."""


@dataclass
class RegionResult:
    """A region's part of the index: its shard entry, counts, errors and account findings."""

    entry: RegionEntry
    counter: SummaryCounter
    errors: list[ErrorDocument]
    account_findings: list[Finding]
    owner_id: str | None
    complete: bool
    stopped_reason: str | None
    next_token: str | None = None
    unevaluated_keys: set[tuple[str, str, str]] = field(default_factory=set)


class _Shards:
    """The region's five writers; `finish` stores the non-empty ones (a shard counted 0 in the
    index is not stored, and readers do not ask for it)."""

    def __init__(self, store: Store, run: Run, region: str) -> None:
        self.keys = shard_keys(run.generated_at, run.run_id, region)
        self.findings = ShardWriter(store, self.keys["findings"])
        self.csv = ShardWriter(store, self.keys["csv"], header=CSV_COLUMNS)
        self.new = ShardWriter(store, self.keys["new"])
        self.resolved = ShardWriter(store, self.keys["resolved"])
        self.unevaluated = ShardWriter(store, self.keys["unevaluated"])

    def writers(self) -> tuple[ShardWriter, ...]:
        return (self.findings, self.csv, self.new, self.resolved, self.unevaluated)

    def finish(self) -> int:
        stored = 0
        for writer in self.writers():
            if writer.count:
                stored += writer.finish()
            else:
                writer.discard()
        return stored

    def discard(self) -> None:
        for writer in self.writers():
            writer.discard()


class _History:
    """The previous run's failures of one region, or nothing (first run, or an unusable shard:
    then nothing is new or resolved, and the error says why)."""

    def __init__(self, previous: Report | None, region: str, account_id: str | None, unusable: bool = False) -> None:
        self.previous = previous
        self.unusable = unusable
        self.region = region
        self.account_id = account_id
        self.failures: PreviousFailures | None = None
        self.error: ErrorDocument | None = None
        if previous is None:
            return
        try:
            self.failures = PreviousFailures(self._previous_failures(), account_id, previous.index["generated_at"])
        except ReportReadError as exc:
            self.error = {"region": region, "operation": HISTORY_OPERATION, "code": "UnreadablePreviousReport",
                          "message": str(exc)}  # fmt: skip

    def _previous_failures(self) -> Iterator[Finding]:
        assert self.previous is not None
        yield from self.previous.findings(self.region)
        yield from (
            f for f in self.previous.index["account_findings"] if f["region"] == self.region and f["status"] == FAIL
        )

    def first_seen(self, digest: int) -> str | None:
        return None if self.failures is None else self.failures.first_seen(digest)

    def is_new(self, digest: int) -> bool:
        """No previous run at all makes every failure new; an unusable shard makes none new."""
        if self.failures is None:
            return self.previous is None and not self.unusable
        return not self.failures.was_active(digest)

    def still_failing(self, digest: int) -> None:
        if self.failures is not None:
            self.failures.still_failing(digest)

    def resolved(self, unproven: Callable[[FindingKey], bool]) -> Iterator[Finding]:
        """The previous failures gone now, where the current run can vouch for it."""
        if self.failures is None:
            return
        for finding in self._previous_failures():
            gone = is_active(finding) and self.failures.gone(finding_digest(finding, self.account_id))
            if gone and not unproven(finding_key(finding)):
                yield finding


def scan_region(
    session: boto3.session.Session,
    region: str,
    run: Run,
    store: Store,
    previous: Report | None,
    budget: TimeBudget,
    on_progress: Progress | None = None,
) -> RegionResult:
    """Collect, evaluate and store one region; AWS failures are recorded, never raised."""
    shards = _Shards(store, run, region)
    counter = SummaryCounter(run.policy.enabled_rule_ids())
    today = run.observed_at.date()
    account_outcomes: list[Outcome] = []
    unevaluated_keys: set[tuple[str, str, str]] = set()
    try:
        with RegionCollector(session, region, run.needed, budget, run.observed_at, on_progress) as collector:
            history: _History | None = None
            for page in collector.pages():
                account = run.account_id or collector.owner_id
                history = history or _History(previous, region, account, run.history_error is not None)
                outcomes = evaluate_resources(page, run.policy, today)
                counter.add(outcomes, instances=len(page))
                errors = collector.all_errors()
                _write(outcomes, account, run.generated_at, history, shards, errors, unevaluated_keys)
                del page, outcomes  # dropped before the next page is read
            resources = collector.resources()
            account = run.account_id or collector.owner_id
            history = history or _History(previous, region, account, run.history_error is not None)
            outcomes = evaluate_resources(resources, run.policy, today)
            counter.add(outcomes)
            errors = collector.all_errors()
            account_outcomes = [o for o in outcomes if o.resource.resource_type == ACCOUNT]
            _write(
                [o for o in outcomes if o.resource.resource_type != ACCOUNT],
                account, run.generated_at, history, shards, errors, unevaluated_keys,
            )  # fmt: skip
            account_findings = [_history_finding(o, account, run.generated_at, history, shards) for o in account_outcomes]
            error_documents: list[ErrorDocument] = [e.to_document() for e in errors]
            complete = collector.complete
            unproven = cannot_tell(
                {region} if complete else set(),
                error_documents,
                [{"region": r, "resource_id": i, "rule_id": u} for r, i, u in unevaluated_keys],
                account_findings,
            )
            for finding in history.resolved(unproven):
                shards.resolved.write(finding)
            if history.error is not None:
                error_documents.append(history.error)
            stored = shards.finish()
    except BaseException:
        shards.discard()
        raise
    return RegionResult(
        entry={
            "region": region,
            "complete": complete,
            "instances": counter.instances,
            "findings": shards.findings.count,
            "new": shards.new.count,
            "resolved": shards.resolved.count,
            "unevaluated": shards.unevaluated.count,
            "bytes": stored,
            "shards": shards.keys,
        },
        counter=counter,
        errors=error_documents,
        account_findings=sorted(account_findings, key=account_order),
        owner_id=collector.owner_id,
        complete=complete,
        stopped_reason=collector.stopped_reason,
        next_token=collector.next_token,
        unevaluated_keys=unevaluated_keys,
    )


def _history_finding(outcome: Outcome, account: str | None, generated: str, history: _History, shards: _Shards) -> Finding:
    """A finding with its `first_seen` from the previous run; an unsuppressed FAIL also goes to
    the new shard when the previous run did not have it, and a FAIL to the CSV. A FAIL, even one
    suppressed since, is not resolved: it is still there, and the same report sends it to
    Security Hub as ACTIVE (SUPPRESSED), which an ARCHIVED copy would contradict."""
    document = finding_document(outcome, account, generated)
    if outcome.result.status != FAIL:
        return document
    digest = finding_digest(document, account)
    document["first_seen"] = history.first_seen(digest) or generated
    if outcome.suppression is None and history.is_new(digest):
        shards.new.write(document)
    history.still_failing(digest)
    shards.csv.write_row(csv_row(document))
    return document


def _write(
    outcomes: Sequence[Outcome],
    account: str | None,
    generated: str,
    history: _History,
    shards: _Shards,
    errors: Sequence[ScanError],
    unevaluated_keys: set[tuple[str, str, str]],
) -> None:
    """A page's FAILs into the findings shard, its per-resource gaps into the unevaluated one (a
    gap the region's errors already explain is not repeated)."""
    unread = unread_actions(e.to_document() for e in errors)
    for outcome in outcomes:
        if outcome.result.status == FAIL:
            shards.findings.write(_history_finding(outcome, account, generated, history, shards))
        elif outcome.result.status == SKIPPED and outcome.result.applicable:
            if not rule_unread(unread, outcome.resource.region, outcome.rule_id):
                document: Unevaluated = unevaluated_document(outcome)
                shards.unevaluated.write(document)
                unevaluated_keys.add((document["region"], document["resource_id"], document["rule_id"]))
