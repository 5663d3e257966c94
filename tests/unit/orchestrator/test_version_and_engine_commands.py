"""`ec2c --version`, `ec2c engine [--json]`, `ec2c engine install`, the help's type column, and
the `stack_outputs` fixture `ec2c test` hands its suite; no engine is run (a stand-in `pulumi`
script answers `version`, and the installer is replaced).
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ec2c.orchestrator.cli import app
from ec2c.orchestrator.deploy.ci import testing
from ec2c.orchestrator.engine import pulumi_cli
from ec2c.orchestrator.engine.pulumi_cli import Engine
from ec2c.orchestrator.engine.version import PINNED_VERSION

pytest_plugins = ["pytester"]

APP_MODULE = sys.modules["ec2c.orchestrator.cli.app"]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner()


@pytest.fixture
def stand_in(no_engine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `pulumi` that only says its version, found through $EC2C_PULUMI."""
    script = tmp_path / "engine" / "bin" / "pulumi"
    script.parent.mkdir(parents=True)
    script.write_text('#!/bin/sh\n[ "$1" = version ] && echo v3.259.0\n')
    script.chmod(0o755)
    monkeypatch.setenv("EC2C_PULUMI", str(script))
    return script


def test_version_names_the_package_the_sdk_and_the_cli_found(runner, stand_in):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"ec2c {APP_MODULE.package_version()}",
        f"pulumi SDK {version('pulumi')}",
        f"pulumi CLI v3.259.0 ({stand_in})",
    ]


def test_version_without_a_cli_says_how_to_install_one(runner, no_engine):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "pulumi CLI not found (ec2c engine install)"


def test_version_of_a_checkout_that_is_not_installed(runner, no_engine, monkeypatch):
    asked: list[str] = []

    def missing(name: str) -> str:
        asked.append(name)
        raise PackageNotFoundError(name)

    monkeypatch.setattr(APP_MODULE, "version", missing)
    assert APP_MODULE.package_version() == "unknown (not installed)"
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == ["ec2c unknown (not installed)", "pulumi SDK not installed"]
    assert set(asked) == {"ec2-compliance", "pulumi"}


def test_main_runs_the_command_line(stand_in, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["ec2c", "--version"])
    with pytest.raises(SystemExit) as caught:
        APP_MODULE.main()
    assert caught.value.code == 0
    assert f"pulumi CLI v3.259.0 ({stand_in})" in capsys.readouterr().out


def test_the_help_shows_a_type_for_options_with_values_and_none_for_flags(runner):
    result = runner.invoke(app, ["engine", "install", "--help"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "--version" in line)
    assert "<str>" in line  # typer's type column, kept for options that take a value
    flags = runner.invoke(app, ["engine", "--help"])
    assert flags.exit_code == 0, flags.output
    json_line = next(line for line in flags.output.splitlines() if "--json" in line)
    assert json_line.split("--json")[1].split()[0] == "Print"  # the help right after the flag: no type


def test_engine_shows_the_cli_it_found(runner, stand_in):
    result = runner.invoke(app, ["engine"])
    assert result.exit_code == 0, result.output
    assert f"pulumi v3.259.0 at {stand_in}" in " ".join(result.output.split())
    as_json = runner.invoke(app, ["engine", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == {
        "binary": str(stand_in),
        "version": "3.259.0",
        "root": str(stand_in.parent.parent),
    }


def test_engine_install_installs_the_pinned_or_given_version(runner, no_engine, monkeypatch, tmp_path):
    installed: list[str] = []

    def install_engine(wanted: str) -> Engine:
        installed.append(wanted)
        return Engine(binary=tmp_path / wanted / "bin" / "pulumi", root=tmp_path / wanted, version=wanted)

    monkeypatch.setattr(pulumi_cli, "install_engine", install_engine)
    result = runner.invoke(app, ["engine", "install"])
    assert result.exit_code == 0, result.output
    assert f"ready: pulumi v{PINNED_VERSION} at {tmp_path / PINNED_VERSION / 'bin' / 'pulumi'}" in result.output
    other = runner.invoke(app, ["engine", "install", "--version", "3.200.0"])
    assert other.exit_code == 0, other.output
    assert installed == [PINNED_VERSION, "3.200.0"]
    assert "no pulumi CLI found" not in result.output + other.output  # the info callback stays out of the way


def test_stack_outputs_are_none_without_the_variable(monkeypatch):
    monkeypatch.delenv(testing.OUTPUTS_ENV_VAR, raising=False)
    assert testing.load_stack_outputs() is None


def test_stack_outputs_are_read_from_the_named_file(monkeypatch, tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"compliance_bucket_name": "reports", "region": "eu-west-1"}))
    monkeypatch.setenv(testing.OUTPUTS_ENV_VAR, str(path))
    assert testing.load_stack_outputs() == {"compliance_bucket_name": "reports", "region": "eu-west-1"}


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "cannot read stack outputs: [Errno 2] No such file or directory"),
        ("{not json", "cannot read stack outputs: Expecting property name"),
        ("[1, 2]", "expected a JSON object of outputs"),
    ],
)
def test_unusable_stack_outputs_are_a_usage_error(monkeypatch, tmp_path, content, why):
    path = tmp_path / "outputs.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv(testing.OUTPUTS_ENV_VAR, str(path))
    with pytest.raises(pytest.UsageError) as caught:
        testing.load_stack_outputs()
    assert str(caught.value).startswith(f"${testing.OUTPUTS_ENV_VAR}={path}: {why}")


SUITE = """
def test_bucket(stack_outputs):
    assert stack_outputs["compliance_bucket_name"] == "reports"
"""


def test_a_suite_without_a_deployment_is_skipped_with_the_reason(pytester, monkeypatch):
    monkeypatch.delenv(testing.OUTPUTS_ENV_VAR, raising=False)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_inprocess("-rs", "-p", "no:cacheprovider", plugins=[testing])
    result.assert_outcomes(skipped=1)
    assert "no deployed stack: $EC2C_STACK_OUTPUTS is not set" in result.stdout.str()


def test_a_suite_gets_the_handed_over_outputs(pytester, monkeypatch, tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"compliance_bucket_name": "reports"}))
    monkeypatch.setenv(testing.OUTPUTS_ENV_VAR, str(path))
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", plugins=[testing])
    result.assert_outcomes(passed=1)
