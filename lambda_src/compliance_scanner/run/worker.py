"""The worker: one region collected, evaluated and written as shards, a page at a time.

Each page of instances is evaluated as soon as it is enriched, its findings compressed into the
region's shards and dropped, so what the worker holds is one page plus the region's bounded
caches, whatever the region's size. The history (first seen, new, resolved) is taken against the
previous run's shard of the same region through `history.PreviousFailures`: ten bytes per
previous finding, never the previous report.

A region larger than one invocation's time goes on in the next (`can_continue`, the Step
Functions worker): when the budget stops the listing, the pages done so far are stored as a
*part* of each shard, the counts and errors as a small state object, and the result carries a
`Resume` (the DescribeInstances NextToken, the part number, the state's key). The invocation
that reaches the listing's end joins the parts into the region's shards, so the index and every
reader see one shard per region whatever the number of invocations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3

from ..assessment.evaluation import Outcome, evaluate_resources
from ..assessment.policy import Policy
from ..collection.budget import TimeBudget
from ..collection.collector import Progress, RegionCollector
from ..documents import ErrorDocument, Finding, RegionEntry, Unevaluated
from ..model import FAIL, SKIPPED, ScanError
from ..registry import ACCOUNT
from ..reports.history import PreviousFailures, finding_digest, is_active
from ..reports.reader import Report
from ..reports.report import (
    CSV_COLUMNS,
    PART_SHARDS,
    FindingKey,
    SummaryCounter,
    account_order,
    cannot_tell,
    csv_row,
    finding_document,
    finding_key,
    part_keys,
    rule_unread,
    shard_keys,
    unevaluated_document,
    unread_actions,
    work_prefix,
)
from ..storage import ReportReadError, ShardWriter, Store, get_json, put_json, read_lines

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


class NoProgress(RuntimeError):
    """An invocation that could not finish one page: continuing would loop for ever."""


@dataclass(frozen=True)
class Resume:
    """Where a region goes on in its next invocation: `part` parts are stored, the listing
    resumes at `next_token`, and the counts and errors so far are in `state_key`."""

    part: int
    next_token: str
    state_key: str

    def to_document(self) -> dict[str, Any]:
        return {"part": self.part, "next_token": self.next_token, "state_key": self.state_key}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Resume:
        return cls(
            part=int(document["part"]), next_token=str(document["next_token"]), state_key=str(document["state_key"])
        )


@dataclass
class RegionResult:
    """A region's part of the index: its shard entry, counts, errors and account findings;
    `resume` is set instead when the region goes on in another invocation."""

    entry: RegionEntry
    counter: SummaryCounter
    errors: list[ErrorDocument]
    account_findings: list[Finding]
    owner_id: str | None
    complete: bool
    stopped_reason: str | None
    next_token: str | None = None
    unevaluated_keys: set[tuple[str, str, str]] = field(default_factory=set)
    resume: Resume | None = None

    def to_document(self) -> dict[str, Any]:
        """What the aggregate step needs of a finished region (stored, not passed through Step
        Functions: the Map's output is capped at 256 KB)."""
        return {
            "entry": self.entry,
            "counter": self.counter.to_document(),
            "errors": self.errors,
            "account_findings": self.account_findings,
            "owner_id": self.owner_id,
            "complete": self.complete,
            "stopped_reason": self.stopped_reason,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> RegionResult:
        return cls(
            entry=document["entry"],
            counter=SummaryCounter.from_document(document["counter"]),
            errors=list(document["errors"]),
            account_findings=list(document["account_findings"]),
            owner_id=document["owner_id"],
            complete=bool(document["complete"]),
            stopped_reason=document["stopped_reason"],
        )


def result_key(run_id: str, region: str) -> str:
    """Where a finished region's result waits for the aggregate step."""
    return work_prefix(run_id, region) + "result.json"


def _state_key(run_id: str, region: str, part: int) -> str:
    return work_prefix(run_id, region) + f"state-{part:04d}.json"


@dataclass
class _Carried:
    """What the earlier invocations of a region counted: stored between them as JSON."""

    counter: SummaryCounter
    errors: list[ErrorDocument]
    owner_id: str | None
    counts: dict[str, int]

    @classmethod
    def start(cls, run: Run) -> _Carried:
        return cls(SummaryCounter(run.policy.enabled_rule_ids()), [], None, dict.fromkeys(PART_SHARDS, 0))

    @classmethod
    def load(cls, store: Store, key: str) -> _Carried:
        document = get_json(store, key)
        return cls(
            SummaryCounter.from_document(document["counter"]),
            list(document["errors"]),
            document["owner_id"],
            dict(document["counts"]),
        )

    def save(self, store: Store, key: str) -> None:
        put_json(
            store,
            key,
            {
                "counter": self.counter.to_document(),
                "errors": self.errors,
                "owner_id": self.owner_id,
                "counts": self.counts,
            },
        )


def _merged_errors(*groups: Sequence[ErrorDocument]) -> list[ErrorDocument]:
    """The errors of every invocation of a region, each once (a failing read fails in each)."""
    seen: dict[tuple[str, str, str, str], ErrorDocument] = {}
    for group in groups:
        for error in group:
            seen.setdefault((error["region"], error["operation"], error["code"], error["message"]), error)
    return list(seen.values())


class _Shards:
    """The region's five writers; `finish` stores the non-empty ones (a shard counted 0 in the
    index is not stored, and readers do not ask for it)."""

    def __init__(self, store: Store, run: Run, region: str, part: int = 0) -> None:
        self.run_id = run.run_id
        self.region = region
        self.part = part
        self.keys = shard_keys(run.generated_at, run.run_id, region)
        self.findings = ShardWriter(store, self.keys["findings"])
        self.csv = ShardWriter(store, self.keys["csv"], header=CSV_COLUMNS, continued=part > 0)
        self.new = ShardWriter(store, self.keys["new"])
        self.resolved = ShardWriter(store, self.keys["resolved"])
        self.unevaluated = ShardWriter(store, self.keys["unevaluated"])

    def writers(self) -> tuple[ShardWriter, ...]:
        return (self.findings, self.csv, self.new, self.resolved, self.unevaluated)

    def by_name(self) -> dict[str, ShardWriter]:
        return {"findings": self.findings, "csv": self.csv, "new": self.new, "unevaluated": self.unevaluated}

    def finish(self, earlier: Mapping[str, int]) -> int:
        """The region's shards, each after its `earlier` parts (counted by name), stored when
        not empty; returns the bytes stored."""
        stored = 0
        for name, writer in self.by_name().items():
            if writer.count or earlier.get(name, 0):
                stored += writer.finish(after=[part_keys(self.run_id, self.region, n)[name] for n in range(self.part)])
            else:
                writer.discard()
        if self.resolved.count:
            stored += self.resolved.finish()
        else:
            self.resolved.discard()
        return stored

    def store_part(self) -> None:
        """This invocation's pages as part `part` of each shard (empty parts too, so the last
        invocation joins a known list); nothing is resolved before a region's end."""
        keys = part_keys(self.run_id, self.region, self.part)
        for name, writer in self.by_name().items():
            writer.finish(key=keys[name])
        self.resolved.discard()

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
            self.error = {
                "region": region,
                "operation": HISTORY_OPERATION,
                "code": "UnreadablePreviousReport",
                "message": str(exc),
            }

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
    *,
    resume: Resume | None = None,
    can_continue: bool = False,
) -> RegionResult:
    """Collect, evaluate and store one region; AWS failures are recorded, never raised.

    With `can_continue`, a budget that runs out while the instances are listed returns a result
    with `resume` set instead of a partial region; `resume` continues such a region. Raises
    NoProgress when an invocation ran out before finishing a single page.
    """
    carried = _Carried.load(store, resume.state_key) if resume is not None else _Carried.start(run)
    part = resume.part if resume is not None else 0
    shards = _Shards(store, run, region, part)
    counter = carried.counter
    today = run.observed_at.date()
    unevaluated_keys: set[tuple[str, str, str]] = set()
    start_token = resume.next_token if resume is not None else None
    try:
        with RegionCollector(
            session, region, run.needed, budget, run.observed_at, on_progress, start_token=start_token
        ) as collector:
            history: _History | None = None
            pages = 0
            for page in collector.pages():
                pages += 1
                account = run.account_id or collector.owner_id or carried.owner_id
                history = history or _History(previous, region, account, run.history_error is not None)
                outcomes = evaluate_resources(page, run.policy, today)
                counter.add(outcomes, instances=len(page))
                errors = collector.all_errors()
                _write(outcomes, account, run.generated_at, history, shards, errors, unevaluated_keys)
                del page, outcomes  # dropped before the next page is read
            owner = collector.owner_id or carried.owner_id
            if can_continue and collector.stopped_reason is not None:
                return _continued(store, run, region, shards, carried, collector, owner, pages)
            # a region without instances names no owner: its account record is still the run's
            collector.owner_id = owner or run.account_id
            resources = collector.resources()
            account = run.account_id or owner
            history = history or _History(previous, region, account, run.history_error is not None)
            if part:
                _replay_parts(store, run.run_id, region, part, account, history, unevaluated_keys)
            outcomes = evaluate_resources(resources, run.policy, today)
            counter.add(outcomes)
            errors = collector.all_errors()
            account_outcomes = [o for o in outcomes if o.resource.resource_type == ACCOUNT]
            _write(
                [o for o in outcomes if o.resource.resource_type != ACCOUNT],
                account,
                run.generated_at,
                history,
                shards,
                errors,
                unevaluated_keys,
            )
            account_findings = [
                _history_finding(o, account, run.generated_at, history, shards) for o in account_outcomes
            ]
            error_documents = _merged_errors(carried.errors, [e.to_document() for e in errors])
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
            totals = {name: carried.counts[name] + writer.count for name, writer in shards.by_name().items()}
            stored = shards.finish(carried.counts)
    except BaseException:
        shards.discard()
        raise
    return RegionResult(
        entry={
            "region": region,
            "complete": complete,
            "instances": counter.instances,
            "findings": totals["findings"],
            "new": totals["new"],
            "resolved": shards.resolved.count,
            "unevaluated": totals["unevaluated"],
            "bytes": stored,
            "shards": shards.keys,
        },
        counter=counter,
        errors=error_documents,
        account_findings=sorted(account_findings, key=account_order),
        owner_id=owner,
        complete=complete,
        stopped_reason=collector.stopped_reason,
        next_token=collector.next_token,
        unevaluated_keys=unevaluated_keys,
    )


def _continued(
    store: Store,
    run: Run,
    region: str,
    shards: _Shards,
    carried: _Carried,
    collector: RegionCollector,
    owner: str | None,
    pages: int,
) -> RegionResult:
    """Store this invocation's pages as a part and what it counted as the next state; the
    region's own resources (templates, groups, guardrails) are judged by the last invocation.
    Progress is counted in pages, not instances: a filtered listing may return an empty page
    with a NextToken."""
    if pages == 0 or collector.next_token is None:
        raise NoProgress(
            f"{region}: the time budget ran out before one page of instances was done "
            f"({collector.stopped_reason}); give the function a longer timeout"
        )
    shards.store_part()
    for name, writer in shards.by_name().items():
        carried.counts[name] += writer.count
    carried.errors = _merged_errors(carried.errors, [e.to_document() for e in collector.all_errors()])
    carried.owner_id = owner
    key = _state_key(run.run_id, region, shards.part + 1)
    carried.save(store, key)
    resume = Resume(part=shards.part + 1, next_token=collector.next_token, state_key=key)
    return RegionResult(
        entry={
            "region": region,
            "complete": False,
            "instances": carried.counter.instances,
            "findings": carried.counts["findings"],
            "new": carried.counts["new"],
            "resolved": 0,
            "unevaluated": carried.counts["unevaluated"],
            "bytes": 0,
            "shards": None,
        },
        counter=carried.counter,
        errors=carried.errors,
        account_findings=[],
        owner_id=owner,
        complete=False,
        stopped_reason=collector.stopped_reason,
        next_token=collector.next_token,
        resume=resume,
    )


def _replay_parts(
    store: Store,
    run_id: str,
    region: str,
    parts: int,
    account: str | None,
    history: _History,
    unevaluated_keys: set[tuple[str, str, str]],
) -> None:
    """What the region's earlier invocations found, read back from their parts: their failures
    are still failing (not resolved) and their gaps keep a previous failure from being called
    fixed, exactly as when the region is done in one invocation."""
    for part in range(parts):
        keys = part_keys(run_id, region, part)
        for finding in read_lines(store, keys["findings"]):
            history.still_failing(finding_digest(finding, account))
        for gap in read_lines(store, keys["unevaluated"]):
            unevaluated_keys.add((gap["region"], gap["resource_id"], gap["rule_id"]))


def _history_finding(
    outcome: Outcome, account: str | None, generated: str, history: _History, shards: _Shards
) -> Finding:
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
