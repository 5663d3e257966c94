"""`ComplianceAnalyzerArgs`: every knob of the stack, validated before any resource exists.

A wrong value found by the AWS provider costs a half-applied deployment; found here it costs a
one-line error naming the field (`ComplianceAnalyzerArgs.<field>: expected ..., got ...`),
which the orchestrator shows as bad input. All checks run in `__post_init__` so an args object
that exists is one the stack can deploy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ec2c.stacks.bounds as bounds
from ec2c.scanner.assessment.policy import Policy, load_policy
from ec2c.scanner.registry import SEVERITY_NAMES
from ec2c.scanner.run import workflow
from ec2c.stacks.bounds import Bound
from ec2c.stacks.lambda_env import ENV_SIZE_LIMIT_BYTES, worst_case_environment_size
from ec2c.stacks.schedule import schedule_problem

ENVIRONMENT_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?")
"""1-24 chars: the suffix must fit inside S3, Lambda and IAM name limits once prefixed."""

NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9._/#: -]{1,255}")

MAX_TAGS = 48
"""AWS allows 50 tags per resource; the component adds `ManagedBy` and `Environment`."""
RUN_DOCUMENT_ALLOWANCE_BYTES = 2048
"""What the Plan step's `run` document may take besides the region list (ids, times, the
previous report's key, a history error): a generous bound, so the estimate stays conservative."""


class ArgsError(ValueError):
    """A field of `ComplianceAnalyzerArgs` holds a value the stack cannot deploy."""


def _fail(name: str, expected: str, got: Any) -> ArgsError:
    return ArgsError(f"ComplianceAnalyzerArgs.{name}: expected {expected}, got {got!r}")


def _check_int(name: str, value: Any, bound: Bound) -> None:
    if not bound.admits(value):
        raise _fail(name, f"{bound.low}..{bound.high}", value)


def plan_output_size(regions: Sequence[str]) -> int:
    """A conservative size of the Plan step's output `{"run": {...}, "regions": [...]}`: the
    region list as JSON plus `RUN_DOCUMENT_ALLOWANCE_BYTES` for the run. The Map carries it, and
    a state whose output exceeds `workflow.MAX_STATE_PAYLOAD_BYTES` fails the whole execution."""
    return len(json.dumps(list(regions)).encode()) + RUN_DOCUMENT_ALLOWANCE_BYTES


def _check_schedule(value: Any) -> None:
    problem = schedule_problem(value)
    if problem is not None:
        raise _fail("schedule", problem.removeprefix("expected "), value)


def _check_tags(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or len(value) > MAX_TAGS:
        raise _fail("tags", f"a mapping of at most {MAX_TAGS} tags", value)
    for key, tag_value in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.startswith("aws:"):
            raise _fail("tags", "keys of 1-128 characters not starting with 'aws:'", key)
        if not isinstance(tag_value, str) or len(tag_value) > 256:
            raise _fail(f"tags[{key!r}]", "a string of at most 256 characters", tag_value)
    return dict(value)


def _check_unique_strings(name: str, value: Any, pattern: re.Pattern[str], shape: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail(name, f"a sequence of {shape}", value)
    items = tuple(value)
    for item in items:
        if not isinstance(item, str) or not pattern.fullmatch(item):
            raise _fail(name, shape, item)
    if len({item.lower() for item in items}) != len(items):
        raise _fail(name, f"distinct {shape}", items)
    return items


def _check_namespace(value: Any) -> None:
    if not isinstance(value, str) or not NAMESPACE_PATTERN.fullmatch(value) or value.startswith("AWS/"):
        raise _fail(
            "metric_namespace",
            "1-255 characters of [A-Za-z0-9._/#: -] not starting with 'AWS/'",
            value,
        )


def _json_value(value: Any) -> Any:
    """`json.dumps` fallback for what a validated policy may still hold besides JSON types:
    YAML dates (`expires: 2025-06-30`, shipped as the ISO day `load_policy` reads them as) and
    non-dict mappings."""
    if isinstance(value, date):
        return date(value.year, value.month, value.day).isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def policy_document_json(document: Mapping[str, Any]) -> str:
    """The caller's policy document as compact JSON with sorted keys (stable across runs, so
    Pulumi only sees a change when the policy does)."""
    return json.dumps(document, default=_json_value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class EventsArgs:
    """The change-event path: EventBridge rules in every scan region feeding one SQS queue in the
    home region, which the scanner drains in batches (`ComplianceAnalyzer._events`).

    `alert_severity` is the least severe finding of an event-driven evaluation that alerts at
    once (one of the registry's severities); `batch_window_s` (0-300) how long Lambda gathers
    messages before invoking the scanner; `batch_size` (1-10,000, above 10 only with a window of
    at least a second, Lambda's rule for standard queues) how many it hands over at most.
    """

    alert_severity: str = bounds.EVENTS_DEFAULT_ALERT_SEVERITY
    batch_window_s: int = bounds.EVENTS_BATCH_WINDOW_S.default
    batch_size: int = bounds.EVENTS_BATCH_SIZE.default

    def __post_init__(self) -> None:
        if not isinstance(self.alert_severity, str) or self.alert_severity not in SEVERITY_NAMES:
            raise _fail("events.alert_severity", f"one of {', '.join(SEVERITY_NAMES)}", self.alert_severity)
        _check_int("events.batch_window_s", self.batch_window_s, bounds.EVENTS_BATCH_WINDOW_S)
        _check_int("events.batch_size", self.batch_size, bounds.EVENTS_BATCH_SIZE)
        if self.batch_size > bounds.EVENTS_UNBATCHED_MAX_SIZE and self.batch_window_s < 1:
            raise _fail(
                "events.batch_size",
                f"at most {bounds.EVENTS_UNBATCHED_MAX_SIZE} without a batching window (Lambda takes "
                "more messages from a standard queue only with batch_window_s of at least 1)",
                self.batch_size,
            )


@dataclass(frozen=True)
class ComplianceAnalyzerArgs:
    """Inputs of `ComplianceAnalyzer`, as the orchestrator builds them from an environment file.

    `rule_policy` and `policy_json` are derived once here so the component, the IAM policy and
    the Lambda environment all read the same parsed policy. `policy_json` is the caller's
    document as given (validated by `load_policy` first), not the expanded policy: the scanner
    fills in the same defaults when it loads it, and the expanded form spells out every rule
    (~2.3 KB) of Lambda's 4 KB environment, leaving little room for suppressions.

    `force_destroy` lets `destroy` empty the versioned reports bucket; ephemeral test stacks
    whose scanner wrote reports need it, long-lived environments keep the default (False).
    `region_concurrency` (1-40, default 4) is how many regions the state machine's Map scans at
    once. `reserved_concurrency` caps (and reserves) the function's concurrent executions; it
    defaults to `region_concurrency` and may not be lower: one run invokes the function up to
    `region_concurrency` times at once, so less would throttle every run. It no longer keeps two
    scans apart: an overlapping execution shares the reservation (its throttled workers are
    retried by the definition's `SERVICE_RETRY`) and its aggregate writes `latest.json` too.
    `tracing` turns on X-Ray active
    tracing of the function; `async_retries` (0-2, default 1) is how often Lambda retries a
    failed asynchronous invocation (an operator's `--invocation-type Event` scan; the schedule
    now starts the state machine, which invokes synchronously) before it goes to the
    dead-letter queue; `security_hub` lets the scanner import findings into the account's
    default Security Hub product. `events` (`EventsArgs`) turns on the change-event path; unset,
    none of its resources exist.
    """

    environment: str
    tags: Mapping[str, str] = field(default_factory=dict)
    schedule: str = bounds.DEFAULT_SCHEDULE
    policy: Mapping[str, Any] = field(default_factory=dict)
    alert_emails: Sequence[str] = ()
    report_retention_days: int = bounds.REPORT_RETENTION_DAYS.default
    log_retention_days: int = bounds.DEFAULT_LOG_RETENTION_DAYS
    lambda_memory_mb: int = bounds.LAMBDA_MEMORY_MB.default
    lambda_timeout_s: int = bounds.LAMBDA_TIMEOUT_S.default
    lambda_ephemeral_storage_mb: int = bounds.LAMBDA_EPHEMERAL_STORAGE_MB.default
    regions: Sequence[str] = ()
    metric_namespace: str = bounds.DEFAULT_METRIC_NAMESPACE
    force_destroy: bool = False
    region_concurrency: int = bounds.REGION_CONCURRENCY.default
    reserved_concurrency: int | None = None
    tracing: bool = True
    async_retries: int = bounds.ASYNC_RETRIES.default
    security_hub: bool = False
    events: EventsArgs | None = None
    rule_policy: Policy = field(init=False, repr=False, compare=False)
    policy_json: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.environment, str) or not ENVIRONMENT_PATTERN.fullmatch(self.environment):
            raise _fail(
                "environment",
                "1-24 characters of [a-z0-9-] starting and ending with a letter or digit",
                self.environment,
            )
        _check_schedule(self.schedule)
        _check_int("report_retention_days", self.report_retention_days, bounds.REPORT_RETENTION_DAYS)
        if isinstance(self.log_retention_days, bool) or self.log_retention_days not in bounds.LOG_RETENTION_DAYS:
            raise _fail(
                "log_retention_days",
                f"one of {', '.join(map(str, bounds.LOG_RETENTION_DAYS))}",
                self.log_retention_days,
            )
        _check_int("lambda_memory_mb", self.lambda_memory_mb, bounds.LAMBDA_MEMORY_MB)
        _check_int("lambda_timeout_s", self.lambda_timeout_s, bounds.LAMBDA_TIMEOUT_S)
        _check_int("lambda_ephemeral_storage_mb", self.lambda_ephemeral_storage_mb, bounds.LAMBDA_EPHEMERAL_STORAGE_MB)
        _check_namespace(self.metric_namespace)
        if not isinstance(self.force_destroy, bool):
            raise _fail("force_destroy", "True or False", self.force_destroy)
        _check_int("region_concurrency", self.region_concurrency, bounds.REGION_CONCURRENCY)
        reserved = self.reserved_concurrency
        if reserved is None:
            reserved = self.region_concurrency
        _check_int("reserved_concurrency", reserved, bounds.RESERVED_CONCURRENCY)
        if reserved < self.region_concurrency:
            raise _fail(
                "reserved_concurrency",
                f"at least region_concurrency ({self.region_concurrency}, the regions scanned at "
                "once; fewer reserved executions would throttle every run)",
                reserved,
            )
        self._set("reserved_concurrency", reserved)
        _check_int("async_retries", self.async_retries, bounds.ASYNC_RETRIES)
        if not isinstance(self.security_hub, bool):
            raise _fail("security_hub", "True or False", self.security_hub)
        if not isinstance(self.tracing, bool):
            raise _fail("tracing", "True or False", self.tracing)
        if self.events is not None and not isinstance(self.events, EventsArgs):
            raise _fail("events", "EventsArgs or None", self.events)
        self._set("tags", _check_tags(self.tags))
        self._set(
            "alert_emails",
            _check_unique_strings("alert_emails", self.alert_emails, bounds.EMAIL_PATTERN, "e-mail addresses"),
        )
        self._set(
            "regions",
            _check_unique_strings("regions", self.regions, bounds.REGION_PATTERN, "AWS region names"),
        )
        plan_size = plan_output_size(self.regions)
        if plan_size > workflow.MAX_STATE_PAYLOAD_BYTES:
            raise ArgsError(
                "ComplianceAnalyzerArgs.regions: expected a region list the state machine's Map "
                f"can carry (the plan step's output, estimated at {plan_size} bytes, must stay "
                f"within Step Functions' {workflow.MAX_STATE_PAYLOAD_BYTES}-byte state payload), "
                f"got {len(self.regions)} regions"
            )
        if not isinstance(self.policy, Mapping):
            raise _fail("policy", "a mapping (the rule policy document)", self.policy)
        rule_policy = load_policy(self.policy, source="ComplianceAnalyzerArgs.policy")
        self._set("rule_policy", rule_policy)
        self._set("policy_json", policy_document_json(self.policy))
        size = worst_case_environment_size(
            metric_namespace=self.metric_namespace,
            policy_json=self.policy_json,
            regions=self.regions,
            events_alert_severity=self.events.alert_severity if self.events else None,
        )
        if size > ENV_SIZE_LIMIT_BYTES:
            raise ArgsError(
                "ComplianceAnalyzerArgs.policy: expected a policy whose compact JSON keeps the "
                f"Lambda environment within {ENV_SIZE_LIMIT_BYTES} bytes, got {size} bytes "
                f"(policy JSON is {len(self.policy_json.encode())} bytes)"
            )

    def _set(self, name: str, value: Any) -> None:
        """Store a normalised copy on the frozen instance; the caller's object may change freely."""
        object.__setattr__(self, name, value)
