"""The Lambda environment: the contract's names and a worst-case size that never underestimates."""

from __future__ import annotations

from ec2c.scanner import contract
from ec2c.stacks import lambda_env


def test_variables_use_the_contract_names() -> None:
    variables = lambda_env.scanner_environment(
        bucket_name="b",
        topic_arn="t",
        metric_namespace="ns",
        policy_json="{}",
        regions=["eu-west-1", "us-east-1"],
    )
    assert variables == {
        contract.ENV_REPORT_BUCKET: "b",
        contract.ENV_SNS_TOPIC_ARN: "t",
        contract.ENV_METRIC_NAMESPACE: "ns",
        contract.ENV_POLICY: "{}",
        contract.ENV_SCAN_REGIONS: "eu-west-1,us-east-1",
    }


def test_size_counts_utf8_bytes_of_keys_and_values() -> None:
    assert lambda_env.environment_size({"AB": "é"}) == 2 + 2


def test_worst_case_covers_the_longest_real_values() -> None:
    worst = lambda_env.worst_case_environment_size(metric_namespace="ns", policy_json="{}", regions=[])
    real = lambda_env.environment_size(
        lambda_env.scanner_environment(
            bucket_name="x" * 63,
            topic_arn="arn:aws-iso-b:sns:us-isob-east-1:123456789012:" + "t" * lambda_env.MAX_TOPIC_NAME_CHARS,
            metric_namespace="ns",
            policy_json="{}",
            regions=["ap-southeast-4"],
            security_hub=True,
        )
    )
    assert real <= worst


def test_security_hub_import_is_switched_on_by_its_variable() -> None:
    variables = lambda_env.scanner_environment(
        bucket_name="b",
        topic_arn="t",
        metric_namespace="ns",
        policy_json="{}",
        regions=["eu-west-1"],
        security_hub=True,
    )
    assert variables[contract.ENV_SECURITY_HUB] == "true"


def test_explicit_regions_replace_the_placeholder() -> None:
    implicit = lambda_env.worst_case_environment_size(metric_namespace="n", policy_json="{}", regions=[])
    explicit = lambda_env.worst_case_environment_size(metric_namespace="n", policy_json="{}", regions=["eu-west-1"])
    assert implicit - explicit == lambda_env.MAX_REGION_CHARS - len("eu-west-1")
