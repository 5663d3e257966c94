"""Integration suite: boto3 against a deployed ComplianceAnalyzer, located by its outputs."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from ec2c.orchestrator.deploy.ci import testing
from ec2c.orchestrator.deploy.ci.testing import ENV_NAME_VAR

stack_outputs = testing.stack_outputs
"""The fixture `ec2c test` provides as a plugin, registered here too so plain pytest finds it."""


@pytest.fixture(scope="session")
def aws(stack_outputs: dict[str, Any]):
    """Clients in the stack's region; the standard SDK environment (profile, endpoint) applies."""
    session = boto3.session.Session(region_name=stack_outputs["region"])
    return lambda service: session.client(service)


@pytest.fixture(scope="session")
def environment(stack_outputs: dict[str, Any]):
    """The environment the stack was deployed from, when `ec2c test` says which one."""
    from ec2c.orchestrator.deploy.inputs.environments import locate_config_dir

    name = os.environ.get(ENV_NAME_VAR)
    if not name:
        pytest.skip(f"${ENV_NAME_VAR} is not set: expected settings unknown")
    return locate_config_dir().load(name)
