"""Stack names on the command line: every command that takes `--stack` refuses a name Pulumi would
refuse (exit 2, one line naming --stack) while parsing, before any config or engine is read."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ec2c.orchestrator.cli import app
from ec2c.orchestrator.cli.app import COMMANDS
from ec2c.orchestrator.cli.options import stack_name

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config"
STACK_COMMANDS = {
    "preview": [],
    "up": [],
    "refresh": [],
    "destroy": [],
    "outputs": [],
    "cancel": [],
    "sweep": ["--yes"],
    "report": [],
    "run": [],
}
"""Every command with a `--stack` option, and what else it needs to get past its own checks."""


@pytest.fixture
def runner(monkeypatch) -> CliRunner:
    monkeypatch.setenv("COLUMNS", "400")  # typer's error panel wraps at the terminal's width
    return CliRunner()


def _options(command) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


def test_the_list_is_every_command_that_takes_a_stack() -> None:
    assert {entry.name for entry in COMMANDS if "--stack" in _options(entry.load())} == set(STACK_COMMANDS)


@pytest.mark.parametrize("command", sorted(STACK_COMMANDS))
@pytest.mark.parametrize("bad", ["../../x", "a/b", "..", "", "x" * 101, "dev stack"])
def test_a_bad_stack_name_is_refused_while_parsing(runner, tmp_path, command, bad) -> None:
    """The config folder does not exist: the refusal comes before anything is read."""
    args = [command, "--env", "dev", "--stack", bad, *STACK_COMMANDS[command], "--config-dir", str(tmp_path / "no")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    (line,) = [line for line in result.output.splitlines() if "Invalid value for '--stack'" in line]
    assert f"got {bad!r}" in line
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", sorted(STACK_COMMANDS))
def test_a_valid_stack_name_gets_past_parsing(runner, no_engine, command) -> None:
    """Accepted, the command goes on until it needs the engine (or the deployed stack) it lacks."""
    args = [command, "--env", "dev", "--stack", "dev-abc123", *STACK_COMMANDS[command]]
    result = runner.invoke(app, [*args, "--config-dir", str(REPO_CONFIG)])
    assert "Invalid value" not in result.output
    assert result.exit_code == 1, result.output
    assert "no pulumi CLI found" in result.output


def test_the_callback_passes_good_names_and_no_name() -> None:
    assert stack_name(None) is None
    assert stack_name("prod-euw1.v2_b") == "prod-euw1.v2_b"
    with pytest.raises(typer.BadParameter, match=r"expected a name, not a path, got '\.'"):
        stack_name(".")
