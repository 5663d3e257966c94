"""`ec2c` up / preview / refresh / outputs / destroy against the real engine, embedded backend."""

from __future__ import annotations

import json

import yaml

from tests.engine.programs import SECRET_VALUE

from .conftest import PASSPHRASE


def test_up_outputs_destroy_on_the_embedded_backend(project):
    up = project.ec2c("up", "--env", "eng", "--json")
    assert up.returncode == 0, up.stderr
    result = json.loads(up.stdout)
    assert result["ok"] and result["operation"] == "up"
    assert result["changes"].get("create") == 2  # the stack and the component
    assert result["outputs"]["lambda_function_name"] == "lambda_function_name-eng"
    assert result["outputs"]["api_token"] == "[secret]"
    assert SECRET_VALUE not in up.stdout + up.stderr
    assert project.stacks() == ["eng"]

    outputs = project.ec2c("outputs", "--env", "eng", "--json")
    assert outputs.returncode == 0, outputs.stderr
    values = json.loads(outputs.stdout)
    assert values["region"] == "eu-west-1"
    assert values["configured_region"] == "eu-west-1"
    assert values["api_token"] == "[secret]"

    revealed = project.ec2c("outputs", "--env", "eng", "--json", "--show-secrets")
    assert json.loads(revealed.stdout)["api_token"] == SECRET_VALUE

    env_file = project.ec2c("outputs", "--env", "eng", "--env-file")
    assert "SCHEDULE_RULE_NAME=schedule_rule_name-eng" in env_file.stdout.splitlines()

    again = project.ec2c("up", "--env", "eng", "--json")
    assert json.loads(again.stdout)["changes"] == {"same": 2}

    preview = project.ec2c("preview", "--env", "eng", "--json")
    assert preview.returncode == 0, preview.stderr
    assert json.loads(preview.stdout)["changes"] == {"same": 2}

    refresh = project.ec2c("refresh", "--env", "eng", "--json")
    assert refresh.returncode == 0, refresh.stderr

    destroy = project.ec2c("destroy", "--env", "eng", "--json")
    assert destroy.returncode == 0, destroy.stderr
    assert json.loads(destroy.stdout)["changes"].get("delete") == 2


def test_stack_config_carries_region_account_and_role(project):
    assert project.ec2c("up", "--env", "eng").returncode == 0
    config_file = next((project.root / ".ec2c" / "work" / "ec2-compliance" / "eng").glob("Pulumi.eng.yaml"))
    config = yaml.safe_load(config_file.read_text())["config"]
    assert config["aws:region"] == "eu-west-1"
    assert config["aws:allowedAccountIds"] == ["123456789012"]
    assert config["aws:assumeRoles"] == [
        {"roleArn": "arn:aws:iam::123456789012:role/deployer", "sessionName": "ec2c-eng"}
    ]
    outputs = json.loads(project.ec2c("outputs", "--env", "eng", "--json").stdout)
    assert outputs["configured_region"] == "eu-west-1"
    assert outputs["configured_assume_roles"] == config["aws:assumeRoles"]


def test_secrets_are_encrypted_in_state(project):
    assert project.ec2c("up", "--env", "eng").returncode == 0
    state = (project.root / ".pulumi-state" / ".pulumi" / "stacks" / "ec2-compliance" / "eng.json").read_text()
    assert SECRET_VALUE not in state
    assert "ciphertext" in state


def test_a_wrong_passphrase_is_a_clear_error(project):
    assert project.ec2c("up", "--env", "eng").returncode == 0
    wrong = project.ec2c("outputs", "--env", "eng", PULUMI_CONFIG_PASSPHRASE=PASSPHRASE + "-wrong")
    assert wrong.returncode == 1
    assert "Traceback" not in wrong.stderr
    assert "passphrase" in wrong.stderr.lower()


def test_outputs_of_a_missing_stack_say_how_to_create_it(project):
    result = project.ec2c("outputs", "--env", "eng")
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "ec2c up --env eng" in result.stderr


def test_a_failing_program_fails_the_update_with_its_reason(project):
    project.write_env("broken", {"program": "tests.engine.programs:failing_analyzer", "aws": {"region": "us-east-1"}})
    result = project.ec2c("up", "--env", "broken")
    assert result.returncode == 1
    assert "deliberate failure inside the program" in result.stderr
    assert "Traceback (most recent call last)" not in result.stderr.split("deliberate failure")[-1]


def test_destroying_a_protected_environment_needs_yes(project):
    project.write_env("prodlike", {"protected": True, "aws": {"region": "eu-west-1"}})
    assert project.ec2c("up", "--env", "prodlike").returncode == 0
    refused = project.ec2c("destroy", "--env", "prodlike")
    assert refused.returncode == 2
    assert "protected" in refused.stderr and "--yes" in refused.stderr
    assert project.stacks() == ["prodlike"]
    done = project.ec2c("destroy", "--env", "prodlike", "--yes", "--json")
    assert done.returncode == 0, done.stderr


def test_bad_environment_file_names_file_and_field(project):
    project.write_env("typo", {"aws": {"region": "eu-west"}, "lambda": {"memory_mb": 64}})
    result = project.ec2c("up", "--env", "typo")
    assert result.returncode == 2
    assert "typo.yaml" in result.stderr
    assert "aws.region" in result.stderr and "lambda.memory_mb" in result.stderr
    assert "Traceback" not in result.stderr


def test_engine_command_reports_the_cli(project, engine):
    result = project.ec2c("engine", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["version"] == engine.version
