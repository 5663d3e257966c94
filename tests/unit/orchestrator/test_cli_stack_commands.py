"""`ec2c` stack commands through typer's CliRunner: listing, bad input, guards, missing engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ec2c.orchestrator.cli import app

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_envs_lists_every_environment_as_json(runner):
    result = runner.invoke(app, ["envs", "--json", "--config-dir", str(REPO_CONFIG)])
    assert result.exit_code == 0, result.output
    listed = {e["name"]: e for e in json.loads(result.stdout)}
    assert set(listed) == {"dev", "local", "prod", "staging"}
    assert listed["prod"]["protected"] is True
    assert listed["staging"]["aws"]["scan_regions"] == ["eu-west-1", "eu-central-1", "us-east-1"]
    assert listed["prod"]["lambda"]["timeout_s"] == 900


def test_envs_table_for_people(runner):
    result = runner.invoke(app, ["envs", "--config-dir", str(REPO_CONFIG)], terminal_width=200)
    assert result.exit_code == 0
    assert "staging" in result.output and "222222222222" in result.output


def test_bad_environment_is_exit_2_with_file_and_field(runner, tmp_path):
    (tmp_path / "qa.yaml").write_text(yaml.safe_dump({"aws": {"region": "nowhere"}}))
    result = runner.invoke(app, ["up", "--env", "qa", "--config-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "qa.yaml: aws.region: expected an AWS region" in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_unknown_environment_is_exit_2(runner):
    result = runner.invoke(app, ["preview", "--env", "qa", "--config-dir", str(REPO_CONFIG)])
    assert result.exit_code == 2
    assert "unknown environment 'qa'" in result.output


def test_protected_destroy_refuses_unattended(runner):
    result = runner.invoke(app, ["destroy", "--env", "prod", "--config-dir", str(REPO_CONFIG)])
    assert result.exit_code == 2
    assert "protected" in result.output and "--yes" in result.output


def test_outputs_flags_are_exclusive(runner):
    result = runner.invoke(app, ["outputs", "--env", "dev", "--json", "--env-file", "--config-dir", str(REPO_CONFIG)])
    assert result.exit_code == 2
    assert "mutually exclusive" in result.output


def test_rollout_rejects_an_unknown_operation(runner):
    result = runner.invoke(app, ["rollout", "--plan", "x.yaml", "--operation", "deploy"])
    assert result.exit_code == 2
    assert "--operation: expected up, preview, refresh or destroy, got 'deploy'" in result.output


def test_rollout_destroy_of_protected_targets_needs_yes(runner):
    plan = REPO_CONFIG / "rollouts" / "example.yaml"
    result = runner.invoke(
        app, ["rollout", "--plan", str(plan), "--operation", "destroy", "--config-dir", str(REPO_CONFIG)]
    )
    assert result.exit_code == 2
    assert "prod-euw1" in result.output and "--yes" in result.output


def test_test_command_rejects_a_missing_test_folder(runner, tmp_path):
    result = runner.invoke(
        app, ["test", "--env", "dev", "--tests", str(tmp_path / "nope"), "--config-dir", str(REPO_CONFIG)]
    )
    assert result.exit_code == 2
    assert "--tests" in result.output


def test_missing_engine_says_how_to_install_it(runner, no_engine):
    result = runner.invoke(app, ["up", "--env", "local", "--config-dir", str(REPO_CONFIG)])
    assert result.exit_code == 1
    assert "no pulumi CLI found" in result.output and "ec2c engine install" in result.output
    info = runner.invoke(app, ["engine"])
    assert info.exit_code == 1
    assert "ec2c engine install" in info.output


def test_s3_backend_without_passphrase_is_bad_input(runner, no_engine, monkeypatch, tmp_path):
    """Refused before any engine work: a stand-in CLI (no real one is needed) is located, and
    asked for nothing but its version."""
    calls = tmp_path / "calls"
    stand_in = tmp_path / "pulumi"
    stand_in.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n[ "$1" = version ] && echo v3.259.0\n')
    stand_in.chmod(0o755)
    monkeypatch.setenv("EC2C_PULUMI", str(stand_in))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    result = runner.invoke(app, ["outputs", "--env", "prod", "--config-dir", str(REPO_CONFIG)])
    assert result.exit_code == 2
    assert "needs PULUMI_CONFIG_PASSPHRASE" in result.output
    assert set(calls.read_text().splitlines()) == {"version"}


def test_ephemeral_runs_say_which_inboxes_they_skip(runner, no_engine, tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_x.py").write_text("def test_x():\n    pass\n")
    result = runner.invoke(app, ["test", "--env", "dev", "--tests", str(suite), "--config-dir", str(REPO_CONFIG)])
    assert "alert e-mails: 1 address(es) of dev are not subscribed by the ephemeral stack" in " ".join(
        result.output.split()
    )
    assert result.exit_code == 1 and "no pulumi CLI found" in result.output
