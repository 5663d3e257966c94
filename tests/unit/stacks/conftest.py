"""Fixtures shared by the stack tests; the mock harness itself lives in `stack_harness`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stack_harness import Deployment, deploy

from ec2c.stacks import ComplianceAnalyzerArgs


@pytest.fixture(scope="module")
def full_args() -> ComplianceAnalyzerArgs:
    """Every field set to a non-default value, so each one's effect is visible."""
    return ComplianceAnalyzerArgs(
        environment="staging",
        tags={"Team": "secops", "CostCenter": "42"},
        schedule="rate(6 hours)",
        policy={"alert_threshold": 85},
        alert_emails=("sec@example.com", "Ops.Team@example.org"),
        report_retention_days=30,
        log_retention_days=14,
        lambda_memory_mb=1024,
        lambda_timeout_s=600,
        lambda_ephemeral_storage_mb=2048,
        regions=("eu-west-1", "us-east-1"),
        metric_namespace="Acme/EC2Compliance",
        region_concurrency=3,
        reserved_concurrency=5,
        tracing=False,
    )


@pytest.fixture(scope="module")
def deployment(full_args: ComplianceAnalyzerArgs) -> Iterator[Deployment]:
    yield deploy(full_args)
