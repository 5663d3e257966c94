"""Opening a stack's workspace, without an engine: select or create (and tag) it, write its settings
afresh, and turn the engine's refusals into one-line errors.

The Automation API's `select_stack`/`create_stack` are replaced by recorded stand-ins; the
workspace options are the real ones, built for a stand-in engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult

from ec2c.orchestrator.deploy.inputs.environments import validate
from ec2c.orchestrator.deploy.stack.workspace import (
    StackMissing,
    StackTarget,
    open_stack,
    settings_file,
    workspace_options,
)
from ec2c.orchestrator.engine.supervisor import SUPERVISOR, Interrupted
from ec2c.orchestrator.errors import OperationFailed


class Engine:
    """What the workspace asks of a located CLI: the command object the SDK runs."""

    def command(self) -> str:
        return "stand-in command"


class Workspace:
    def __init__(self) -> None:
        self.settings: dict[str, auto.StackSettings] = {}
        self.tags: dict[str, str] = {}

    def save_stack_settings(self, stack_name: str, settings: auto.StackSettings) -> None:
        self.settings[stack_name] = settings

    def set_tag(self, stack_name: str, key: str, value: str) -> None:
        self.tags[key] = value


def _result(stderr: str) -> CommandResult:
    return CommandResult("", stderr, 255)


class Backend:
    """`select_stack` / `create_stack` over a set of existing stacks; records each call."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        existing: set[str],
        *,
        salt: str | None = None,
        select_error: Exception | None = None,
        race: bool = False,
        locked_by: set[str] | None = None,
    ) -> None:
        self.existing, self.salt, self.select_error, self.race = existing, salt, select_error, race
        self.locked_by = locked_by
        self.calls: list[str] = []
        self.workspace = Workspace()
        monkeypatch.setattr(auto, "select_stack", self.select)
        monkeypatch.setattr(auto, "create_stack", self.create)

    def _stack(self) -> Any:
        return type("Stack", (), {"workspace": self.workspace})()

    def select(self, *, stack_name: str, project_name: str, program, opts: auto.LocalWorkspaceOptions) -> Any:
        self.calls.append("select")
        self.opts = opts
        if self.select_error is not None:
            raise self.select_error
        if stack_name not in self.existing:
            raise auto.StackNotFoundError(_result(f"error: no stack named '{stack_name}' found"))
        return self._stack()

    def create(self, *, stack_name: str, project_name: str, program, opts: auto.LocalWorkspaceOptions) -> Any:
        self.calls.append("create")
        if self.race:
            self.existing.add(stack_name)
            raise auto.StackAlreadyExistsError(_result(f"error: stack '{stack_name}' already exists"))
        if self.locked_by is not None:
            self.existing |= self.locked_by
            raise auto.ConcurrentUpdateError(
                _result("error: the stack is currently locked by 1 lock(s). Either wait for the other process(es)")
            )
        if self.salt is not None:
            path = Path(opts.work_dir) / f"Pulumi.{stack_name}.yaml"
            path.write_text(yaml.safe_dump({"encryptionsalt": self.salt}), encoding="utf-8")
        return self._stack()


def _target(tmp_path: Path, **aws: str) -> StackTarget:
    env = validate({"aws": {"region": "eu-west-1", **aws}}, name="dev", source="config/dev.yaml")
    return StackTarget(env=env, stack_name="dev", root=tmp_path)


@pytest.fixture(autouse=True)
def passphrase(monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test-passphrase")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    SUPERVISOR.reset()
    yield
    SUPERVISOR.reset()


def test_the_workspace_has_its_own_dir_backend_secrets_and_profile(tmp_path) -> None:
    target = _target(tmp_path, profile="ops")
    opts = workspace_options(target, Engine())
    assert Path(opts.work_dir) == target.work_dir and target.work_dir.is_dir()
    assert opts.pulumi_command == "stand-in command" and opts.secrets_provider == "passphrase"
    assert opts.project_settings.name == "ec2-compliance"
    assert opts.project_settings.backend.url == f"file://{tmp_path / '.pulumi-state'}"
    assert opts.env_vars == {
        "PULUMI_CONFIG_PASSPHRASE": "test-passphrase",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
        "AWS_PROFILE": "ops",
    }
    assert "AWS_PROFILE" not in workspace_options(_target(tmp_path), Engine()).env_vars


def test_an_existing_stack_is_selected_and_its_settings_written_afresh(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, {"dev"})
    target = _target(tmp_path, account_id="123456789012")
    target.work_dir.mkdir(parents=True)
    settings_file(target).write_text(yaml.safe_dump({"encryptionsalt": "from-a-wrong-passphrase"}))
    open_stack(target, Engine(), lambda: None, tags={"ec2c:kind": "ephemeral"})
    assert backend.calls == ["select"]
    saved = backend.workspace.settings["dev"]
    assert saved.secrets_provider is None and saved.encryption_salt is None
    assert saved.config == {"aws:region": "eu-west-1", "aws:allowedAccountIds": ["123456789012"]}
    assert backend.workspace.tags == {}


def test_a_new_stack_is_created_tagged_and_keeps_the_salt_the_engine_wrote(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, set(), salt="v1:fresh")
    open_stack(_target(tmp_path), Engine(), lambda: None, tags={"ec2c:kind": "ephemeral", "ec2c:creator-pid": "7"})
    assert backend.calls == ["select", "create"]
    assert backend.workspace.settings["dev"].encryption_salt == "v1:fresh"
    assert backend.workspace.tags == {"ec2c:kind": "ephemeral", "ec2c:creator-pid": "7"}


def test_two_first_runs_racing_both_get_the_stack(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, set(), race=True)
    open_stack(_target(tmp_path), Engine(), lambda: None, tags={"ec2c:kind": "ephemeral"})
    assert backend.calls == ["select", "create", "select"]
    assert backend.workspace.tags == {}


def test_a_create_refused_by_the_lock_of_the_run_that_made_the_stack_gets_that_stack(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, set(), locked_by={"dev"})
    open_stack(_target(tmp_path), Engine(), lambda: None, tags={"ec2c:kind": "ephemeral"})
    assert backend.calls == ["select", "create", "select"]
    assert backend.workspace.tags == {}


def test_a_lock_on_a_stack_still_being_created_is_the_lock_message(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, set(), locked_by=set())
    folder = tmp_path / ".pulumi-state" / ".pulumi" / "locks" / "organization" / "ec2-compliance" / "dev"
    folder.mkdir(parents=True)
    (folder / "other.json").write_text(
        '{"pid": 4242, "username": "ci", "hostname": "runner-9", "timestamp": "2026-12-03T09:05:00Z"}'
    )
    with pytest.raises(OperationFailed) as failed:
        open_stack(_target(tmp_path), Engine(), lambda: None)
    assert backend.calls == ["select", "create", "select"]
    message = failed.value.message
    assert message.startswith(
        f"stack organization/ec2-compliance/dev in file://{tmp_path / '.pulumi-state'} is locked by another update ("
    )
    assert "(pid 4242 on runner-9 (ci) since 2026-12-03 09:05:00Z, on another host)" in message
    assert message.endswith("wait for it, or if it crashed run `ec2c cancel --env dev --stack dev`")


def test_a_missing_stack_is_not_created_when_only_reading(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, set())
    with pytest.raises(OperationFailed) as failed:
        open_stack(_target(tmp_path), Engine(), lambda: None, create=False)
    assert backend.calls == ["select"]
    assert failed.value.message == (
        f"stack organization/ec2-compliance/dev does not exist in file://{tmp_path / '.pulumi-state'}; "
        "run `ec2c up --env dev` first"
    )


def test_an_engine_refusal_is_one_line_naming_the_stack(monkeypatch, tmp_path) -> None:
    Backend(
        monkeypatch, {"dev"}, select_error=auto.CommandError(_result("error: failed to decrypt: incorrect passphrase"))
    )
    with pytest.raises(
        OperationFailed,
        match=r"^cannot open stack organization/ec2-compliance/dev in file://.*: "
        r"failed to decrypt: incorrect passphrase$",
    ):
        open_stack(_target(tmp_path), Engine(), lambda: None)


def test_an_engine_refusal_after_a_signal_is_the_interruption(monkeypatch, tmp_path) -> None:
    Backend(monkeypatch, {"dev"}, select_error=auto.CommandError(_result("error: signal: interrupt")))
    SUPERVISOR.first = 15
    with pytest.raises(Interrupted) as stopped:
        open_stack(_target(tmp_path), Engine(), lambda: None)
    assert stopped.value.message == "opening stack organization/ec2-compliance/dev not started: interrupted by SIGTERM"
    assert stopped.value.exit_code == 143


class RefusingWorkspace(Workspace):
    """`stack tag set` fails on `refuse`; `signal` is what arrives while that engine call runs."""

    def __init__(self, refuse: str, signal: int | None = None) -> None:
        super().__init__()
        self.refuse, self.signal = refuse, signal

    def set_tag(self, stack_name: str, key: str, value: str) -> None:
        if key == self.refuse:
            if self.signal is not None:
                SUPERVISOR.first = self.signal
            raise auto.CommandError(_result("error: tag set failed"))
        super().set_tag(stack_name, key, value)


TAGS = {"ec2c:kind": "ephemeral", "ec2c:created-by": "ci@runner", "ec2c:creator-pid": "7"}


def test_a_missing_stack_is_told_apart_from_other_failures(monkeypatch, tmp_path) -> None:
    Backend(monkeypatch, set())
    with pytest.raises(StackMissing):
        open_stack(_target(tmp_path), Engine(), lambda: None, create=False)


def test_a_signal_while_tagging_is_the_interruption_and_no_further_tag_starts(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, set())
    backend.workspace = RefusingWorkspace("ec2c:created-by", signal=15)
    with pytest.raises(Interrupted) as stopped:
        open_stack(_target(tmp_path), Engine(), lambda: None, tags=TAGS)
    assert stopped.value.message == "tagging stack organization/ec2-compliance/dev not started: interrupted by SIGTERM"
    assert stopped.value.exit_code == 143
    assert backend.workspace.tags == {"ec2c:kind": "ephemeral"}


def test_a_signal_between_two_tags_stops_the_next_one(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, set())

    def set_tag(stack_name: str, key: str, value: str) -> None:
        backend.workspace.tags[key] = value
        SUPERVISOR.first = 2  # arrived as this engine call completed

    backend.workspace.set_tag = set_tag
    with pytest.raises(Interrupted) as stopped:
        open_stack(_target(tmp_path), Engine(), lambda: None, tags=TAGS)
    assert stopped.value.exit_code == 130
    assert backend.workspace.tags == {"ec2c:kind": "ephemeral"}


def test_a_tag_the_engine_refuses_is_one_line_naming_the_stack_and_tag(monkeypatch, tmp_path) -> None:
    backend = Backend(monkeypatch, set())
    backend.workspace = RefusingWorkspace("ec2c:creator-pid")
    with pytest.raises(OperationFailed) as failed:
        open_stack(_target(tmp_path), Engine(), lambda: None, tags=TAGS)
    assert not isinstance(failed.value, Interrupted)
    assert failed.value.message == (
        "cannot tag stack organization/ec2-compliance/dev with ec2c:creator-pid: tag set failed"
    )
