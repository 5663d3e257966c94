"""`ec2c test`: deploy -> pytest with the outputs -> destroy and remove, whatever happens."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

SUITES = Path(__file__).resolve().parent / "suites"
CHECK_FILES = ("-o", "python_files=check_*.py")


def test_passing_suite_gets_outputs_and_stack_is_removed(project, tmp_path):
    junit = tmp_path / "junit.xml"
    outputs = tmp_path / "outputs.json"
    result = project.ec2c(
        "test", "--env", "eng", "--tests", str(SUITES / "passing"), "--junit-xml", str(junit),
        "--outputs-file", str(outputs), "--", *CHECK_FILES,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "1" and suite.get("failures") == "0"
    assert outputs.exists()
    assert project.stacks() == []
    assert "destroyed and removed" in result.stderr


def test_failing_suite_still_tears_down_and_fails(project):
    result = project.ec2c("test", "--env", "eng", "--tests", str(SUITES / "failing"), "--", *CHECK_FILES)
    assert result.returncode == 1
    assert "1 failed" in result.stdout
    assert project.stacks() == []


def test_failing_deployment_still_tears_down(project):
    project.write_env("broken", {"program": "tests.engine.programs:failing_analyzer", "aws": {"region": "us-east-1"}})
    result = project.ec2c("test", "--env", "broken", "--tests", str(SUITES / "passing"), "--", *CHECK_FILES)
    assert result.returncode == 1
    assert "deployment failed" in result.stderr
    assert project.stacks() == []


def test_keep_leaves_the_stack(project):
    result = project.ec2c("test", "--env", "eng", "--keep", "--tests", str(SUITES / "passing"), "--", *CHECK_FILES)
    assert result.returncode == 0, result.stderr
    stacks = project.stacks()
    assert len(stacks) == 1 and stacks[0].startswith("eng-") and len(stacks[0]) == len("eng-") + 6
    assert project.ec2c("destroy", "--env", "eng", "--stack", stacks[0]).returncode == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_signal_during_tests_still_tears_down(project, tmp_path, signum):
    marker = tmp_path / "running"
    proc = project.popen(
        "test", "--env", "eng", "--tests", str(SUITES / "failing"), "--", *CHECK_FILES,
        EC2C_TEST_HOLD="60", EC2C_TEST_MARKER=str(marker),
    )
    deadline = time.monotonic() + 180
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert marker.exists(), proc.communicate()[1]
    stack = marker.read_text().removeprefix("lambda_function_name-")
    assert project.stacks() == [stack]
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130
    assert "interrupted: tearing down" in stderr
    assert project.stacks() == []
