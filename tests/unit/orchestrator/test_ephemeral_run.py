"""`ec2c test`'s run, without an engine: deploy, idempotency preview, tests, and a teardown that
happens whatever went wrong (unless the stack is kept), each outcome in the run's exit code.

The deployment operations are recorded stand-ins (tests/engine runs the real ones); the test
runner is the run's own seam.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from ec2c.orchestrator.deploy.ci import ephemeral
from ec2c.orchestrator.deploy.ci.ephemeral import (
    TAG_CREATED_AT,
    TAG_CREATED_BY,
    TAG_CREATOR_PID,
    TAG_KIND,
    EphemeralRun,
    creation_tags,
    environment_variables,
    run_ephemeral,
)
from ec2c.orchestrator.deploy.ci.testing import ENV_NAME_VAR, OUTPUTS_ENV_VAR
from ec2c.orchestrator.deploy.inputs.environments import validate
from ec2c.orchestrator.deploy.stack.workspace import StackMissing
from ec2c.orchestrator.engine.supervisor import SUPERVISOR, Abandoned, Interrupted
from ec2c.orchestrator.errors import OperationFailed


class Engine:
    """Records each operation; `fail` maps an operation to the error it raises."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        *,
        changes: dict[str, int] | None = None,
        fail: dict[str, BaseException] | None = None,
    ) -> None:
        self.calls: list[str] = []
        self.tags: dict[str, str] | None = None
        self.changes = changes or {"same": 12}
        self.fail = fail or {}
        monkeypatch.setattr(ephemeral, "run_operation", self._operation)
        monkeypatch.setattr(ephemeral, "destroy_and_remove", self._destroy)

    def _raise(self, operation: str) -> None:
        self.calls.append(operation)
        if operation in self.fail:
            raise self.fail[operation]

    def _operation(self, target, engine, operation, program, view, tags=None):
        if operation == "up":
            self.tags = tags
        self._raise(operation)
        return SimpleNamespace(outputs={"bucket": "reports-dev-a1b2c3"}, changes=self.changes)

    def _destroy(self, target, engine, program, view) -> None:
        self._raise("destroy")


@pytest.fixture(autouse=True)
def fresh_supervisor():
    SUPERVISOR.reset()
    yield
    SUPERVISOR.reset()


def _run(tmp_path: Path, runner=None, **options) -> EphemeralRun:
    env = validate({"aws": {"region": "eu-west-1"}}, name="dev", source="config/dev.yaml").ephemeral("dev-a1b2c3")
    return run_ephemeral(
        env,
        tmp_path,
        None,
        lambda: None,
        lambda: None,
        tests=tmp_path / "suite",
        test_runner=runner or (lambda tests, junit, args: 0),
        **options,
    )


def test_a_green_run_deploys_checks_tests_and_tears_down(monkeypatch, tmp_path, capsys) -> None:
    engine = Engine(monkeypatch)
    seen: dict[str, object] = {}

    def runner(tests: Path, junit: Path | None, args) -> int:
        seen.update(
            tests=tests,
            junit=junit,
            args=list(args),
            outputs=os.environ[OUTPUTS_ENV_VAR],
            env=os.environ[ENV_NAME_VAR],
            config=os.environ.get("EC2C_CONFIG_DIR"),
        )
        return 0

    run = _run(tmp_path, runner, junit_xml=tmp_path / "junit.xml", pytest_args=["-x"], config_dir=tmp_path / "cfg")
    assert engine.calls == ["up", "preview", "destroy"]
    assert (run.exit_code, run.deployed, run.destroyed, run.kept, run.error) == (0, True, True, False, None)
    assert [(step.name, step.status) for step in run.steps] == [
        ("up", "ok"),
        ("idempotency", "ok"),
        ("tests", "ok"),
        ("destroy", "ok"),
    ]
    assert json.loads(run.outputs_file.read_text()) == {"bucket": "reports-dev-a1b2c3"}
    assert seen == {
        "tests": tmp_path / "suite",
        "junit": tmp_path / "junit.xml",
        "args": ["-x"],
        "outputs": str(run.outputs_file),
        "env": "dev",
        "config": str(tmp_path / "cfg"),
    }
    assert OUTPUTS_ENV_VAR not in os.environ and ENV_NAME_VAR not in os.environ
    assert set(engine.tags) == {TAG_KIND, TAG_CREATED_AT, TAG_CREATED_BY, TAG_CREATOR_PID}
    assert SUPERVISOR.recovery == "ec2c sweep --env dev --stack dev-a1b2c3 --yes"
    assert "ephemeral stack dev-a1b2c3" in capsys.readouterr().err


def test_failing_tests_are_the_exit_code_and_the_stack_still_goes(monkeypatch, tmp_path) -> None:
    engine = Engine(monkeypatch)
    run = _run(
        tmp_path, lambda tests, junit, args: 1, outputs_file=tmp_path / "out" / "o.json", idempotency_check=False
    )
    assert engine.calls == ["up", "destroy"]
    assert (run.exit_code, run.destroyed, run.outputs_file) == (1, True, tmp_path / "out" / "o.json")


def test_a_program_that_is_not_idempotent_fails_before_the_tests(monkeypatch, tmp_path, capsys) -> None:
    engine = Engine(monkeypatch, changes={"same": 3, "update": 2, "create": 1, "delete": 0})
    ran: list[Path] = []
    run = _run(tmp_path, lambda tests, junit, args: ran.append(tests) or 0)
    assert ran == [] and engine.calls == ["up", "preview", "destroy"]
    assert run.exit_code == 1 and run.destroyed
    assert run.error == (
        "the program is not idempotent: a preview right after `up` plans 1 create, 2 update "
        "(use --skip-idempotency-check to allow it)"
    )
    assert [(step.name, step.status) for step in run.steps][:2] == [("up", "ok"), ("idempotency", "failed")]
    assert "failed:" in capsys.readouterr().err


def test_a_failed_deployment_is_torn_down_too(monkeypatch, tmp_path, capsys) -> None:
    engine = Engine(monkeypatch, fail={"up": OperationFailed("quota exceeded")})
    run = _run(tmp_path)
    assert engine.calls == ["up", "destroy"]
    assert (run.exit_code, run.deployed, run.destroyed, run.error) == (1, False, True, "quota exceeded")
    assert "deployment failed:" in capsys.readouterr().err


def test_kept_stacks_are_left_with_the_command_that_removes_them(monkeypatch, tmp_path, capsys) -> None:
    engine = Engine(monkeypatch)
    run = _run(tmp_path, keep=True)
    assert engine.calls == ["up", "preview"]
    assert run.kept and not run.destroyed
    assert "`ec2c destroy --env dev --stack dev-a1b2c3`" in " ".join(capsys.readouterr().err.split())


def test_a_failed_teardown_turns_the_run_red_and_says_how_to_recover(monkeypatch, tmp_path, capsys) -> None:
    Engine(monkeypatch, fail={"destroy": OperationFailed("bucket not empty")})
    run = _run(tmp_path)
    assert (run.exit_code, run.destroyed, run.error) == (1, False, "teardown failed: bucket not empty")
    err = " ".join(capsys.readouterr().err.split())
    assert "resources may remain in stack dev-a1b2c3" in err
    assert "recover with `ec2c sweep --env dev --stack dev-a1b2c3 --yes`" in err


def test_an_interrupted_deployment_keeps_its_signal_exit_code(monkeypatch, tmp_path) -> None:
    Engine(monkeypatch, fail={"up": Interrupted("interrupted by SIGTERM", 15)})
    run = _run(tmp_path)
    assert (run.exit_code, run.error, run.destroyed) == (143, "interrupted by SIGTERM", True)
    assert run.steps[0].status == "interrupted"


def test_a_signal_during_the_tests_tears_down_with_its_exit_code(monkeypatch, tmp_path) -> None:
    Engine(monkeypatch)

    def runner(tests, junit, args) -> int:
        SUPERVISOR.first = 2  # SIGINT arrived while pytest ran (pytest itself reports and returns)
        return 2

    run = _run(tmp_path, runner)
    assert (run.exit_code, run.error, run.destroyed) == (130, "interrupted", True)


def test_an_abandoned_run_leaves_without_a_teardown(monkeypatch, tmp_path) -> None:
    engine = Engine(monkeypatch, fail={"up": Abandoned()})
    with pytest.raises(Abandoned):
        _run(tmp_path)
    assert engine.calls == ["up"]


def test_creation_tags_name_the_creator() -> None:
    tags = creation_tags()
    assert tags[TAG_KIND] == "ephemeral" and tags[TAG_CREATOR_PID] == str(os.getpid())
    assert tags[TAG_CREATED_BY].endswith("@" + os.uname().nodename)
    assert tags[TAG_CREATED_AT].endswith("Z") and len(tags[TAG_CREATED_AT]) == len("2026-01-01T00:00:00Z")


def test_environment_variables_are_restored_after_the_run(monkeypatch) -> None:
    monkeypatch.setenv("EC2C_KEEP", "before")
    monkeypatch.delenv("EC2C_NEW", raising=False)
    with environment_variables({"EC2C_KEEP": "during", "EC2C_NEW": "x"}):
        assert (os.environ["EC2C_KEEP"], os.environ["EC2C_NEW"]) == ("during", "x")
    assert os.environ["EC2C_KEEP"] == "before" and "EC2C_NEW" not in os.environ


def _missing() -> StackMissing:
    return StackMissing("stack organization/ec2-compliance/dev-a1b2c3 does not exist in file://...")


def _lock(tmp_path: Path, pid: int) -> Path:
    folder = tmp_path / ".pulumi-state" / ".pulumi" / "locks" / "organization" / "ec2-compliance" / "dev-a1b2c3"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "0b5c.json"
    path.write_text(json.dumps({"pid": pid, "username": "ci", "hostname": socket.gethostname()}))
    return path


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_stack_never_created_has_nothing_to_tear_down(monkeypatch, tmp_path, capsys) -> None:
    """A signal during `stack init`: the run is cancelled, and the stack it never made is no failure."""
    engine = Engine(monkeypatch, fail={"up": Interrupted("interrupted by SIGTERM", 15), "destroy": _missing()})
    work_dir = tmp_path / ".ec2c" / "work" / "ec2-compliance" / "dev-a1b2c3"
    work_dir.mkdir(parents=True)
    run = _run(tmp_path)
    assert engine.calls == ["up", "destroy"]
    assert (run.exit_code, run.destroyed, run.absent, run.error) == (143, False, True, "interrupted by SIGTERM")
    assert (run.stack_state, run.left_behind) == ("never created", False)
    assert [(step.name, step.status) for step in run.steps] == [("up", "interrupted"), ("destroy", "ok")]
    assert not work_dir.exists()
    err = " ".join(capsys.readouterr().err.split())
    assert "stack dev-a1b2c3 was never created: nothing to tear down" in err
    assert "teardown failed" not in err and "recover with" not in err


def test_a_stack_gone_after_its_deployment_is_already_gone(monkeypatch, tmp_path, capsys) -> None:
    Engine(monkeypatch, fail={"destroy": _missing()})
    run = _run(tmp_path)
    assert (run.exit_code, run.deployed, run.absent, run.stack_state) == (0, True, True, "already gone")
    assert "stack dev-a1b2c3 no longer exists: nothing to tear down" in capsys.readouterr().err


def test_the_lock_a_killed_stack_init_left_is_deleted(monkeypatch, tmp_path) -> None:
    Engine(monkeypatch, fail={"up": Interrupted("interrupted by SIGINT", 2), "destroy": _missing()})
    lock = _lock(tmp_path, _dead_pid())
    run = _run(tmp_path)
    assert (run.exit_code, run.absent, run.left_behind) == (130, True, False)
    assert not lock.exists()


def test_a_live_lock_on_a_missing_stack_is_a_failed_teardown(monkeypatch, tmp_path, capsys) -> None:
    Engine(monkeypatch, fail={"up": OperationFailed("quota exceeded"), "destroy": _missing()})
    lock = _lock(tmp_path, os.getpid())
    run = _run(tmp_path)
    assert lock.exists()
    assert (run.exit_code, run.absent, run.left_behind, run.stack_state) == (1, False, True, "NOT destroyed")
    assert run.error == "teardown failed: the stack does not exist but its lock remains"
    err = " ".join(capsys.readouterr().err.split())
    assert f"pid {os.getpid()} on {socket.gethostname()} (ci), alive" in err
    assert ".pulumi/locks/organization/ec2-compliance/dev-a1b2c3" in err


def test_the_stack_state_of_kept_and_destroyed_runs(monkeypatch, tmp_path) -> None:
    Engine(monkeypatch)
    assert (_run(tmp_path, keep=True).stack_state, _run(tmp_path).stack_state) == ("kept", "destroyed and removed")
