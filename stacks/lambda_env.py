"""The scanner Lambda's environment variables, and the check that they fit Lambda's 4 KB limit.

Lambda rejects a function whose environment variables (keys plus values) exceed 4 KB, but only
when the provider calls the API, minutes into a deployment. The rule policy travels in one of
those variables, so a large policy is caught here, when the arguments are built, instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ec2c.scanner import contract

ENV_SIZE_LIMIT_BYTES = 4096
"""Lambda's limit on the total size of a function's environment variables."""

MAX_BUCKET_NAME_CHARS = 63
"""S3's upper bound on a bucket name; the real name is only known once the bucket exists."""

MAX_TOPIC_NAME_CHARS = 64
"""The component keeps its topic's name within this (SNS allows 256): every byte not reserved
for the ARN is room for the policy's suppressions."""

MAX_TOPIC_ARN_CHARS = len("arn:aws-iso-b:sns:") + 25 + len(":123456789012:") + MAX_TOPIC_NAME_CHARS
"""The longest partition, a generous region name, an account id and the topic name's bound."""

MAX_REGION_CHARS = 25
"""Room for the deployment region, which stands in for an empty region list."""


def scanner_environment(
    *,
    bucket_name: str,
    topic_arn: str,
    metric_namespace: str,
    policy_json: str,
    regions: Sequence[str],
    security_hub: bool = False,
    events_alert_severity: str | None = None,
) -> dict[str, str]:
    """Map the contract's variable names to values: the one place the two sides meet."""
    variables = {
        contract.ENV_REPORT_BUCKET: bucket_name,
        contract.ENV_SNS_TOPIC_ARN: topic_arn,
        contract.ENV_METRIC_NAMESPACE: metric_namespace,
        contract.ENV_POLICY: policy_json,
        contract.ENV_SCAN_REGIONS: ",".join(regions),
    }
    if security_hub:
        variables[contract.ENV_SECURITY_HUB] = "true"
    if events_alert_severity is not None:
        variables[contract.ENV_EVENTS_ALERT_SEVERITY] = events_alert_severity
    return variables


def environment_size(variables: Mapping[str, str]) -> int:
    """Size as Lambda counts it: the UTF-8 bytes of every key and value."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in variables.items())


def worst_case_environment_size(
    *,
    metric_namespace: str,
    policy_json: str,
    regions: Sequence[str],
    events_alert_severity: str | None = None,
) -> int:
    """The size the variables can reach once the bucket, topic and region are known.

    Values that only exist after deployment are replaced by placeholders of their maximum
    length, so a policy accepted here can never be rejected by Lambda later. The events
    severity is known when the args are built, so it counts as given (and not at all without
    the change-event path).
    """
    placeholder_regions = regions or ["r" * MAX_REGION_CHARS]
    return environment_size(
        scanner_environment(
            bucket_name="b" * MAX_BUCKET_NAME_CHARS,
            topic_arn="a" * MAX_TOPIC_ARN_CHARS,
            metric_namespace=metric_namespace,
            policy_json=policy_json,
            regions=placeholder_regions,
            security_hub=True,
            events_alert_severity=events_alert_severity,
        )
    )
