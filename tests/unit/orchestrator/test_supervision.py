"""Signal supervision, lock files, sweep inputs: the pieces behind teardown that survives CI faults."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from pulumi import automation as auto
from typer.testing import CliRunner

from ec2c.orchestrator.cli import app
from ec2c.orchestrator.cli import stack as stack_commands
from ec2c.orchestrator.deploy.ci import inventory
from ec2c.orchestrator.deploy.ci.ephemeral import EphemeralRun, Step, check_pytest_args, planned_changes
from ec2c.orchestrator.deploy.ci.inventory import StackRow, kind_of, parse_duration
from ec2c.orchestrator.deploy.inputs.environments import validate
from ec2c.orchestrator.deploy.stack.locks import (
    FileStore,
    LockInfo,
    S3Store,
    _parse_time,
    delete_stale_locks,
    read_locks,
    store_for,
)
from ec2c.orchestrator.engine.command import SupervisedCommand
from ec2c.orchestrator.engine.supervisor import SUPERVISOR, Abandoned, Interrupted, Supervisor, supervised
from ec2c.orchestrator.errors import BadInput

REPO = Path(__file__).resolve().parents[3]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)",
]


@pytest.fixture
def supervisor(capsys):
    sup = Supervisor()
    yield sup
    sup.kill_children()


def _spawn(sup: Supervisor, cmd: list[str]) -> subprocess.Popen[str]:
    return sup.spawn(cmd, os.getcwd(), os.environ)


def test_first_signal_is_forwarded_to_the_engine_as_sigint(supervisor, capsys):
    child = _spawn(supervisor, SLEEPER)
    supervisor._on_signal(signal.SIGTERM, None)
    assert child.wait(timeout=10) == -signal.SIGINT
    assert supervisor.first == signal.SIGTERM and supervisor.exit_code == 143
    assert "SIGTERM received: cancelling the engine gracefully" in capsys.readouterr().err


def test_engine_children_run_in_a_session_of_their_own(supervisor):
    child = _spawn(supervisor, SLEEPER)
    assert os.getsid(child.pid) == child.pid != os.getsid(0)


def test_a_child_started_after_the_signal_is_cancelled_too(supervisor):
    supervisor.first = signal.SIGINT
    child = _spawn(supervisor, SLEEPER)
    assert child.wait(timeout=10) == -signal.SIGINT


def test_watchdog_kills_an_engine_that_ignores_the_cancel(supervisor, monkeypatch):
    monkeypatch.setenv("EC2C_CANCEL_GRACE_S", "0.3")
    child = _spawn(supervisor, STUBBORN)
    assert child.stdout.readline().strip() == "ready"
    supervisor._on_signal(signal.SIGINT, None)
    assert child.wait(timeout=10) == -signal.SIGKILL
    assert supervisor.engine_killed


def test_with_no_engine_running_the_signal_interrupts_python(supervisor):
    with pytest.raises(KeyboardInterrupt):
        supervisor._on_signal(signal.SIGINT, None)
    quiet = Supervisor()
    quiet.raise_when_idle = False
    quiet._on_signal(signal.SIGTERM, None)
    assert quiet.reason() == "interrupted by SIGTERM"
    with pytest.raises(Interrupted) as refused:
        quiet.check("up of stack x")
    assert refused.value.exit_code == 143 and "up of stack x not started" in refused.value.message


def test_teardown_counts_signals_and_the_third_abandons(supervisor, capsys):
    child = _spawn(supervisor, SLEEPER)
    with supervisor.teardown():
        supervisor._on_signal(signal.SIGINT, None)
        supervisor._on_signal(signal.SIGINT, None)
        assert child.poll() is None
        supervisor.check("destroy")
        with pytest.raises(Abandoned):
            supervisor._on_signal(signal.SIGINT, None)
    assert child.wait(timeout=10) == -signal.SIGKILL
    err = capsys.readouterr().err
    assert "teardown in progress, not interrupted; 2 more signal(s)" in err
    assert "1 more signal(s) abandon it" in err and "abandoning" in err


def test_supervised_commands_end_with_one_line_and_the_signal_exit_code():
    def interrupted_command() -> None:
        SUPERVISOR.first = signal.SIGTERM
        raise KeyboardInterrupt()

    with pytest.raises(Interrupted) as caught:
        supervised(interrupted_command)()
    assert caught.value.exit_code == 143 and caught.value.message == "interrupted by SIGTERM"

    def abandoned_command() -> None:
        SUPERVISOR.first, SUPERVISOR.count = signal.SIGINT, 3
        SUPERVISOR.recovery = "ec2c sweep --env dev --stack dev-abc123 --yes"
        raise Abandoned()

    with pytest.raises(Interrupted) as caught:
        supervised(abandoned_command)()
    assert caught.value.exit_code == 130
    assert (
        caught.value.message
        == "abandoned after 3 signals; recover with `ec2c sweep --env dev --stack dev-abc123 --yes`"
    )
    assert signal.getsignal(signal.SIGTERM) is not SUPERVISOR._on_signal


@pytest.fixture
def fake_cli(tmp_path) -> Path:
    """A stand-in `pulumi` binary for the process plumbing only (versions, streams, exit codes)."""
    root = tmp_path / "cli"
    (root / "bin").mkdir(parents=True)
    script = root / "bin" / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *version*) echo v3.259.0; exit 0;; esac\n'
        'echo "sid $(ps -o sid= -p $$ | tr -d \' \')"; echo "args $*"; echo "oops" >&2\n'
        'case "$*" in *fail*) echo "error: deliberate" >&2; exit 3;; esac\n'
    )
    script.chmod(0o755)
    return root


def test_supervised_command_keeps_the_sdk_contract(fake_cli, tmp_path):
    command = SupervisedCommand(root=str(fake_cli))
    seen: list[str] = []
    result = command.run(["stack", "ls"], str(tmp_path), {"X": "1"}, on_output=seen.append)
    assert result.code == 0 and result.stderr == "oops"
    assert seen[1] == "args --non-interactive stack ls"
    assert int(seen[0].split()[1]) != os.getsid(0)
    with pytest.raises(auto.CommandError) as failed:
        command.run(["fail"], str(tmp_path), {})
    assert "deliberate" in str(failed.value)
    assert SUPERVISOR.live_children() == []


def _lock(pid: int, host: str | None = None, started: str = "2026-01-01T00:00:00.123456789Z") -> dict:
    return {"pid": pid, "username": "ci", "hostname": host or socket.gethostname(), "timestamp": started}


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_lock_files_are_read_and_judged(tmp_path):
    folder = tmp_path / ".pulumi" / "locks" / "organization" / "proj" / "dev"
    folder.mkdir(parents=True)
    (folder / "a.json").write_text(json.dumps(_lock(_dead_pid())))
    (folder / "b.json").write_text(json.dumps(_lock(os.getpid())))
    (folder / "c.json").write_text(json.dumps(_lock(1, host="ci-runner-7")))
    (folder / "a.json.attrs").write_text("{}")
    (folder / "broken.json").write_text("{")
    locks = {lock.key.split("/")[-1]: lock for lock in read_locks(store_for(f"file://{tmp_path}"), "proj", "dev")}
    assert set(locks) == {"a.json", "b.json", "c.json"}
    assert locks["a.json"].alive is False and locks["a.json"].is_stale()
    assert locks["b.json"].alive is True and not locks["b.json"].is_stale(0)
    assert locks["c.json"].alive is None and not locks["c.json"].is_stale()
    assert locks["c.json"].is_stale(max_age_s=3600)
    assert "pid 1 on ci-runner-7 (ci) since 2026-01-01 00:00:00Z, on another host" == locks["c.json"].describe()
    assert read_locks(None, "proj", "dev") == []


def test_lock_times_follow_go_rfc3339():
    assert _parse_time("2026-11-26T09:44:11.507987757Z") == datetime(2026, 11, 26, 9, 44, 11, 507987, UTC)
    assert _parse_time("2026-11-26T10:44:11+01:00") == datetime(2026, 11, 26, 9, 44, 11, tzinfo=UTC)
    assert _parse_time("yesterday") is None and _parse_time(None) is None
    young = LockInfo("k", 1, "u", "elsewhere", datetime.now(UTC) - timedelta(seconds=30))
    assert not young.is_stale(max_age_s=60) and young.is_stale(max_age_s=10)


@mock_aws
def test_s3_backend_locks_are_read_from_the_bucket():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="team-state")
    key = "state/.pulumi/locks/organization/proj/dev/x.json"
    s3.put_object(Bucket="team-state", Key=key, Body=json.dumps(_lock(4242, host="runner")).encode())
    store = store_for("s3://team-state/state?region=us-east-1&use_path_style=true")
    assert isinstance(store, S3Store)
    (lock,) = read_locks(store, "proj", "dev")
    assert lock.pid == 4242 and lock.hostname == "runner" and lock.alive is None
    assert store_for("gs://bucket") is None
    assert isinstance(store_for("file:///tmp/x"), FileStore)
    assert abs((store.modified(".pulumi/locks/organization/proj/dev/x.json") - datetime.now(UTC)).total_seconds()) < 60
    assert store.modified(".pulumi/stacks/proj/none.json") is None


@mock_aws
def test_stale_locks_are_deleted_and_live_ones_kept():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="team-state")
    folder = "state/.pulumi/locks/organization/proj/dev-a1b2c3"
    s3.put_object(Bucket="team-state", Key=f"{folder}/dead.json", Body=json.dumps(_lock(_dead_pid())).encode())
    s3.put_object(Bucket="team-state", Key=f"{folder}/live.json", Body=json.dumps(_lock(os.getpid())).encode())
    store = store_for("s3://team-state/state?region=us-east-1&use_path_style=true")
    (kept,) = delete_stale_locks(store, "proj", "dev-a1b2c3")
    assert kept.pid == os.getpid()
    listed = s3.list_objects_v2(Bucket="team-state", Prefix=folder)["Contents"]
    assert [item["Key"] for item in listed] == [f"{folder}/live.json"]
    assert delete_stale_locks(None, "proj", "dev-a1b2c3") == []


def test_file_store_times_are_aware_and_missing_files_have_none(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    written = FileStore(tmp_path).modified("a.json")
    assert written is not None and abs((written - datetime.now(UTC)).total_seconds()) < 60
    assert FileStore(tmp_path).modified("b.json") is None


def test_sweep_keeps_a_stack_of_unknown_age_unless_it_is_named(monkeypatch):
    """No threshold can be checked against an age no one knows: such a stack waits for `--stack`."""
    env = validate({"aws": {"region": "eu-west-1"}}, name="dev", source="config/dev.yaml")
    monkeypatch.setattr(inventory, "list_stacks", lambda *a: [StackRow("dev-a1b2c3", "ephemeral")])
    run = dict(older_than_s=0, dry_run=True, view_factory=lambda: None)
    (kept,) = inventory.sweep(env, Path("."), None, lambda: None, **run)
    assert kept.action == "kept" and kept.remains and "age unknown" in kept.detail
    (named,) = inventory.sweep(env, Path("."), None, lambda: None, only="dev-a1b2c3", **run)
    assert named.action == "would remove"


@pytest.mark.parametrize("text, seconds", [("0s", 0), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1d", 86400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "2 hours", "-1h", "1w", "h"])
def test_bad_durations_are_bad_input(text):
    with pytest.raises(BadInput, match="--older-than: expected a duration"):
        parse_duration(text)


def test_stack_kinds():
    env = validate({"aws": {"region": "eu-west-1"}}, name="dev", source="config/dev.yaml")
    assert kind_of(env, "dev") == "environment"
    assert kind_of(env, "dev-a1b2c3") == "ephemeral"
    assert kind_of(env, "dev-a1b2c3d") == "other"
    assert kind_of(env, "devx-a1b2c3") == "other"


def test_run_summary_and_planned_changes():
    run = EphemeralRun(
        stack="dev-abc123",
        outputs_file=Path("o.json"),
        steps=[Step("up", 2.04, "ok"), Step("tests", 0.5, "interrupted"), Step("destroy", 1.0, "ok")],
    )
    assert run.summary() == "up 2.0s, tests 0.5s (interrupted), destroy 1.0s"
    assert planned_changes({"same": 3, "create": 1, "delete": 0}) == {"create": 1}


def test_bad_pytest_arguments_are_found_without_deploying(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    check_pytest_args(tmp_path, ["-q"])
    with pytest.raises(BadInput, match="unrecognized arguments: --nope"):
        check_pytest_args(tmp_path, ["--nope"])
    with pytest.raises(BadInput, match="no tests collected"):
        check_pytest_args(tmp_path, ["-k", "nothing_matches"])


def test_outputs_are_printed_literally(capsys):
    stack_commands._outputs_table({"api_token": "[secret]", "name": "[bold]x[/bold]"})
    err = capsys.readouterr().err
    assert "[secret]" in err and "[bold]x[/bold]" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["sweep", "--env", "dev"], "--older-than is required"),
        (["sweep", "--env", "dev", "--older-than", "soon"], "--older-than: expected a duration"),
        (["sweep", "--env", "dev", "--older-than", "2h"], "pass --yes to run it unattended"),
    ],
)
def test_sweep_input_errors(args, message):
    result = CliRunner().invoke(app, [*args, "--config-dir", str(REPO / "config")])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_protected_destroy_with_stdin_closed_is_a_clear_refusal():
    result = subprocess.run(
        [sys.executable, "-m", "ec2c.orchestrator", "destroy", "--env", "prod", "--config-dir", str(REPO / "config")],
        cwd=REPO,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.close(0),
    )
    assert result.returncode == 2, result.stderr
    assert "protected" in result.stderr and "--yes" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_abandoned_inline_program_is_not_reported_at_exit_and_nothing_else_is_hidden(monkeypatch):
    """The SDK's `run_in_stack` coroutine of a cancelled update is collected without a loop; its
    "Exception ignored" report is dropped, any other unraisable exception still reaches the hook."""
    import sys
    from types import SimpleNamespace

    from pulumi.runtime.stack import run_in_stack

    from ec2c.orchestrator.engine import supervisor

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    supervisor.quiet_abandoned_programs()
    supervisor.quiet_abandoned_programs()
    hook = sys.unraisablehook
    assert hook.quiets_abandoned_programs and hook is not seen.append

    abandoned = run_in_stack(lambda: None)

    async def other() -> None:
        return None

    unrelated = other()
    try:
        hook(SimpleNamespace(object=abandoned, exc_value=RuntimeError("no running event loop")))
        assert seen == []
        for report in (
            SimpleNamespace(object=abandoned, exc_value=ValueError("a real problem")),
            SimpleNamespace(object=unrelated, exc_value=RuntimeError("no running event loop")),
            SimpleNamespace(object=None, exc_value=RuntimeError("no running event loop")),
        ):
            hook(report)
        assert [r.exc_value.args[0] for r in seen] == [
            "a real problem",
            "no running event loop",
            "no running event loop",
        ]
    finally:
        abandoned.close()
        unrelated.close()
