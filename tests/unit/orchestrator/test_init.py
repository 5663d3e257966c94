"""`ec2c init`: the starter config folder is valid as written and never overwritten silently."""

from __future__ import annotations

from typer.testing import CliRunner

from ec2c.orchestrator.cli import app
from ec2c.orchestrator.deploy.inputs.environments import ConfigDir
from ec2c.orchestrator.deploy.rollouts.rollout import load_plan
from ec2c.scanner.assessment.policy import load_policy


def test_init_writes_a_valid_starter_folder(tmp_path):
    folder = tmp_path / "cfg"
    result = CliRunner().invoke(app, ["init", str(folder)])
    assert result.exit_code == 0, result.output
    config = ConfigDir(folder)
    (env,) = config.load_all()
    assert env.name == "example" and env.aws.region == "us-east-1"
    assert env.backend == "file://.pulumi-state"
    policy = load_policy(env.policy, source="template")
    assert policy.rules["required_tags"].params["keys"] == ("Owner", "Environment")
    plan = load_plan(folder / "rollouts" / "example.yaml", config)
    assert [t.stack_name for _, _, targets in plan.waves for t in targets] == ["example", "example-euw1"]


def test_init_refuses_to_overwrite_without_force(tmp_path):
    folder = tmp_path / "cfg"
    assert CliRunner().invoke(app, ["init", str(folder)]).exit_code == 0
    (folder / "example.yaml").write_text("aws: {region: eu-west-1}\n")
    refused = CliRunner().invoke(app, ["init", str(folder)])
    assert refused.exit_code == 2
    assert "pass --force" in " ".join(refused.output.split())
    assert (folder / "example.yaml").read_text() == "aws: {region: eu-west-1}\n"
    assert CliRunner().invoke(app, ["init", str(folder), "--force"]).exit_code == 0
    assert "us-east-1" in (folder / "example.yaml").read_text()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert CliRunner().invoke(app, ["init", str(blocker)]).exit_code == 2
