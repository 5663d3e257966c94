"""`ec2c rollout` through typer's CliRunner: bad selections and CI systems, the summary counts
and the resume hint of a failed rollout (the deployment itself replaced by recorded outcomes;
tests/engine runs it on the real CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ec2c.orchestrator.cli import app
from ec2c.orchestrator.deploy.rollouts import operations
from ec2c.orchestrator.deploy.rollouts.rollout import RolloutReport, TargetOutcome

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config"
EXAMPLE_PLAN = REPO_CONFIG / "rollouts" / "example.yaml"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _one_line(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--shard", "0/3"], "--shard: K must be between 1 and N (3), got '0/3'"),
        (["--shard", "4/3"], "--shard: K must be between 1 and N (3), got '4/3'"),
        (["--shard", "a/b"], "--shard: expected K/N with whole numbers, such as 1/3, got 'a/b'"),
        (["--ci", "gitlab"], "--ci: expected github, got 'gitlab'"),
        (["--operation", "preview", "--force"], "--force and --refresh apply to --operation up, not preview"),
        (["--operation", "destroy", "--refresh"], "--force and --refresh apply to --operation up, not destroy"),
        (["--wave", "nope"], "--wave: the plan has no wave 'nope'; its waves are canary, production"),
    ],
)
def test_bad_selections_are_exit_2_before_anything_runs(runner, monkeypatch, args, fragment):
    def never(*args, **kwargs):
        raise AssertionError("nothing may be deployed on bad input")

    monkeypatch.setattr(operations, "roll_out", never)
    result = runner.invoke(app, ["rollout", "--plan", str(EXAMPLE_PLAN), "--config-dir", str(REPO_CONFIG), *args])
    assert result.exit_code == 2, result.output
    assert fragment in _one_line(result.output)
    assert "Traceback" not in result.output


def _outcome(stack: str, status: str, reason: str | None = None, error: str | None = None) -> TargetOutcome:
    return TargetOutcome("all", stack, "dev", "eu-west-1", "111111111111", status, 1.0, error, None, reason)


@pytest.fixture
def recorded(monkeypatch):
    """`roll_out` answering with the outcomes a test sets, and the options it was called with."""
    calls: list[dict] = []
    outcomes: list[TargetOutcome] = []

    def roll_out(plan, operation, config, engine, view, program_for, **options):
        calls.append({"stacks": [t.stack_name for _, _, ts in plan.waves for t in ts], **options})
        return RolloutReport(list(outcomes), 3.0)

    monkeypatch.setattr(operations, "roll_out", roll_out)
    monkeypatch.setattr("ec2c.orchestrator.engine.pulumi_cli.require_engine", lambda: None)
    return calls, outcomes


def test_a_failed_rollout_counts_each_status_and_says_how_to_resume(runner, recorded):
    calls, outcomes = recorded
    outcomes += [
        _outcome("prod-euw1", "ok", "inputs changed"),
        _outcome("prod-use1", "unchanged", "unchanged"),
        _outcome("prod-apse2", "failed", error="up of stack 'prod-apse2' failed: boom"),
        _outcome("staging", "skipped", error="not started: an earlier target failed (fail-fast)"),
        _outcome("dev", "ok", "fingerprint unreadable (s3://x/y: AccessDenied): treated as changed"),
    ]
    result = runner.invoke(
        app,
        ["rollout", "--plan", str(EXAMPLE_PLAN), "--config-dir", str(REPO_CONFIG), "--shard", "1/2"],
        terminal_width=250,
    )
    assert result.exit_code == 1, result.output
    text = _one_line(result.output)
    assert "2 deployed, 1 unchanged, 1 failed, 1 not started; total 3.0s" in text
    assert "fingerprint unreadable, deployed as changed: dev" in text
    assert (
        f"rerun `ec2c rollout --plan {EXAMPLE_PLAN} --shard 1/2 --config-dir {REPO_CONFIG}` to deploy only the 2 "
        "target(s) that failed or did not start: the others are unchanged now and are skipped"
    ) in text
    assert calls == [{"stacks": ["staging", "prod-euw1", "prod-apse2"], "force": False, "refresh": False}]


def test_json_gives_the_counts_and_each_reason(runner, recorded):
    calls, outcomes = recorded
    outcomes += [_outcome("staging", "unchanged", "unchanged"), _outcome("prod-euw1", "ok", "--force")]
    result = runner.invoke(
        app, ["rollout", "--plan", str(EXAMPLE_PLAN), "--config-dir", str(REPO_CONFIG), "--json", "--force"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["counts"] == {"deployed": 1, "unchanged": 1, "failed": 0, "not started": 0}
    assert [t["reason"] for t in document["targets"]] == ["unchanged", "--force"]
    assert calls[0]["force"] is True


def test_an_empty_selection_does_nothing(runner, recorded, tmp_path):
    calls, _ = recorded
    result = runner.invoke(
        app,
        ["rollout", "--plan", str(EXAMPLE_PLAN), "--config-dir", str(REPO_CONFIG), "--account", "999999999999"],
    )
    assert result.exit_code == 0
    assert "no targets in this selection of the plan: nothing to do" in result.output
    assert calls == []


def test_ci_github_prints_a_workflow_and_deploys_nothing(runner, recorded):
    calls, _ = recorded
    result = runner.invoke(
        app,
        ["rollout", "--plan", str(EXAMPLE_PLAN), "--config-dir", str(REPO_CONFIG), "--ci", "github", "--shards", "2"],
    )
    assert result.exit_code == 0, result.output
    workflow = yaml.safe_load(result.stdout)
    assert list(workflow["jobs"]) and calls == []
