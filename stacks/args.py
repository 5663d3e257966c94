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

from compliance_scanner import contract
from compliance_scanner.policy import Policy, load_policy

from stacks.schedule import schedule_problem
from stacks.lambda_env import ENV_SIZE_LIMIT_BYTES, worst_case_environment_size

ENVIRONMENT_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?")
"""1-24 chars: the suffix must fit inside S3, Lambda and IAM name limits once prefixed."""

EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
REGION_PATTERN = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9._/#: -]{1,255}")

LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
"""The retention values CloudWatch Logs accepts (PutRetentionPolicy)."""

MEMORY_RANGE_MB = (128, 10240)
EPHEMERAL_STORAGE_RANGE_MB = (512, 10240)
"""Lambda's limits on `/tmp`, where the scanner spools each region's compressed shards."""
TIMEOUT_RANGE_S = (1, 900)
MAX_TAGS = 48
"""AWS allows 50 tags per resource; the component adds `ManagedBy` and `Environment`."""


class ArgsError(ValueError):
    """A field of `ComplianceAnalyzerArgs` holds a value the stack cannot deploy."""


def _fail(name: str, expected: str, got: Any) -> ArgsError:
    return ArgsError(f"ComplianceAnalyzerArgs.{name}: expected {expected}, got {got!r}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(name, f"{low}..{high}", value)


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


def _check_unique_strings(
    name: str, value: Any, pattern: re.Pattern[str], shape: str
) -> tuple[str, ...]:
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
    if (
        not isinstance(value, str)
        or not NAMESPACE_PATTERN.fullmatch(value)
        or value.startswith("AWS/")
    ):
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
class ComplianceAnalyzerArgs:
    """Inputs of `ComplianceAnalyzer`, as the orchestrator builds them from an environment file.

    `rule_policy` and `policy_json` are derived once here so the component, the IAM policy and
    the Lambda environment all read the same parsed policy. `policy_json` is the caller's
    document as given (validated by `load_policy` first), not the expanded policy: the scanner
    fills in the same defaults when it loads it, and the expanded form spells out every rule
    (~2.3 KB) of Lambda's 4 KB environment, leaving little room for suppressions.

    `force_destroy` lets `destroy` empty the versioned reports bucket; ephemeral test stacks
    whose scanner wrote reports need it, long-lived environments keep the default (False).
    `reserved_concurrency` (default 1) keeps two scans from racing on `latest.json`; `tracing`
    turns on X-Ray active tracing; `async_retries` (0-2, default 1) is how often Lambda retries
    a failed scheduled scan before it goes to the dead-letter queue; `security_hub` lets the
    scanner import findings into the account's default Security Hub product.
    """

    environment: str
    tags: Mapping[str, str] = field(default_factory=dict)
    schedule: str = "rate(1 day)"
    policy: Mapping[str, Any] = field(default_factory=dict)
    alert_emails: Sequence[str] = ()
    report_retention_days: int = 90
    log_retention_days: int = 30
    lambda_memory_mb: int = 512
    lambda_timeout_s: int = 300
    lambda_ephemeral_storage_mb: int = 512
    regions: Sequence[str] = ()
    metric_namespace: str = contract.DEFAULT_METRIC_NAMESPACE
    force_destroy: bool = False
    reserved_concurrency: int = 1
    tracing: bool = True
    async_retries: int = 1
    security_hub: bool = False
    rule_policy: Policy = field(init=False, repr=False, compare=False)
    policy_json: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.environment, str) or not ENVIRONMENT_PATTERN.fullmatch(
            self.environment
        ):
            raise _fail(
                "environment",
                "1-24 characters of [a-z0-9-] starting and ending with a letter or digit",
                self.environment,
            )
        _check_schedule(self.schedule)
        _check_int("report_retention_days", self.report_retention_days, 1, 36500)
        if (
            isinstance(self.log_retention_days, bool)
            or self.log_retention_days not in LOG_RETENTION_DAYS
        ):
            raise _fail(
                "log_retention_days",
                f"one of {', '.join(map(str, LOG_RETENTION_DAYS))}",
                self.log_retention_days,
            )
        _check_int("lambda_memory_mb", self.lambda_memory_mb, *MEMORY_RANGE_MB)
        _check_int("lambda_timeout_s", self.lambda_timeout_s, *TIMEOUT_RANGE_S)
        _check_int("lambda_ephemeral_storage_mb", self.lambda_ephemeral_storage_mb, *EPHEMERAL_STORAGE_RANGE_MB)
        _check_namespace(self.metric_namespace)
        if not isinstance(self.force_destroy, bool):
            raise _fail("force_destroy", "True or False", self.force_destroy)
        _check_int("reserved_concurrency", self.reserved_concurrency, 1, 1000)
        _check_int("async_retries", self.async_retries, 0, 2)
        if not isinstance(self.security_hub, bool):
            raise _fail("security_hub", "True or False", self.security_hub)
        if not isinstance(self.tracing, bool):
            raise _fail("tracing", "True or False", self.tracing)
        self._set("tags", _check_tags(self.tags))
        self._set(
            "alert_emails",
            _check_unique_strings(
                "alert_emails", self.alert_emails, EMAIL_PATTERN, "e-mail addresses"
            ),
        )
        self._set(
            "regions",
            _check_unique_strings("regions", self.regions, REGION_PATTERN, "AWS region names"),
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
