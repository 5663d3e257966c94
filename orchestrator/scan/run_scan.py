"""A scan of a deployed environment through its Step Functions state machine: start it, follow it.

The state machine is `ec2c.scanner.run.workflow.definition()`: Plan, a Map of region workers
(each region's ScanRegion task invoked again and again until its region is done), Aggregate. What
a person wants to see while it runs is each region's state, and that is all in the execution's
history: `fold` turns a list of history events into a `RunProgress` (pure, no AWS), `new_events`
reads the events after a cursor (the highest event id already seen), and `follow` polls both
until the execution ends.

How the history names a region: a ScanRegion task state is entered with the iteration's input
(`{"run", "region", "resume"}`), its TaskScheduled carries the same payload, and every other
event points back to the event before it (`previousEventId`): a task's failure or success is
the region's whose state it belongs to. Each entry into ScanRegion is one more invocation of the
region's worker (a continuation); each TaskScheduled after a failed attempt is a retry of it.
RegionDone and RegionFailed (Pass states) say how the region ended; RegionFailed's output
carries Step Functions' Error and Cause.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import uuid4

from ec2c.scanner.run import workflow

STATE_MACHINE_OUTPUT = "state_machine_arn"
"""The stack output naming the environment's scan state machine."""

POLL_INTERVAL_S = 5.0
"""Between two reads of a followed execution (GetExecutionHistory's token bucket refills at 5 a
second per account: a few followers never get near it)."""

HISTORY_PAGE_SIZE = 1000
"""GetExecutionHistory's largest page."""

RUNNING_STATUSES = frozenset({"RUNNING", "PENDING_REDRIVE"})
"""DescribeExecution statuses of an execution that has not ended."""

MAX_CAUSE_CHARS = 300
"""A cause as one terminal line (Lambda adds the stack trace to an exception's)."""

_REGION_STATES = frozenset(
    {workflow.STATE_SCAN_REGION, workflow.STATE_MORE, workflow.STATE_REGION_DONE, workflow.STATE_REGION_FAILED}
)
_TASK_FAILURES = frozenset({"TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed"})
_EXECUTION_ENDS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})


# --------------------------------------------------------------------------------------------
# The progress model and the fold of history events into it (pure)
# --------------------------------------------------------------------------------------------


class RegionState(StrEnum):
    queued = "queued"
    scanning = "scanning"
    done = "done"
    failed = "failed"


class Phase(StrEnum):
    starting = "starting"
    planning = "planning"
    scanning = "scanning"
    aggregating = "aggregating"
    finished = "finished"


@dataclass(frozen=True)
class RegionProgress:
    """One region of the run, as far as the history has told."""

    region: str
    state: RegionState = RegionState.queued
    invocations: int = 0
    """Entries into ScanRegion: the first invocation of the region's worker and each continuation."""
    retries: int = 0
    """Attempts of the current invocation after a failed one (the state machine's Retry)."""
    last_error: str | None = None
    """Why the last failed attempt of the current invocation failed (`Error: message`)."""
    retried_after: str | None = None
    """The failure the current attempt retries (`last_error` when it was scheduled)."""
    error: str | None = None
    """Failed: Step Functions' Error (the exception's type for a function error)."""
    cause: str | None = None
    """Failed: the cause, as one line (a Lambda exception as `Type: message`)."""

    def describe(self) -> str:
        """`queued`, `scanning (invocation 2)`, `done (3 invocations)`, `failed: Error: message`."""
        if self.state is RegionState.queued:
            return "queued"
        if self.state is RegionState.scanning:
            retry = f", retry {self.retries}" if self.retries else ""
            retry += f" after {self.retried_after}" if self.retries and self.retried_after else ""
            return f"scanning (invocation {max(self.invocations, 1)}{retry})"
        if self.state is RegionState.done:
            return "done" if self.invocations <= 1 else f"done ({self.invocations} invocations)"
        return f"failed: {failure_text(self.error, self.cause)}" if self.error or self.cause else "failed"


@dataclass(frozen=True)
class _Scope:
    """The state an event belongs to and, inside the Map, the region of its iteration."""

    state: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class RunProgress:
    """Every region of the run in plan order, the run's phase and the history's cursor."""

    regions: Mapping[str, RegionProgress] = field(default_factory=dict)
    phase: Phase = Phase.starting
    last_event_id: int = 0
    """The highest event id folded in: the next read starts after it."""
    planned: tuple[str, ...] = ()
    """The regions the Plan step returned (the Map's items, by index)."""
    _scopes: Mapping[int, _Scope] = field(default_factory=dict, repr=False, compare=False)
    _attempts: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    def counts(self) -> dict[RegionState, int]:
        tally = {state: 0 for state in RegionState}
        for progress in self.regions.values():
            tally[progress.state] += 1
        return tally


Update = RegionProgress | Phase
"""What `advance` reports as it goes: a region's new state, or the run's next phase."""


def fold(events: Iterable[Mapping[str, Any]]) -> RunProgress:
    """The progress a list of history events (oldest first) tells, from the start."""
    return advance(RunProgress(), events)[0]


def advance(progress: RunProgress, events: Iterable[Mapping[str, Any]]) -> tuple[RunProgress, list[Update]]:
    """`progress` with `events` (the ones after its cursor, oldest first) folded in, and the
    updates in the order they happened: each region whose `describe()` changed, each phase
    entered. `progress` itself is left as it was; events at or before its cursor are skipped."""
    folder = _Folder(progress)
    for event in sorted(events, key=lambda e: int(e.get("id", 0))):
        if int(event.get("id", 0)) > folder.last_event_id:
            folder.apply(event)
    return folder.result(), folder.updates


class _Folder:
    """The mutable copy `advance` works on: one copy per call, not per event."""

    def __init__(self, progress: RunProgress) -> None:
        self.regions = dict(progress.regions)
        self.phase = progress.phase
        self.last_event_id = progress.last_event_id
        self.planned = progress.planned
        self.scopes = dict(progress._scopes)
        self.attempts = dict(progress._attempts)
        self.updates: list[Update] = []

    def result(self) -> RunProgress:
        return RunProgress(self.regions, self.phase, self.last_event_id, self.planned, self.scopes, self.attempts)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _enter(self, phase: Phase) -> None:
        if phase is not self.phase and list(Phase).index(phase) > list(Phase).index(self.phase):
            self.phase = phase
            if phase is not Phase.finished:
                self.updates.append(phase)

    def _plan(self, regions: Any) -> None:
        if not isinstance(regions, list) or self.planned:
            return
        self.planned = tuple(str(region) for region in regions if isinstance(region, str))
        for region in self.planned:
            self._set(region)

    def _set(self, region: str, **changes: Any) -> None:
        before = self.regions.get(region)
        after = replace(before or RegionProgress(region), **changes)
        self.regions[region] = after
        if before is None or before.describe() != after.describe():
            self.updates.append(after)

    def _region_at(self, index: Any) -> str | None:
        if isinstance(index, int) and 0 <= index < len(self.planned):
            return self.planned[index]
        return None

    # -- one event -----------------------------------------------------------------------------

    def apply(self, event: Mapping[str, Any]) -> None:
        event_id = int(event.get("id", 0))
        kind = str(event.get("type", ""))
        details = _details(event)
        scope = self._scope(kind, details, event)
        self.scopes[event_id] = scope
        self.last_event_id = event_id
        name = details.get("name")

        if kind.endswith("StateEntered"):
            if name == workflow.STATE_PLAN:
                self._enter(Phase.planning)
            elif name == workflow.STATE_REGIONS:
                self._plan((_json(details.get("input")) or {}).get("regions"))
                self._enter(Phase.scanning)
            elif name == workflow.STATE_AGGREGATE:
                self._enter(Phase.aggregating)
            elif name == workflow.STATE_SCAN_REGION and scope.region is not None:
                before = self.regions.get(scope.region) or RegionProgress(scope.region)
                self.attempts[scope.region] = 0
                self._set(
                    scope.region,
                    state=RegionState.scanning,
                    invocations=before.invocations + 1,
                    retries=0,
                    last_error=None,
                    retried_after=None,
                )
        elif kind.endswith("StateExited"):
            output = _json(details.get("output"))
            output = output if isinstance(output, dict) else {}
            if name == workflow.STATE_PLAN:
                self._plan(output.get("regions"))
            elif name == workflow.STATE_REGION_DONE:
                region = _region_of(output) or scope.region
                if region is not None:
                    self._set(region, state=RegionState.done)
            elif name == workflow.STATE_REGION_FAILED:
                region = _region_of(output) or scope.region
                if region is not None:
                    self._set(
                        region,
                        state=RegionState.failed,
                        error=_text(output.get("error")),
                        cause=_text(output.get("cause")),
                    )
        elif kind == "TaskScheduled" and scope.state == workflow.STATE_SCAN_REGION and scope.region is not None:
            before = self.regions.get(scope.region) or RegionProgress(scope.region)
            attempts = self.attempts.get(scope.region, 0) + 1
            self.attempts[scope.region] = attempts
            self._set(
                scope.region,
                state=RegionState.scanning,
                invocations=max(before.invocations, 1),
                retries=attempts - 1,
                retried_after=before.last_error if attempts > 1 else None,
            )
        elif kind in _TASK_FAILURES and scope.state == workflow.STATE_SCAN_REGION and scope.region is not None:
            self._set(scope.region, last_error=failure_text(_text(details.get("error")), _text(details.get("cause"))))
        elif kind == "TaskSucceeded" and scope.state == workflow.STATE_SCAN_REGION and scope.region is not None:
            payload = (_json(details.get("output")) or {}).get("Payload")
            if isinstance(payload, dict) and payload.get("done") is True:
                self._set(scope.region, state=RegionState.done)
        elif kind in _EXECUTION_ENDS:
            self._enter(Phase.finished)

    def _scope(self, kind: str, details: Mapping[str, Any], event: Mapping[str, Any]) -> _Scope:
        """The state and region of an event: named by state entries (and the Map's iteration
        index), inherited from the previous event otherwise."""
        if kind.endswith("StateEntered"):
            name = _text(details.get("name"))
            if name in _REGION_STATES:
                inherited = self.scopes.get(int(event.get("previousEventId") or 0), _Scope())
                return _Scope(name, _region_of(_json(details.get("input"))) or inherited.region)
            return _Scope(name)
        if kind.startswith("MapIteration"):
            return _Scope(workflow.STATE_REGIONS, self._region_at(details.get("index")))
        if kind.startswith("MapState") or kind.startswith("Execution"):
            return _Scope(workflow.STATE_REGIONS if kind.startswith("MapState") else None)
        inherited = self.scopes.get(int(event.get("previousEventId") or 0), _Scope())
        if kind == "TaskScheduled":
            payload = (_json(details.get("parameters")) or {}).get("Payload")
            if isinstance(payload, dict) and payload.get("action") == workflow.ACTION_SCAN_REGION:
                return _Scope(workflow.STATE_SCAN_REGION, _region_of(payload) or inherited.region)
        return inherited


def _details(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event's `...EventDetails` (state entries and exits share one key each)."""
    kind = str(event.get("type", ""))
    if kind.endswith("StateEntered"):
        key = "stateEnteredEventDetails"
    elif kind.endswith("StateExited"):
        key = "stateExitedEventDetails"
    else:
        key = kind[:1].lower() + kind[1:] + "EventDetails"
    details = event.get(key)
    return details if isinstance(details, Mapping) else {}


def _json(text: Any) -> Any:
    """A JSON text of the history, or None (absent, or cut off where the history truncates)."""
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _region_of(document: Any) -> str | None:
    region = document.get("region") if isinstance(document, dict) else None
    return region if isinstance(region, str) and region else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def failure_text(error: str | None, cause: str | None) -> str:
    """Step Functions' Error and Cause as one line: a Lambda exception's cause (its JSON, with
    the stack trace) becomes `Type: message`, any other cause follows the error."""
    cause = cause or ""
    thrown = _json(cause)
    if isinstance(thrown, dict) and "errorMessage" in thrown:
        text = f"{thrown.get('errorType') or error or 'Error'}: {thrown['errorMessage']}"
    elif cause.strip():
        text = f"{error}: {cause}" if error else cause
    else:
        text = error or "failed"
    text = " ".join(text.split())
    return text if len(text) <= MAX_CAUSE_CHARS else text[: MAX_CAUSE_CHARS - 1] + "…"


# --------------------------------------------------------------------------------------------
# Starting and following an execution
# --------------------------------------------------------------------------------------------


def execution_name(now: datetime | None = None) -> str:
    """A unique, sortable execution name (80 characters at most, as Step Functions requires)."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"ec2c-run-{moment}-{uuid4().hex[:8]}"


def execution_input(regions: Sequence[str]) -> dict[str, Any]:
    """`{}` (the environment's configured regions) or `{"regions": [...]}` for this run only."""
    return {"regions": list(regions)} if regions else {}


def start(client: Any, state_machine_arn: str, regions: Sequence[str], name: str | None = None) -> str:
    """StartExecution; the execution's ARN."""
    response = client.start_execution(
        stateMachineArn=state_machine_arn, name=name or execution_name(), input=json.dumps(execution_input(regions))
    )
    return str(response["executionArn"])


def new_events(client: Any, execution_arn: str, after: int) -> list[dict[str, Any]]:
    """The history's events with an id above `after`, oldest first. Read newest first, page by
    page, until a page reaches `after`: a poll reads only what is new (plus the rest of one page),
    however long the history already is."""
    collected: dict[int, dict[str, Any]] = {}
    token: str | None = None
    while True:
        request: dict[str, Any] = {
            "executionArn": execution_arn,
            "reverseOrder": True,
            "maxResults": HISTORY_PAGE_SIZE,
            "includeExecutionData": True,
        }
        if token:
            request["nextToken"] = token
        page = client.get_execution_history(**request)
        events = page.get("events") or []
        for event in events:
            if int(event["id"]) > after:
                collected[int(event["id"])] = event
        token = page.get("nextToken")
        if not token or any(int(event["id"]) <= after for event in events):
            return [collected[event_id] for event_id in sorted(collected)]


@dataclass(frozen=True)
class Outcome:
    """How an execution ended, and the progress its history told."""

    status: str
    output: Any
    """The parsed output: for SUCCEEDED, the Aggregate's dict (status, run_id, report_key,
    summary, incomplete_regions ...)."""
    error: str | None
    cause: str | None
    progress: RunProgress


def follow(
    client: Any,
    execution_arn: str,
    on_update: Callable[[Update], None],
    *,
    interval_s: float = POLL_INTERVAL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Poll the execution until it ends (DescribeExecution, then the new history events, folded
    and handed to `on_update` one by one); the status is read before the history, so the last
    read has every event."""
    progress = RunProgress()
    while True:
        described = client.describe_execution(executionArn=execution_arn)
        progress, updates = advance(progress, new_events(client, execution_arn, progress.last_event_id))
        for update in updates:
            on_update(update)
        status = str(described.get("status"))
        if status not in RUNNING_STATUSES:
            return Outcome(
                status,
                _json(described.get("output")),
                _text(described.get("error")),
                _text(described.get("cause")),
                progress,
            )
        sleep(interval_s)


def console_url(arn: str) -> str:
    """The console page of an execution or a state machine (in its partition's console)."""
    parts = arn.split(":")
    partition, region, kind = (parts[1], parts[3], parts[5]) if len(parts) > 5 else ("aws", "us-east-1", "")
    host = {
        "aws-cn": "console.amazonaws.cn",
        "aws-us-gov": "console.amazonaws-us-gov.com",
    }.get(partition, f"{region}.console.aws.amazon.com")
    page = "statemachines/view" if kind == "stateMachine" else "v2/executions/details"
    return f"https://{host}/states/home?region={region}#/{page}/{arn}"


def arn_region(arn: str) -> str | None:
    """The region of a Step Functions ARN, or None if it is not one."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "states" and parts[3]:
        return parts[3]
    return None
