"""One set of bounds and defaults for the stack's settings: the environment files (pydantic) and
`ComplianceAnalyzerArgs` read the same objects, so they refuse and default alike."""

from __future__ import annotations

from typing import Any

import pytest

from ec2c.orchestrator.deploy.inputs import environments
from ec2c.orchestrator.deploy.inputs.environments import (
    Environment,
    LambdaSettings,
    Retention,
    validate,
)
from ec2c.orchestrator.errors import BadInput
from ec2c.scanner import contract, settings
from ec2c.stacks import ArgsError, ComplianceAnalyzerArgs, bounds
from ec2c.stacks.bounds import Bound, Setting

# (the environment file's field, its pydantic model and attribute, the stack args field, the bound)
BOUNDED: list[tuple[str, type, str, str, Bound]] = [
    ("lambda.memory_mb", LambdaSettings, "memory_mb", "lambda_memory_mb", bounds.LAMBDA_MEMORY_MB),
    ("lambda.timeout_s", LambdaSettings, "timeout_s", "lambda_timeout_s", bounds.LAMBDA_TIMEOUT_S),
    (
        "lambda.ephemeral_storage_mb",
        LambdaSettings,
        "ephemeral_storage_mb",
        "lambda_ephemeral_storage_mb",
        bounds.LAMBDA_EPHEMERAL_STORAGE_MB,
    ),
    (
        "lambda.region_concurrency",
        LambdaSettings,
        "region_concurrency",
        "region_concurrency",
        bounds.REGION_CONCURRENCY,
    ),
    (
        "lambda.reserved_concurrency",
        LambdaSettings,
        "reserved_concurrency",
        "reserved_concurrency",
        bounds.RESERVED_CONCURRENCY,
    ),
    ("lambda.async_retries", LambdaSettings, "async_retries", "async_retries", bounds.ASYNC_RETRIES),
    ("retention.reports_days", Retention, "reports_days", "report_retention_days", bounds.REPORT_RETENTION_DAYS),
]
IDS = [entry[0] for entry in BOUNDED]


def _document(path: str, value: Any) -> dict[str, Any]:
    section, name = path.split(".")
    return {"aws": {"region": "eu-west-1"}, section: {name: value}}


def _field_bounds(model: type, name: str) -> tuple[int, int]:
    metadata = model.model_fields[name].metadata  # type: ignore[attr-defined]
    return next(m.ge for m in metadata if hasattr(m, "ge")), next(m.le for m in metadata if hasattr(m, "le"))


@pytest.mark.parametrize(("path", "model", "name", "arg", "bound"), BOUNDED, ids=IDS)
def test_both_validators_read_the_same_bound(path: str, model: type, name: str, arg: str, bound: Bound) -> None:
    assert _field_bounds(model, name) == bound.range
    default = model.model_fields[name].default  # type: ignore[attr-defined]
    own = bound.default if isinstance(bound, Setting) else None  # unset reservation: region_concurrency
    assert default == own == ComplianceAnalyzerArgs.__dataclass_fields__[arg].default


@pytest.mark.parametrize(("path", "model", "name", "arg", "bound"), BOUNDED, ids=IDS)
def test_one_past_the_bound_is_refused_by_both_with_the_field_named(
    path: str, model: type, name: str, arg: str, bound: Bound
) -> None:
    over = bound.high + 1
    with pytest.raises(BadInput, match=rf"dev.yaml: {path}: Input should be less than or equal to {bound.high}"):
        validate(_document(path, over), name="dev", source="dev.yaml")
    with pytest.raises(
        ArgsError, match=rf"^ComplianceAnalyzerArgs.{arg}: expected {bound.low}..{bound.high}, got {over}$"
    ):
        ComplianceAnalyzerArgs(environment="dev", **{arg: over})
    validate(_document(path, bound.high), name="dev", source="dev.yaml")
    ComplianceAnalyzerArgs(environment="dev", **{arg: bound.high})


def test_a_41_region_concurrency_is_refused_by_both() -> None:
    assert bounds.REGION_CONCURRENCY.range == (1, 40)
    with pytest.raises(BadInput, match="lambda.region_concurrency"):
        validate(_document("lambda.region_concurrency", 41), name="dev", source="dev.yaml")
    with pytest.raises(ArgsError, match="ComplianceAnalyzerArgs.region_concurrency"):
        ComplianceAnalyzerArgs(environment="dev", region_concurrency=41)


def test_the_defaults_of_an_empty_environment_are_the_stack_args_defaults() -> None:
    env = Environment.model_validate({"name": "dev", "source": "dev.yaml", "aws": {"region": "eu-west-1"}})
    args = ComplianceAnalyzerArgs(environment="dev")
    assert env.schedule == args.schedule == bounds.DEFAULT_SCHEDULE == "rate(1 day)"
    assert env.metric_namespace == args.metric_namespace == contract.DEFAULT_METRIC_NAMESPACE == "EC2Compliance"
    assert env.retention.logs_days == args.log_retention_days == bounds.DEFAULT_LOG_RETENTION_DAYS
    assert env.lambda_.reserved_concurrency == args.reserved_concurrency == env.lambda_.region_concurrency


def test_one_region_pattern_for_the_scanner_the_stack_and_the_environment_files() -> None:
    assert environments.REGION_PATTERN is bounds.REGION_PATTERN is contract.REGION_PATTERN
    for region in ("eu-west-1", "us-gov-east-1", "ap-southeast-5"):
        assert contract.REGION_PATTERN.fullmatch(region)
        assert settings.region_name(region, "event.region") == region
    for bad in ("Europe", "eu-west", "eu-west-1a", "eu-west-100"):
        assert not contract.REGION_PATTERN.fullmatch(bad)
        with pytest.raises(settings.ConfigError, match="is not an AWS region name"):
            settings.region_name(bad, "event.region")
