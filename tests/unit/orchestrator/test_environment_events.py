"""The environment file's `events:` block: validated at load with file and field named, turned
into the stack's `EventsArgs` by the default program, and off for ephemeral stacks unless
`ephemeral.events` asks for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ec2c.orchestrator.deploy import programs
from ec2c.orchestrator.deploy.inputs.environments import ConfigDir, Environment, EventsSettings
from ec2c.orchestrator.deploy.programs import analyzer_program
from ec2c.orchestrator.errors import BadInput
from ec2c.scanner.registry import Severity
from ec2c.stacks import ComplianceAnalyzerArgs
from ec2c.stacks.args import EventsArgs
from ec2c.stacks.bounds import EVENTS_BATCH_SIZE, EVENTS_BATCH_WINDOW_S
from tests.unit.stacks.stack_harness import run_program

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config"
REGION = {"aws": {"region": "eu-west-1"}}


def _config(tmp_path: Path, **envs: dict[str, Any]) -> ConfigDir:
    folder = tmp_path / "config"
    folder.mkdir()
    for name, document in envs.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(document))
    return ConfigDir(folder)


def _load(tmp_path: Path, document: dict[str, Any]) -> Environment:
    return _config(tmp_path, qa={**REGION, **document}).load("qa")


def _stack_args(env: Environment, monkeypatch: pytest.MonkeyPatch) -> ComplianceAnalyzerArgs:
    """The args `analyzer_program` hands to the stack program."""
    captured: list[ComplianceAnalyzerArgs] = []
    monkeypatch.setattr(programs, "program", captured.append)
    analyzer_program(env)
    (args,) = captured
    return args


@pytest.mark.parametrize(
    ("events", "fragment"),
    [
        (
            {"alert_severity": "urgent"},
            "events.alert_severity: unknown severity 'urgent': expected one of critical, high, medium, low, "
            "informational",
        ),
        ({"alert_severity": 3}, "events.alert_severity: unknown severity 3: expected one of critical, high,"),
        ({"batch_window_s": 301}, "events.batch_window_s: Input should be less than or equal to 300"),
        ({"batch_window_s": -1}, "events.batch_window_s: Input should be greater than or equal to 0"),
        ({"batch_size": 0}, "events.batch_size: Input should be greater than or equal to 1"),
        ({"batch_size": 10001}, "events.batch_size: Input should be less than or equal to 10000"),
        (
            {"batch_window_s": 0, "batch_size": 11},
            "events.batch_size: expected at most 10 with events.batch_window_s 0 (Lambda takes more messages "
            "from a standard queue only with a batching window of at least 1 s), got 11",
        ),
        ({"enabled": "sometimes"}, "events.enabled: Input should be a valid boolean"),
        ({"enable": True}, "events.enable: unknown field"),
    ],
)
def test_invalid_events_settings_name_file_and_field(tmp_path, events, fragment):
    with pytest.raises(BadInput) as info:
        _load(tmp_path, {"events": events})
    assert str(tmp_path / "config" / "qa.yaml") in info.value.message
    assert fragment in info.value.message
    assert info.value.exit_code == 2


def test_ephemeral_events_must_be_a_boolean(tmp_path):
    with pytest.raises(BadInput, match=r"qa\.yaml: ephemeral\.events: Input should be a valid boolean"):
        _load(tmp_path, {"ephemeral": {"events": "perhaps"}})


def test_events_are_off_by_default_with_the_stacks_defaults(tmp_path):
    events = _load(tmp_path, {}).events
    assert events == EventsSettings()
    assert events.enabled is False
    assert (events.alert_severity, events.batch_window_s, events.batch_size) == (
        Severity.HIGH,
        EVENTS_BATCH_WINDOW_S.default,
        EVENTS_BATCH_SIZE.default,
    )


@pytest.mark.parametrize(
    ("name", "bound"), [("batch_window_s", EVENTS_BATCH_WINDOW_S), ("batch_size", EVENTS_BATCH_SIZE)]
)
def test_the_file_and_the_stack_args_share_bounds_and_defaults(name, bound):
    metadata = EventsSettings.model_fields[name].metadata
    ranges = (next(m.ge for m in metadata if hasattr(m, "ge")), next(m.le for m in metadata if hasattr(m, "le")))
    assert ranges == bound.range
    assert getattr(EventsSettings(), name) == bound.default == getattr(EventsArgs(), name)
    assert EventsSettings().alert_severity.value == EventsArgs().alert_severity


def test_the_severity_is_read_in_any_case(tmp_path):
    assert _load(tmp_path, {"events": {"alert_severity": "CRITICAL"}}).events.alert_severity is Severity.CRITICAL


def test_an_unbatched_window_takes_up_to_ten_messages(tmp_path):
    events = _load(tmp_path, {"events": {"batch_window_s": 0, "batch_size": 10}}).events
    assert (events.batch_window_s, events.batch_size) == (0, 10)


def test_enabled_events_reach_the_stack_args(tmp_path, monkeypatch):
    env = _load(
        tmp_path,
        {"events": {"enabled": True, "alert_severity": "medium", "batch_window_s": 5, "batch_size": 50}},
    )
    assert _stack_args(env, monkeypatch).events == EventsArgs(alert_severity="medium", batch_window_s=5, batch_size=50)


def test_disabled_events_deploy_no_change_event_path(tmp_path, monkeypatch):
    """The other settings of a disabled block are kept in the file but build nothing."""
    env = _load(tmp_path, {"events": {"enabled": False, "alert_severity": "low", "batch_size": 10}})
    assert _stack_args(env, monkeypatch).events is None


def test_ephemeral_stacks_have_events_only_when_asked(tmp_path, monkeypatch):
    enabled = {"enabled": True, "alert_severity": "critical", "batch_window_s": 10}
    config = _config(
        tmp_path,
        plain={**REGION, "events": enabled},
        opted={**REGION, "events": enabled, "ephemeral": {"events": True}},
        off={**REGION, "ephemeral": {"events": True}},
    )
    plain = config.load("plain")
    assert plain.ephemeral("plain-a1b2c3").events.enabled is False
    assert _stack_args(plain.ephemeral("plain-a1b2c3"), monkeypatch).events is None
    assert plain.events.enabled is True  # the environment itself keeps its path
    assert _stack_args(plain, monkeypatch).events == EventsArgs(alert_severity="critical", batch_window_s=10)

    opted = config.load("opted").ephemeral("opted-a1b2c3")
    assert _stack_args(opted, monkeypatch).events == EventsArgs(alert_severity="critical", batch_window_s=10)

    # `ephemeral.events` extends the environment's path to its test stacks; it adds none.
    assert _stack_args(config.load("off").ephemeral("off-a1b2c3"), monkeypatch).events is None


def test_the_shipped_prod_environment_has_the_change_event_path(monkeypatch):
    envs = {env.name: env for env in ConfigDir(REPO_CONFIG).load_all()}
    assert envs["prod"].events == EventsSettings(enabled=True, alert_severity=Severity.HIGH)
    assert [name for name, env in sorted(envs.items()) if env.events.enabled] == ["prod"]
    assert _stack_args(envs["prod"], monkeypatch).events == EventsArgs(alert_severity="high")
    assert _stack_args(envs["prod"].ephemeral("prod-a1b2c3"), monkeypatch).events is None


def test_prods_program_deploys_the_path_into_every_scan_region(monkeypatch):
    """The shipped prod file through the real program under Pulumi's mocks: the events queue and
    its source in the home region, forwarding rules in each other scan region; none of it in
    prod's ephemeral stack."""
    monkeypatch.setenv("PULUMI_CONFIG_AWS_REGION", "eu-west-1")
    prod = ConfigDir(REPO_CONFIG).load("prod")
    deployment = run_program(analyzer_program(prod))
    (source,) = deployment.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
    assert (source.inputs["batchSize"], source.inputs["maximumBatchingWindowInSeconds"]) == (100, 20)
    rules = deployment.of_type("aws:cloudwatch/eventRule:EventRule")
    forwarded = {r.inputs["region"] for r in rules if "region" in r.inputs}
    assert forwarded == {"eu-central-1", "us-east-1", "us-west-2"}
    assert "events_queue_url" in deployment.exports

    ephemeral = run_program(analyzer_program(prod.ephemeral("prod-a1b2c3")))
    assert [r.name for r in ephemeral.resources if "-events" in r.name or "-fwd-" in r.name] == []
    assert "events_queue_url" not in ephemeral.exports
