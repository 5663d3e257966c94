"""The bridge from a deployed stack to a test suite: the `stack_outputs` pytest fixture.

`ec2c test` writes the stack's outputs to a JSON file and names it in $EC2C_STACK_OUTPUTS (any
other runner can read the same file); the fixture loads it, or skips the suite with one clear
reason when no deployment was handed over.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

OUTPUTS_ENV_VAR = "EC2C_STACK_OUTPUTS"
ENV_NAME_VAR = "EC2C_ENV_NAME"
NO_DEPLOYMENT = (
    f"no deployed stack: ${OUTPUTS_ENV_VAR} is not set (run `ec2c test --env <name>`, or point "
    f"${OUTPUTS_ENV_VAR} at an outputs JSON file from `ec2c outputs --json`)"
)


def load_stack_outputs() -> dict[str, Any] | None:
    """The outputs named by $EC2C_STACK_OUTPUTS, None when unset; a broken file is an error."""
    location = os.environ.get(OUTPUTS_ENV_VAR)
    if not location:
        return None
    path = Path(location)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise pytest.UsageError(f"${OUTPUTS_ENV_VAR}={path}: cannot read stack outputs: {exc}") from None
    if not isinstance(data, dict):
        raise pytest.UsageError(f"${OUTPUTS_ENV_VAR}={path}: expected a JSON object of outputs")
    return data


@pytest.fixture(scope="session")
def stack_outputs() -> dict[str, Any]:
    outputs = load_stack_outputs()
    if outputs is None:
        pytest.skip(NO_DEPLOYMENT)
    return outputs
