"""The deployed state machine definition, checked by the real `asl-validator` (npm).

moto's interpreter runs the definition (tests/unit/scanner) but accepts documents Step Functions
would refuse at `up`; `asl-validator` checks the Amazon States Language itself: its JSON schema,
every `Next`/`Default`/`StartAt` target, reachability and the paths. `make test` installs it
under `.tools/asl` (`make asl-validator`); `$ASL_VALIDATOR` may name another binary.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ec2c.scanner.run import workflow

REPO = Path(__file__).resolve().parents[3]
VALIDATOR = Path(os.environ.get("ASL_VALIDATOR") or REPO / ".tools" / "asl" / "node_modules" / ".bin" / "asl-validator")
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:ec2-compliance-prod"


@pytest.fixture(scope="module")
def validator() -> Path:
    """The validator binary; missing, a failure in CI (a skip must not pass it) and a skip here."""
    if not VALIDATOR.is_file() or not os.access(VALIDATOR, os.X_OK):
        message = (
            f"asl-validator not installed at {VALIDATOR}: run `make asl-validator` (needs node and "
            "npm; `make test` does it) or set $ASL_VALIDATOR"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must validate the state machine definition: {message}")
        pytest.skip(message)
    return VALIDATOR


def _validate(validator: Path, definition: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))
    return subprocess.run(
        [str(validator), "--json-path", str(path)], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("concurrency", [1, 4, workflow.MAX_CONCURRENCY_LIMIT])
def test_the_deployed_definition_is_valid_amazon_states_language(
    validator: Path, tmp_path: Path, concurrency: int
) -> None:
    result = _validate(validator, workflow.definition(FUNCTION_ARN, concurrency), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_the_validator_refuses_a_transition_to_a_missing_state(validator: Path, tmp_path: Path) -> None:
    """So the check above can fail: a `Next` naming no state is an error, exit status 1."""
    broken = workflow.definition(FUNCTION_ARN, 4)
    broken["States"][workflow.STATE_PLAN]["Next"] = "NoSuchState"
    result = _validate(validator, broken, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MISSING_TRANSITION_TARGET" in result.stdout + result.stderr
    assert "NoSuchState" in result.stdout + result.stderr


def test_the_validator_refuses_a_broken_region_worker(validator: Path, tmp_path: Path) -> None:
    """Inside the Map too: the Choice loop sending a region back to a worker that is not there."""
    broken = workflow.definition(FUNCTION_ARN, 4)
    region_states = broken["States"][workflow.STATE_REGIONS]["ItemProcessor"]["States"]
    region_states[workflow.STATE_MORE]["Default"] = "NoSuchState"
    result = _validate(validator, broken, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "NoSuchState" in result.stdout + result.stderr
