"""`ComplianceAnalyzerArgs`: defaults, normalisation and one clear error per bad field."""

from __future__ import annotations

import json
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import pytest

from ec2c.scanner import contract
from ec2c.scanner.assessment.policy import DEFAULT_ALERT_THRESHOLD, PolicyError, load_policy
from ec2c.scanner.run import workflow
from ec2c.stacks import ArgsError, ComplianceAnalyzerArgs
from ec2c.stacks.args import (
    RUN_DOCUMENT_ALLOWANCE_BYTES,
    plan_output_size,
    policy_document_json,
)
from ec2c.stacks.bounds import LOG_RETENTION_DAYS, REGION_CONCURRENCY
from ec2c.stacks.lambda_env import ENV_SIZE_LIMIT_BYTES, worst_case_environment_size


def test_defaults() -> None:
    args = ComplianceAnalyzerArgs(environment="dev")
    assert args.tags == {}
    assert args.schedule == "rate(1 day)"
    assert args.alert_emails == ()
    assert (args.report_retention_days, args.log_retention_days) == (90, 30)
    assert (args.lambda_memory_mb, args.lambda_timeout_s) == (512, 300)
    assert args.regions == ()
    assert args.metric_namespace == contract.DEFAULT_METRIC_NAMESPACE
    assert args.force_destroy is False
    assert (args.region_concurrency, args.reserved_concurrency) == (4, 4)
    assert args.rule_policy == load_policy({})
    assert args.policy_json == "{}"
    assert args.rule_policy.alert_threshold == DEFAULT_ALERT_THRESHOLD


def test_force_destroy_is_kept() -> None:
    assert ComplianceAnalyzerArgs(environment="dev-a1b2c3", force_destroy=True).force_destroy


def test_the_lambda_gets_the_callers_document_not_the_expanded_policy() -> None:
    document = {"rules": {"ssm_managed": {"enabled": False}}, "alert_threshold": 75}
    args = ComplianceAnalyzerArgs(environment="dev", policy=document)
    assert args.rule_policy.alert_threshold == 75.0
    assert args.policy_json == '{"alert_threshold":75,"rules":{"ssm_managed":{"enabled":false}}}'
    expanded = json.dumps(args.rule_policy.to_document(), separators=(",", ":"), sort_keys=True)
    assert len(args.policy_json) * 20 < len(expanded)
    # The scanner fills in the same defaults, so it ends up with the same policy.
    assert load_policy(json.loads(args.policy_json)) == args.rule_policy


def test_yaml_dates_and_other_mappings_are_shipped_as_json() -> None:
    # What a YAML environment file yields: dates, datetimes and (after merging) any mapping.
    document = MappingProxyType(
        {
            "rules": MappingProxyType({"ssm_managed": {"enabled": False}}),
            "suppressions": [
                {"rule": "*", "instance_id": "i-1", "reason": "r", "expires": date(2030, 6, 30)},
                {
                    "rule": "*",
                    "tag": {"key": "Env", "value": "lab"},
                    "reason": "r",
                    "expires": datetime(2030, 7, 1, 12, 30),
                },
            ],
        }
    )
    args = ComplianceAnalyzerArgs(environment="dev", policy=document)
    shipped = json.loads(args.policy_json)
    assert [s["expires"] for s in shipped["suppressions"]] == ["2030-06-30", "2030-07-01"]
    assert shipped["rules"] == {"ssm_managed": {"enabled": False}}
    assert load_policy(shipped) == args.rule_policy


def test_policy_json_refuses_values_json_cannot_carry() -> None:
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        policy_document_json({"alert_threshold": object()})


def test_collections_are_copied_so_callers_cannot_change_a_validated_args() -> None:
    tags = {"Team": "secops"}
    emails = ["a@example.com"]
    regions = ["eu-west-1"]
    args = ComplianceAnalyzerArgs(environment="dev", tags=tags, alert_emails=emails, regions=regions)
    tags["Team"] = "x" * 300
    emails.append("not an e-mail")
    regions.append("mars")
    assert args.tags == {"Team": "secops"}
    assert args.alert_emails == ("a@example.com",)
    assert args.regions == ("eu-west-1",)


@pytest.mark.parametrize(
    "schedule",
    [
        "rate(1 day)",
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(12 hours)",
        "cron(0 6 * * ? *)",
        "cron(15 3 ? * MON-FRI *)",
    ],
)
def test_valid_schedules(schedule: str) -> None:
    assert ComplianceAnalyzerArgs(environment="dev", schedule=schedule).schedule == schedule


def test_every_cloudwatch_retention_is_accepted() -> None:
    for days in LOG_RETENTION_DAYS:
        assert ComplianceAnalyzerArgs(environment="dev", log_retention_days=days).log_retention_days == days


def test_boundaries_are_inclusive() -> None:
    low = ComplianceAnalyzerArgs(
        environment="a",
        lambda_memory_mb=128,
        lambda_timeout_s=1,
        report_retention_days=1,
        lambda_ephemeral_storage_mb=512,
    )
    high = ComplianceAnalyzerArgs(
        environment="a" * 24, lambda_memory_mb=10240, lambda_timeout_s=900, lambda_ephemeral_storage_mb=10240
    )
    assert (
        low.lambda_memory_mb,
        high.lambda_memory_mb,
        low.lambda_timeout_s,
        high.lambda_timeout_s,
        low.lambda_ephemeral_storage_mb,
        high.lambda_ephemeral_storage_mb,
    ) == (128, 10240, 1, 900, 512, 10240)


BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    (
        {"lambda_memory_mb": 64},
        "ComplianceAnalyzerArgs.lambda_memory_mb: expected 128..10240, got 64",
    ),
    (
        {"lambda_memory_mb": 10241},
        "ComplianceAnalyzerArgs.lambda_memory_mb: expected 128..10240, got 10241",
    ),
    (
        {"lambda_memory_mb": True},
        "ComplianceAnalyzerArgs.lambda_memory_mb: expected 128..10240, got True",
    ),
    ({"lambda_timeout_s": 0}, "ComplianceAnalyzerArgs.lambda_timeout_s: expected 1..900, got 0"),
    (
        {"lambda_timeout_s": 901},
        "ComplianceAnalyzerArgs.lambda_timeout_s: expected 1..900, got 901",
    ),
    (
        {"lambda_timeout_s": "300"},
        "ComplianceAnalyzerArgs.lambda_timeout_s: expected 1..900, got '300'",
    ),
    (
        {"lambda_ephemeral_storage_mb": 511},
        "ComplianceAnalyzerArgs.lambda_ephemeral_storage_mb: expected 512..10240, got 511",
    ),
    (
        {"lambda_ephemeral_storage_mb": 10241},
        "ComplianceAnalyzerArgs.lambda_ephemeral_storage_mb: expected 512..10240, got 10241",
    ),
    (
        {"report_retention_days": 0},
        "ComplianceAnalyzerArgs.report_retention_days: expected 1..36500, got 0",
    ),
    (
        {"log_retention_days": 10},
        "ComplianceAnalyzerArgs.log_retention_days: expected one of 1, 3, 5, 7, 14, 30,",
    ),
    (
        {"log_retention_days": True},
        "ComplianceAnalyzerArgs.log_retention_days: expected one of 1, 3,",
    ),
    (
        {"environment": "Prod"},
        "ComplianceAnalyzerArgs.environment: expected 1-24 characters of [a-z0-9-]",
    ),
    ({"environment": "a" * 25}, "ComplianceAnalyzerArgs.environment: expected 1-24 characters"),
    ({"environment": "-dev"}, "starting and ending with a letter or digit, got '-dev'"),
    ({"environment": "dev_1"}, "ComplianceAnalyzerArgs.environment: expected"),
    ({"environment": ""}, "ComplianceAnalyzerArgs.environment: expected"),
    ({"environment": None}, "ComplianceAnalyzerArgs.environment: expected"),
    (
        {"schedule": "daily"},
        "ComplianceAnalyzerArgs.schedule: expected 'rate(<n> minute[s]|hour[s]|day[s])'",
    ),
    ({"schedule": 5}, "ComplianceAnalyzerArgs.schedule: expected 'rate("),
    ({"schedule": "rate(0 days)"}, "ComplianceAnalyzerArgs.schedule: expected 'rate("),
    (
        {"schedule": "rate(1 days)"},
        "ComplianceAnalyzerArgs.schedule: expected a singular unit for 1",
    ),
    (
        {"schedule": "rate(2 hour)"},
        "ComplianceAnalyzerArgs.schedule: expected a singular unit for 1 and a plural",
    ),
    ({"schedule": "rate(1 week)"}, "ComplianceAnalyzerArgs.schedule: expected 'rate("),
    ({"schedule": "cron(0 6 * *)"}, "ComplianceAnalyzerArgs.schedule: expected 'rate("),
    (
        {"schedule": "cron(0 6 * * * *)"},
        "ComplianceAnalyzerArgs.schedule: expected '?' in the day-of-month",
    ),
    ({"tags": ["Team"]}, "ComplianceAnalyzerArgs.tags: expected a mapping of at most 48 tags"),
    (
        {"tags": {f"k{i}": "v" for i in range(49)}},
        "ComplianceAnalyzerArgs.tags: expected a mapping of at most 48",
    ),
    (
        {"tags": {"aws:owner": "x"}},
        "ComplianceAnalyzerArgs.tags: expected keys of 1-128 characters not starting with 'aws:', got 'aws:owner'",
    ),
    ({"tags": {"": "x"}}, "ComplianceAnalyzerArgs.tags: expected keys of 1-128"),
    ({"tags": {1: "x"}}, "ComplianceAnalyzerArgs.tags: expected keys of 1-128"),
    (
        {"tags": {"Team": 1}},
        "ComplianceAnalyzerArgs.tags['Team']: expected a string of at most 256 characters, got 1",
    ),
    (
        {"tags": {"Team": "x" * 257}},
        "ComplianceAnalyzerArgs.tags['Team']: expected a string of at most 256",
    ),
    (
        {"alert_emails": "a@example.com"},
        "ComplianceAnalyzerArgs.alert_emails: expected a sequence of e-mail addresses",
    ),
    (
        {"alert_emails": ["ops"]},
        "ComplianceAnalyzerArgs.alert_emails: expected e-mail addresses, got 'ops'",
    ),
    (
        {"alert_emails": ["a@localhost"]},
        "ComplianceAnalyzerArgs.alert_emails: expected e-mail addresses, got 'a@localhost'",
    ),
    (
        {"alert_emails": ["a b@example.com"]},
        "ComplianceAnalyzerArgs.alert_emails: expected e-mail addresses",
    ),
    (
        {"alert_emails": [None]},
        "ComplianceAnalyzerArgs.alert_emails: expected e-mail addresses, got None",
    ),
    (
        {"alert_emails": ["a@example.com", "A@Example.com"]},
        "ComplianceAnalyzerArgs.alert_emails: expected distinct e-mail addresses",
    ),
    (
        {"regions": ["eu-west-1", "moon-1x"]},
        "ComplianceAnalyzerArgs.regions: expected AWS region names, got 'moon-1x'",
    ),
    (
        {"regions": ["eu-west-1", "eu-west-1"]},
        "ComplianceAnalyzerArgs.regions: expected distinct AWS region names",
    ),
    (
        {"regions": "eu-west-1"},
        "ComplianceAnalyzerArgs.regions: expected a sequence of AWS region names",
    ),
    (
        {"metric_namespace": "AWS/EC2"},
        "ComplianceAnalyzerArgs.metric_namespace: expected 1-255 characters",
    ),
    (
        {"metric_namespace": ""},
        "ComplianceAnalyzerArgs.metric_namespace: expected 1-255 characters",
    ),
    ({"metric_namespace": "bad$ns"}, "not starting with 'AWS/', got 'bad$ns'"),
    ({"metric_namespace": None}, "ComplianceAnalyzerArgs.metric_namespace: expected"),
    ({"force_destroy": "yes"}, "ComplianceAnalyzerArgs.force_destroy: expected True or False"),
    ({"force_destroy": 1}, "ComplianceAnalyzerArgs.force_destroy: expected True or False, got 1"),
    ({"reserved_concurrency": 0}, "ComplianceAnalyzerArgs.reserved_concurrency: expected 1..1000, got 0"),
    ({"reserved_concurrency": True}, "ComplianceAnalyzerArgs.reserved_concurrency: expected 1..1000, got True"),
    ({"region_concurrency": 0}, "ComplianceAnalyzerArgs.region_concurrency: expected 1..40, got 0"),
    ({"region_concurrency": 41}, "ComplianceAnalyzerArgs.region_concurrency: expected 1..40, got 41"),
    ({"region_concurrency": True}, "ComplianceAnalyzerArgs.region_concurrency: expected 1..40, got True"),
    ({"region_concurrency": "4"}, "ComplianceAnalyzerArgs.region_concurrency: expected 1..40, got '4'"),
    (
        {"reserved_concurrency": 3},
        "ComplianceAnalyzerArgs.reserved_concurrency: expected at least region_concurrency (4, the "
        "regions scanned at once; fewer reserved executions would throttle every run), got 3",
    ),
    (
        {"region_concurrency": 10, "reserved_concurrency": 9},
        "ComplianceAnalyzerArgs.reserved_concurrency: expected at least region_concurrency (10,",
    ),
    ({"tracing": "Active"}, "ComplianceAnalyzerArgs.tracing: expected True or False, got 'Active'"),
    ({"async_retries": 3}, "ComplianceAnalyzerArgs.async_retries: expected 0..2, got 3"),
    ({"security_hub": "yes"}, "ComplianceAnalyzerArgs.security_hub: expected True or False, got 'yes'"),
    (
        {"policy": ["rules"]},
        "ComplianceAnalyzerArgs.policy: expected a mapping (the rule policy document), got ['rules']",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_FIELDS)
def test_bad_fields_fail_with_a_message_naming_the_field(overrides: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"environment": "dev", **overrides}
    with pytest.raises(ArgsError) as caught:
        ComplianceAnalyzerArgs(**fields)
    assert str(caught.value).startswith("ComplianceAnalyzerArgs.")
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"bogus": 1}, "ComplianceAnalyzerArgs.policy: policy.bogus: unknown key"),
        (
            {"alert_threshold": 101},
            "ComplianceAnalyzerArgs.policy: policy.alert_threshold: expected a number",
        ),
        (
            {"rules": {"no_such_rule": {}}},
            "ComplianceAnalyzerArgs.policy: policy.rules.no_such_rule: unknown key",
        ),
    ],
)
def test_policy_errors_name_the_args_field(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace(".", r"\.")):
        ComplianceAnalyzerArgs(environment="dev", policy=policy)


def _suppressions(count: int, reason: str = "bastion host behind an allow-list") -> list[dict]:
    return [{"rule": "no_public_ip", "instance_id": f"i-{index:017x}", "reason": reason} for index in range(count)]


def test_a_policy_too_large_for_the_lambda_environment_fails_at_construction() -> None:
    with pytest.raises(ArgsError) as caught:
        ComplianceAnalyzerArgs(environment="dev", policy={"suppressions": _suppressions(45)})
    message = str(caught.value)
    assert message.startswith("ComplianceAnalyzerArgs.policy: expected a policy whose compact JSON keeps the Lambda")
    assert f"within {ENV_SIZE_LIMIT_BYTES} bytes, got " in message
    assert "(policy JSON is " in message


def test_forty_suppressions_now_fit() -> None:
    # Real instance ids (17 hex digits) with a short reason: 40 entries of ~90 bytes.
    policy = {"suppressions": _suppressions(40, reason="bastion, allow-listed")}
    args = ComplianceAnalyzerArgs(environment="dev", policy=policy)
    assert len(args.rule_policy.suppressions) == 40
    size = worst_case_environment_size(metric_namespace=args.metric_namespace, policy_json=args.policy_json, regions=())
    assert size <= ENV_SIZE_LIMIT_BYTES
    # Shipping the expanded policy (every rule spelled out) would not have fitted.
    expanded = json.dumps(args.rule_policy.to_document(), separators=(",", ":"), sort_keys=True)
    assert size - len(args.policy_json) + len(expanded) > ENV_SIZE_LIMIT_BYTES


def test_a_few_suppressions_still_fit() -> None:
    args = ComplianceAnalyzerArgs(environment="dev", policy={"suppressions": _suppressions(3)})
    assert len(args.rule_policy.suppressions) == 3


def test_region_concurrency_spans_the_inline_maps_limit_and_reserves_as_much_by_default() -> None:
    assert REGION_CONCURRENCY.range == (1, workflow.MAX_CONCURRENCY_LIMIT) == (1, 40)
    for concurrency in (1, 40):
        args = ComplianceAnalyzerArgs(environment="dev", region_concurrency=concurrency)
        assert (args.region_concurrency, args.reserved_concurrency) == (concurrency, concurrency)
    explicit = ComplianceAnalyzerArgs(environment="dev", region_concurrency=2, reserved_concurrency=2)
    assert explicit.reserved_concurrency == 2
    assert ComplianceAnalyzerArgs(environment="dev", reserved_concurrency=1000).reserved_concurrency == 1000


def _fake_regions(count: int) -> list[str]:
    """Distinct, well-formed region names (`xx-<letters>-<n>`), as many as asked."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    names = []
    for index in range(count):
        word = letters[index % 26] + letters[index // 26 % 26] + letters[index // 676 % 26]
        names.append(f"zz-{word}-{index // 17576}")
    return names


def test_the_plan_estimate_is_the_region_list_plus_an_allowance_for_the_run() -> None:
    assert plan_output_size(["eu-west-1", "us-east-1"]) == len('["eu-west-1", "us-east-1"]') + 2048
    assert RUN_DOCUMENT_ALLOWANCE_BYTES == 2048
    # Every real region fits with room to spare.
    assert plan_output_size(_fake_regions(40)) < workflow.MAX_STATE_PAYLOAD_BYTES // 100


def test_a_region_list_the_map_cannot_carry_is_refused() -> None:
    regions = _fake_regions(22000)
    assert len(set(regions)) == len(regions)
    assert plan_output_size(regions) > workflow.MAX_STATE_PAYLOAD_BYTES
    with pytest.raises(ArgsError) as caught:
        ComplianceAnalyzerArgs(environment="dev", regions=regions)
    message = str(caught.value)
    assert message.startswith(
        "ComplianceAnalyzerArgs.regions: expected a region list the state machine's Map can carry"
    )
    assert f"within Step Functions' {workflow.MAX_STATE_PAYLOAD_BYTES}-byte state payload" in message
    assert message.endswith("got 22000 regions")
    assert plan_output_size(_fake_regions(20000)) <= workflow.MAX_STATE_PAYLOAD_BYTES
