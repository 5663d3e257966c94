"""`ec2c test`: deploy -> pytest with the outputs -> destroy and remove, whatever happens."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

SUITES = Path(__file__).resolve().parent / "suites"
CHECK_FILES = ("-o", "python_files=check_*.py")


def test_passing_suite_gets_outputs_and_stack_is_removed(project, tmp_path):
    junit = tmp_path / "junit.xml"
    outputs = tmp_path / "outputs.json"
    result = project.ec2c(
        "test",
        "--env",
        "eng",
        "--tests",
        str(SUITES / "passing"),
        "--junit-xml",
        str(junit),
        "--outputs-file",
        str(outputs),
        "--",
        *CHECK_FILES,
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
