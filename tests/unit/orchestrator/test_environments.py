"""Environment files: merging, validation with file + field in the message, the shipped configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ec2c.orchestrator.deploy.inputs.environments import ConfigDir, deep_merge, locate_config_dir
from ec2c.orchestrator.errors import BadInput

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config"


def _config(tmp_path: Path, defaults: dict, **envs: dict) -> ConfigDir:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "defaults.yaml").write_text(yaml.safe_dump(defaults))
    for name, document in envs.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(document))
    return ConfigDir(folder)


def test_shipped_environments_are_valid_and_prod_is_protected():
    config = ConfigDir(REPO_CONFIG)
    envs = {e.name: e for e in config.load_all()}
    assert set(envs) == {"dev", "staging", "prod", "local"}
    assert envs["prod"].protected and not envs["dev"].protected
    assert envs["prod"].backend.startswith("s3://")
    assert envs["local"].is_local_backend and envs["local"].aws.account_id is None
    assert envs["staging"].aws.role_arn.endswith(":role/ec2-compliance-deployer")
    assert envs["prod"].policy["rules"]["required_tags"]["params"]["keys"] == ["Owner", "Environment", "CostCenter"]
    assert envs["dev"].policy["alert_threshold"] == 80
    assert envs["dev"].tags == {"ManagedBy": "ec2-compliance", "Environment": "dev", "Owner": "platform-team"}


def test_defaults_merge_under_the_environment(tmp_path):
    config = _config(
        tmp_path,
        {"tags": {"ManagedBy": "x", "Team": "a"}, "lambda": {"memory_mb": 256}, "alert_emails": ["a@example.com"]},
        dev={"aws": {"region": "eu-west-1"}, "tags": {"Team": "b"}, "alert_emails": ["b@example.com"]},
    )
    env = config.load("dev")
    assert env.tags == {"ManagedBy": "x", "Team": "b"}
    assert env.lambda_.memory_mb == 256 and env.lambda_.timeout_s == 300
    assert env.alert_emails == ("b@example.com",)
    assert env.stack_name == "dev" and env.scan_regions == ("eu-west-1",)


def test_deep_merge_replaces_lists_and_merges_mappings():
    assert deep_merge({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2]}, "e": 2}) == {
        "a": {"b": 1, "c": [2]},
        "d": 1,
        "e": 2,
    }


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"aws": {"region": "Europe"}}, "aws.region: expected an AWS region such as eu-west-1, got 'Europe'"),
        ({"aws": {"region": "eu-west-1", "account_id": 123}}, "aws.account_id"),
        ({"aws": {"region": "eu-west-1", "account_id": "12345"}}, "expected a 12-digit account id"),
        ({"aws": {"region": "eu-west-1", "role_arn": "deployer"}}, "aws.role_arn: expected an IAM role ARN"),
        (
            {"aws": {"region": "eu-west-1"}, "schedule": "daily"},
            "schedule: expected 'rate(<n> minute[s]|hour[s]|day[s])' or 'cron(<6 fields>)', got 'daily'",
        ),
        ({"aws": {"region": "eu-west-1"}, "alert_emails": ["nobody"]}, "alert_emails: expected e-mail addresses"),
        ({"aws": {"region": "eu-west-1"}, "lambda": {"timeout_s": 901}}, "lambda.timeout_s"),
        ({"aws": {"region": "eu-west-1"}, "lambda": {"ephemeral_storage_mb": 256}}, "lambda.ephemeral_storage_mb"),
        (
            {"aws": {"region": "eu-west-1"}, "lambda": {"region_concurrency": 0}},
            "lambda.region_concurrency: Input should be greater than or equal to 1",
        ),
        (
            {"aws": {"region": "eu-west-1"}, "lambda": {"region_concurrency": 41}},
            "lambda.region_concurrency: Input should be less than or equal to 40",
        ),
        (
            {"aws": {"region": "eu-west-1"}, "lambda": {"reserved_concurrency": 3}},
            "lambda.reserved_concurrency: expected at least lambda.region_concurrency (4, the regions scanned at once; "
            "fewer reserved executions would throttle every run), got 3",
        ),
        (
            {"aws": {"region": "eu-west-1"}, "lambda": {"region_concurrency": 12, "reserved_concurrency": 8}},
            "lambda.reserved_concurrency: expected at least lambda.region_concurrency (12,",
        ),
        ({"aws": {"region": "eu-west-1"}, "backend": "ftp://x"}, "backend: expected a backend URL"),
        ({"aws": {"region": "eu-west-1"}, "regoin": "x"}, "regoin: unknown field"),
        ({}, "aws: Field required"),
        ({"aws": {"region": "eu-west-1"}, "policy": {"rules": {"no_such_rule": {}}}}, "no_such_rule"),
    ],
)
def test_invalid_environment_names_file_and_field(tmp_path, document, fragment):
    config = _config(tmp_path, {}, broken=document)
    with pytest.raises(BadInput) as info:
        config.load("broken")
    assert str(config.path / "broken.yaml") in info.value.message
    assert fragment in info.value.message
    assert info.value.exit_code == 2


def test_unknown_environment_lists_the_known_ones(tmp_path):
    config = _config(tmp_path, {}, dev={"aws": {"region": "eu-west-1"}}, prod={"aws": {"region": "eu-west-1"}})
    with pytest.raises(BadInput, match=r"unknown environment 'qa'.*known: dev, prod"):
        config.load("qa")


def test_broken_yaml_is_reported_with_the_file(tmp_path):
    config = _config(tmp_path, {})
    (config.path / "bad.yaml").write_text("aws: [unclosed\n")
    with pytest.raises(BadInput, match=r"bad\.yaml:\d+:\d+: invalid YAML"):
        config.load("bad")
    (config.path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(BadInput, match=r"list\.yaml: expected a mapping at the top level, got list"):
        config.load("list")


def test_missing_config_folder_says_how_to_point_at_one(tmp_path):
    with pytest.raises(BadInput, match="config folder not found"):
        ConfigDir(tmp_path / "nope").names()


def test_config_dir_resolution_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EC2C_CONFIG_DIR", raising=False)
    with pytest.raises(
        BadInput,
        match=r"no config folder: looked for --config-dir, then \$EC2C_CONFIG_DIR, then "
        r"\./config .*run `ec2c init`",
    ):
        locate_config_dir()
    (tmp_path / "config").mkdir()
    assert locate_config_dir().path == tmp_path / "config"
    monkeypatch.setenv("EC2C_CONFIG_DIR", "/elsewhere")
    assert locate_config_dir().path == Path("/elsewhere")
    assert locate_config_dir(Path("/explicit")).path == Path("/explicit")


def test_ephemeral_copy_names_resources_after_the_stack_and_may_empty_the_bucket(tmp_path):
    config = _config(tmp_path, {}, dev={"aws": {"region": "eu-west-1"}})
    env = config.load("dev")
    ephemeral = env.ephemeral("dev-a1b2c3")
    assert (ephemeral.stack_name, ephemeral.force_destroy) == ("dev-a1b2c3", True)
    assert (env.stack_name, env.force_destroy) == ("dev", False)


def test_environment_names_leave_room_for_the_ephemeral_suffix(tmp_path):
    config = _config(tmp_path, {}, **{"a" * 18: {"aws": {"region": "eu-west-1"}}})
    with pytest.raises(BadInput, match="max 17"):
        config.load("a" * 18)


def test_log_retention_must_be_a_cloudwatch_value(tmp_path):
    config = _config(tmp_path, {}, dev={"aws": {"region": "eu-west-1"}, "retention": {"logs_days": 31}})
    with pytest.raises(BadInput, match=r"retention\.logs_days: expected one of CloudWatch Logs' retention values"):
        config.load("dev")


def test_environment_files_that_cannot_be_read_are_bad_input(tmp_path):
    config = _config(tmp_path, {})
    (config.path / "latin.yaml").write_bytes("aws: {region: eu-west-1}\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(BadInput, match=r"latin\.yaml: config: not UTF-8 text \(byte \d+\)"):
        config.load("latin")
    (config.path / "folder.yaml").mkdir()
    with pytest.raises(BadInput, match=r"folder\.yaml: config: is a directory"):
        config.load("folder")
    (config.path / "tabs.yaml").write_text("aws:\n  region: eu-west-1\n\tprotected: true\n")
    with pytest.raises(BadInput, match=r"tabs\.yaml:3:1: invalid YAML: found character '\\t'"):
        config.load("tabs")


def test_impossible_dates_name_the_field(tmp_path):
    config = _config(tmp_path, {})
    (config.path / "qa.yaml").write_text(
        "aws: {region: eu-west-1}\npolicy:\n  suppressions:\n"
        "  - {rule: '*', instance_id: i-1, reason: r, expires: 2024-02-30}\n"
    )
    with pytest.raises(BadInput, match=r"qa\.yaml: policy: policy\.suppressions\[0\]\.expires: expected an ISO date"):
        config.load("qa")


def test_unquoted_account_ids(tmp_path):
    config = _config(tmp_path, {})
    (config.path / "qa.yaml").write_text("aws: {region: eu-west-1, account_id: 123456789012}\n")
    assert config.load("qa").aws.account_id == "123456789012"
    (config.path / "zero.yaml").write_text("aws: {region: eu-west-1, account_id: 012345678901}\n")
    assert config.load("zero").aws.account_id == "012345678901"
    (config.path / "octal.yaml").write_text("aws: {region: eu-west-1, account_id: 012345670123}\n")
    with pytest.raises(BadInput, match=r"account_id: expected a 12-digit account id \(quote it in YAML\)"):
        config.load("octal")


@pytest.mark.parametrize(
    "schedule, message",
    [
        ("cron(61 6 * * ? *)", "cron() minutes field within 0-59"),
        ("rate(1 days)", "singular unit for 1"),
        ("cron(0 6 ? * 8 *)", "day-of-week field within 1-7 or SUN-SAT"),
    ],
)
def test_schedules_are_range_checked_at_load(tmp_path, schedule, message):
    config = _config(tmp_path, {}, qa={"aws": {"region": "eu-west-1"}, "schedule": schedule})
    with pytest.raises(BadInput) as caught:
        config.load("qa")
    assert "qa.yaml: schedule:" in caught.value.message and message in caught.value.message


def test_ephemeral_stacks_subscribe_only_the_ephemeral_inboxes(tmp_path):
    config = _config(
        tmp_path,
        {},
        dev={"aws": {"region": "eu-west-1"}, "alert_emails": ["team@example.com"]},
        qa={
            "aws": {"region": "eu-west-1"},
            "alert_emails": ["team@example.com"],
            "ephemeral": {"alert_emails": ["ci-bot@example.com"]},
        },
    )
    assert config.load("dev").ephemeral("dev-a1b2c3").alert_emails == ()
    assert config.load("dev").alert_emails == ("team@example.com",)
    assert config.load("qa").ephemeral("qa-a1b2c3").alert_emails == ("ci-bot@example.com",)
    (tmp_path / "b").mkdir()
    bad = _config(tmp_path / "b", {}, x={"aws": {"region": "eu-west-1"}, "ephemeral": {"alert_emails": ["nope"]}})
    with pytest.raises(BadInput, match=r"ephemeral\.alert_emails: expected e-mail addresses, got 'nope'"):
        bad.load("x")


def test_lambda_settings_reach_the_stack_args(tmp_path, monkeypatch):
    from ec2c.orchestrator.deploy import programs
    from ec2c.orchestrator.deploy.programs import analyzer_program

    config = _config(
        tmp_path,
        {},
        dev={
            "aws": {"region": "eu-west-1"},
            "lambda": {
                "region_concurrency": 2,
                "reserved_concurrency": 3,
                "tracing": False,
                "async_retries": 0,
                "ephemeral_storage_mb": 1024,
            },
        },
        wide={"aws": {"region": "eu-west-1"}, "lambda": {"region_concurrency": 40}},
    )
    captured = {}
    monkeypatch.setattr(programs, "program", lambda args: captured.__setitem__("args", args))
    analyzer_program(config.load("dev"))
    assert captured["args"].region_concurrency == 2 and captured["args"].reserved_concurrency == 3
    assert captured["args"].tracing is False
    assert captured["args"].async_retries == 0 and captured["args"].lambda_ephemeral_storage_mb == 1024
    # Unset, the reservation follows the concurrency, in the environment and in the stack args.
    wide = config.load("wide")
    assert (wide.lambda_.region_concurrency, wide.lambda_.reserved_concurrency) == (40, 40)
    analyzer_program(wide)
    assert (captured["args"].region_concurrency, captured["args"].reserved_concurrency) == (40, 40)


def test_the_environment_file_shares_the_stacks_concurrency_bounds():
    from ec2c.orchestrator.deploy.inputs.environments import LambdaSettings
    from ec2c.stacks.bounds import REGION_CONCURRENCY, RESERVED_CONCURRENCY

    def field_range(name: str) -> tuple[int, int]:
        metadata = LambdaSettings.model_fields[name].metadata
        return (next(m.ge for m in metadata if hasattr(m, "ge")), next(m.le for m in metadata if hasattr(m, "le")))

    bounds = {name: field_range(name) for name in ("region_concurrency", "reserved_concurrency")}
    assert bounds == {
        "region_concurrency": REGION_CONCURRENCY.range,
        "reserved_concurrency": RESERVED_CONCURRENCY.range,
    }
    assert LambdaSettings().region_concurrency == 4 == LambdaSettings().reserved_concurrency
