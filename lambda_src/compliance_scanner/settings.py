"""The Lambda's settings, read and validated from its environment variables and event (pure).

Validated before any AWS call so a misconfigured deployment fails on its first invocation with a
message naming the variable, instead of scanning and then failing to store the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .assessment.policy import Policy, policy_from_json
from .contract import (
    DEFAULT_METRIC_NAMESPACE,
    ENV_EVENTS_ALERT_SEVERITY,
    ENV_METRIC_NAMESPACE,
    ENV_POLICY,
    ENV_REPORT_BUCKET,
    ENV_SCAN_REGIONS,
    ENV_SECURITY_HUB,
    ENV_SNS_TOPIC_ARN,
    REGION_PATTERN,
)
from .registry import Severity


class ConfigError(ValueError):
    """A missing or malformed setting; the message names it but never echoes secrets."""


@dataclass(frozen=True)
class Settings:
    bucket: str
    topic_arn: str | None
    namespace: str
    policy: Policy
    regions: tuple[str, ...]
    home_region: str
    security_hub: bool = False
    events_alert_severity: Severity = Severity.HIGH
    """The least severe new failure of an event-driven evaluation that alerts at once."""


def _regions(values: list[Any], origin: str) -> tuple[str, ...]:
    for value in values:
        if not isinstance(value, str) or not REGION_PATTERN.fullmatch(value):
            raise ConfigError(f"{origin}: {value!r} is not an AWS region name")
    return tuple(dict.fromkeys(values))


def region_name(value: Any, origin: str) -> str:
    """`value` if it is an AWS region name; ConfigError naming `origin` otherwise."""
    return _regions([value], origin)[0]


def event_regions(event: Any) -> tuple[str, ...] | None:
    """`{"regions": [...]}` in the event overrides the configured regions for one run."""
    if not isinstance(event, Mapping) or "regions" not in event:
        return None
    regions = event["regions"]
    if not isinstance(regions, list) or not regions:
        raise ConfigError(f"event.regions: expected a non-empty list of regions, got {regions!r}")
    return _regions(regions, "event.regions")


def load_settings(env: Mapping[str, str], event: Any = None) -> Settings:
    """Raises ConfigError (or PolicyError, also a ValueError) for unusable settings."""
    bucket = env.get(ENV_REPORT_BUCKET, "").strip()
    if not bucket:
        raise ConfigError(f"{ENV_REPORT_BUCKET} is not set")
    topic_arn = env.get(ENV_SNS_TOPIC_ARN, "").strip() or None
    if topic_arn is not None and not topic_arn.startswith("arn:"):
        raise ConfigError(f"{ENV_SNS_TOPIC_ARN} is not an ARN")
    home_region = env.get("AWS_REGION", "").strip()
    configured = [r.strip() for r in env.get(ENV_SCAN_REGIONS, "").split(",") if r.strip()]
    regions = event_regions(event) or _regions(configured, ENV_SCAN_REGIONS)
    if not home_region:
        raise ConfigError("AWS_REGION is not set (the Lambda runtime always sets it)")
    security_hub = env.get(ENV_SECURITY_HUB, "").strip().lower()
    if security_hub not in ("", "true", "false"):
        raise ConfigError(f"{ENV_SECURITY_HUB}: expected true or false, got {security_hub!r}")
    return Settings(
        bucket=bucket,
        topic_arn=topic_arn,
        namespace=env.get(ENV_METRIC_NAMESPACE, "").strip() or DEFAULT_METRIC_NAMESPACE,
        policy=policy_from_json(env.get(ENV_POLICY, ""), f"environment variable {ENV_POLICY}"),
        regions=regions or (home_region,),
        home_region=home_region,
        security_hub=security_hub == "true",
        events_alert_severity=_severity(env.get(ENV_EVENTS_ALERT_SEVERITY, "").strip() or Severity.HIGH),
    )


def _severity(value: str) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        allowed = ", ".join(severity.value for severity in Severity)
        raise ConfigError(f"{ENV_EVENTS_ALERT_SEVERITY}: expected one of {allowed}, got {value!r}") from None
