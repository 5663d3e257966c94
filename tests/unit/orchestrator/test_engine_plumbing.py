"""The small pieces between the CLI and the engine: events, outputs, backends, secrets, names."""

from __future__ import annotations

import io
import re

import pytest
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult
from rich.console import Console

from ec2c.orchestrator.deploy.ci.ephemeral import ephemeral_stack_name
from ec2c.orchestrator.deploy.inputs.environments import validate
from ec2c.orchestrator.deploy.stack import workspace
from ec2c.orchestrator.deploy.stack.lifecycle import SECRET_MASK, plain_outputs
from ec2c.orchestrator.deploy.stack.progress import ProgressView, condense
from ec2c.orchestrator.errors import BadInput

URN = "urn:pulumi:dev::ec2-compliance::ec2compliance:index:ComplianceAnalyzer$aws:s3/bucket:Bucket::reports-dev"


def _env(**document):
    return validate({"aws": {"region": "eu-west-1"}, **document}, name="dev", source="config/dev.yaml")


def _view():
    buffer = io.StringIO()
    return ProgressView(Console(file=buffer, width=200, color_system=None)), buffer


def _event(**payload) -> auto.EngineEvent:
    return auto.EngineEvent.from_json({"sequence": 1, "timestamp": 0, **payload})


def _step(op: str) -> dict:
    return {"metadata": {"op": op, "urn": URN, "type": "aws:s3/bucket:Bucket", "provider": ""}}


def test_progress_shows_finished_steps_failures_and_summary():
    view, buffer = _view()
    view(_event(resourcePreEvent=_step("create")))
    view(_event(resOutputsEvent=_step("create")))
    view(_event(resOpFailedEvent={**_step("update"), "status": 1, "steps": 1}))
    view(_event(diagnosticEvent={"message": "AccessDenied: s3:CreateBucket\n", "color": "never", "severity": "error"}))
    view(_event(diagnosticEvent={"message": "deprecated argument", "color": "never", "severity": "warning"}))
    view(
        _event(summaryEvent={"maybeCorrupt": False, "durationSeconds": 3, "resourceChanges": {"create": 1, "same": 4}})
    )
    text = buffer.getvalue()
    assert re.search(r"\+ aws:s3/bucket:Bucket reports-dev created in \d+\.\ds", text)
    assert "x aws:s3/bucket:Bucket reports-dev failed to update" in text
    assert "warning: deprecated argument" in text
    assert view.errors == ["AccessDenied: s3:CreateBucket"]
    assert view.changes == {"create": 1, "same": 4}


def test_preview_announces_planned_changes_only():
    view, buffer = _view()
    view.preview = True
    view(_event(resourcePreEvent=_step("same")))
    view(_event(resourcePreEvent=_step("replace")))
    assert buffer.getvalue().strip() == "+- aws:s3/bucket:Bucket reports-dev (will replace)"


def test_quiet_view_prints_nothing_but_keeps_errors():
    view, buffer = _view()
    view.quiet = True
    view(_event(resOutputsEvent=_step("delete")))
    view(_event(diagnosticEvent={"message": "boom", "color": "never", "severity": "error"}))
    assert buffer.getvalue() == "" and view.errors == ["boom"]


def test_condense_drops_the_python_traceback():
    message = 'program failed:\nTraceback (most recent call last):\n  File "x.py", line 1\nValueError: bad tag\n'
    assert condense(message) == "program failed ValueError: bad tag"
    assert condense("  plain  ") == "plain"


def test_outputs_mask_secrets_unless_asked():
    outputs = {"b": auto.OutputValue("visible", False), "a": auto.OutputValue("hunter2", True)}
    assert plain_outputs(outputs) == {"a": SECRET_MASK, "b": "visible"}
    assert list(plain_outputs(outputs)) == ["a", "b"]
    assert plain_outputs(outputs, show_secrets=True)["a"] == "hunter2"


def test_relative_file_backend_lives_under_the_project(tmp_path):
    url = workspace.resolve_backend("file://.pulumi-state", tmp_path)
    assert url == f"file://{tmp_path / '.pulumi-state'}"
    assert (tmp_path / ".pulumi-state").is_dir()
    assert workspace.resolve_backend("file:///abs/state", tmp_path) == "file:///abs/state"
    assert workspace.resolve_backend("s3://bucket?region=eu-west-1", tmp_path) == "s3://bucket?region=eu-west-1"


def test_passphrase_rules(monkeypatch, capsys):
    for name in workspace.PASSPHRASE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(workspace, "_warned_default_passphrase", False)
    assert workspace.secrets_env(_env()) == {"PULUMI_CONFIG_PASSPHRASE": workspace.LOCAL_PASSPHRASE}
    assert "built-in local passphrase" in capsys.readouterr().err
    with pytest.raises(BadInput, match="needs PULUMI_CONFIG_PASSPHRASE"):
        workspace.secrets_env(_env(backend="s3://team-state"))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "/run/secrets/pp")
    assert workspace.secrets_env(_env(backend="s3://team-state")) == {
        "PULUMI_CONFIG_PASSPHRASE_FILE": "/run/secrets/pp"
    }


def test_provider_config_pins_account_and_assumes_role():
    env = _env(
        aws={
            "region": "eu-west-1",
            "account_id": "123456789012",
            "profile": "ops",
            "role_arn": "arn:aws:iam::123456789012:role/deployer",
        }
    )
    assert workspace.stack_config(env) == {
        "aws:region": "eu-west-1",
        "aws:profile": "ops",
        "aws:allowedAccountIds": ["123456789012"],
        "aws:assumeRoles": [{"roleArn": "arn:aws:iam::123456789012:role/deployer", "sessionName": "ec2c-dev"}],
    }
    assert workspace.stack_config(_env()) == {"aws:region": "eu-west-1"}


def test_engine_errors_are_reduced_to_their_reason():
    exc = auto.CommandError(CommandResult("", "warning: x\nerror: failed to decrypt: incorrect passphrase\n", 255))
    assert workspace.first_error(exc) == "failed to decrypt: incorrect passphrase"
    plain = auto.CommandError(CommandResult("", "one\ntwo\nthree\nfour\n", 1))
    assert workspace.first_error(plain) == "two three four"


def test_ephemeral_stack_names_are_unique_and_short():
    names = {ephemeral_stack_name("staging") for _ in range(200)}
    assert len(names) == 200
    assert all(re.fullmatch(r"staging-[a-z0-9]{6}", n) for n in names)
