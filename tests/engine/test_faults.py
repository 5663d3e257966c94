"""The fault matrix, on the real engine: signals to the PID alone (as docker/CI send them) in every
phase, SIGKILL, a stale lock, pending operations, a wrong passphrase. Every case ends with nothing
left behind: no stack, no lock file, no pending operation.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ec2c.orchestrator.deploy.stack.locks import pid_alive

SUITES = Path(__file__).resolve().parent / "suites"
CHECK_FILES = ("-o", "python_files=check_*.py")
SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class Watched:
    """A running ec2c whose stderr is read line by line while it runs."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None or not self.lines.empty(), "".join(self.seen)
                continue
            self.seen.append(line)
            if text in line:
                return
        raise AssertionError(f"never saw {text!r}:\n{''.join(self.seen)}")

    def finish(self, timeout: float = 180) -> tuple[int, str]:
        self.proc.wait(timeout=timeout)
        time.sleep(0.2)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        assert self.proc.stdout is not None
        self.proc.stdout.read()
        return self.proc.returncode, "".join(self.seen)


def _watch(project, *args: str, **extra: str) -> Watched:
    return Watched(project.popen(*args, **extra))


def _wait_until(condition, timeout: float = 60, what: str = "condition"):
    """Poll until `condition()` is truthy, and return that value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def _nothing_left(project) -> None:
    assert project.stacks() == []
    assert project.lock_files() == []
    assert project.pending_operations() == 0


def _clean_output(text: str) -> None:
    assert "Traceback" not in text
    assert "I/O operation on closed file" not in text


@SIGNALS
def test_signal_to_the_pid_during_up_releases_the_lock(project, signum):
    run = _watch(project, "up", "--env", "eng", EC2C_TEST_PROGRAM_DELAY="4")
    _wait_until(project.update_holder, what="the update's lock")
    run.proc.send_signal(signum)
    code, stderr = run.finish()
    assert code == EXIT[signum], stderr
    assert f"cancelled by {signal.Signals(signum).name}" in stderr
    assert "organization/ec2-compliance/eng" in stderr
    _clean_output(stderr)
    assert project.lock_files() == [] and project.pending_operations() == 0
    assert project.ec2c("destroy", "--env", "eng").returncode == 0


@SIGNALS
def test_signal_to_the_pid_during_test_deploy_tears_down(project, signum):
    run = _watch(
        project,
        "test",
        "--env",
        "eng",
        "--tests",
        str(SUITES / "passing"),
        "--",
        *CHECK_FILES,
        EC2C_TEST_PROGRAM_DELAY="4",
    )
    _wait_until(project.update_holder, what="the update's lock")
    run.proc.send_signal(signum)
    code, stderr = run.finish()
    assert code == EXIT[signum], stderr
    assert "interrupted: tearing down" in stderr
    assert "destroyed and removed" in stderr
    assert "up " in stderr and "(interrupted)" in stderr
    _clean_output(stderr)
    _nothing_left(project)


@SIGNALS
def test_signal_to_the_pid_during_the_tests_tears_down(project, tmp_path, signum):
    marker = tmp_path / "running"
    run = _watch(
        project,
        "test",
        "--env",
        "eng",
        "--tests",
        str(SUITES / "failing"),
        "--",
        *CHECK_FILES,
        EC2C_TEST_HOLD="60",
        EC2C_TEST_MARKER=str(marker),
    )
    _wait_until(marker.exists, timeout=120, what="the test suite")
    assert len(project.stacks()) == 1
    run.proc.send_signal(signum)
    code, stderr = run.finish()
    assert code == EXIT[signum], stderr
    assert "interrupted: tearing down" in stderr and "destroyed and removed" in stderr
    _clean_output(stderr)
    _nothing_left(project)


def test_a_signal_during_teardown_does_not_abort_it(project):
    run = _watch(project, "test", "--env", "eng", "--tests", str(SUITES / "failing"), "--", *CHECK_FILES)
    run.wait_for("tearing down")
    run.proc.send_signal(signal.SIGTERM)
    code, stderr = run.finish()
    assert code == 143, stderr
    assert "teardown in progress, not interrupted" in stderr
    assert "destroyed and removed" in stderr
    _clean_output(stderr)
    _nothing_left(project)


def test_a_third_signal_abandons_teardown_and_names_the_recovery(project):
    run = _watch(
        project,
        "test",
        "--env",
        "eng",
        "--tests",
        str(SUITES / "failing"),
        "--",
        *CHECK_FILES,
        EC2C_CANCEL_GRACE_S="60",
    )
    run.wait_for("tearing down")
    for _ in range(3):
        run.proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
    code, stderr = run.finish()
    assert code == 130, stderr
    _clean_output(stderr)
    recovery = stderr.split("recover with `", 1)[1].split("`", 1)[0]
    assert recovery.startswith("ec2c sweep --env eng --stack eng-")
    if project.stacks():
        fixed = project.ec2c(*recovery.split()[1:])
        assert fixed.returncode == 0, fixed.stderr
    _nothing_left(project)


def test_sigkill_during_up_is_cleaned_by_sweep(project):
    run = _watch(
        project,
        "test",
        "--env",
        "eng",
        "--tests",
        str(SUITES / "passing"),
        "--",
        *CHECK_FILES,
        EC2C_TEST_PROGRAM_DELAY="4",
    )
    holder = _wait_until(project.update_holder, what="the update's lock")
    run.proc.kill()
    run.finish()
    _wait_until(lambda: not pid_alive(holder), timeout=120, what="the orphaned engine to exit")
    assert len(project.stacks()) == 1
    listing = project.ec2c("stacks", "--env", "eng", "--json")
    assert listing.returncode == 0, listing.stderr
    (row,) = json.loads(listing.stdout)
    assert row["kind"] == "ephemeral" and row["created"] and row["created_by"]

    dry = project.ec2c("sweep", "--env", "eng", "--older-than", "0s", "--dry-run", "--json")
    assert dry.returncode == 0 and json.loads(dry.stdout)[0]["action"] == "would remove"
    assert len(project.stacks()) == 1
    swept = project.ec2c("sweep", "--env", "eng", "--older-than", "0s", "--yes", "--json")
    assert swept.returncode == 0, swept.stderr
    assert [o["action"] for o in json.loads(swept.stdout)] == ["removed"]
    _nothing_left(project)


def test_a_stack_killed_before_its_tags_is_aged_by_its_checkpoint(project, engine, tmp_path):
    """A run SIGKILLed between `pulumi stack init` and tagging leaves a stack with no tag and no
    history: made here by the engine's own `stack init`, as ec2c would have."""
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "Pulumi.yaml").write_text("name: ec2-compliance\nruntime: python\n")
    project.state.parent.mkdir()
    made = subprocess.run(
        [str(engine.binary), "stack", "init", "organization/ec2-compliance/eng-kill3d", "--non-interactive"],
        cwd=bare,
        text=True,
        capture_output=True,
        timeout=120,
        env=project.env_vars(PULUMI_BACKEND_URL=f"file://{project.state.parent}", PULUMI_SKIP_UPDATE_CHECK="true"),
    )
    assert made.returncode == 0, made.stderr
    listing = project.ec2c("stacks", "--env", "eng", "--json")
    assert listing.returncode == 0, listing.stderr
    (row,) = json.loads(listing.stdout)
    assert row["kind"] == "ephemeral" and row["created"] and row["created_by"] is None

    kept = project.ec2c("sweep", "--env", "eng", "--older-than", "1h", "--yes", "--json")
    assert kept.returncode == 0, kept.stderr
    assert [o["action"] for o in json.loads(kept.stdout)] == ["young"]
    assert project.stacks() == ["eng-kill3d"]
    swept = project.ec2c("sweep", "--env", "eng", "--older-than", "0s", "--yes", "--json")
    assert swept.returncode == 0, swept.stderr
    assert [o["action"] for o in json.loads(swept.stdout)] == ["removed"]
    _nothing_left(project)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_stale_lock_is_named_and_released_by_cancel(project):
    assert project.ec2c("up", "--env", "eng").returncode == 0
    lock_dir = project.state / "locks" / "organization" / "ec2-compliance" / "eng"
    lock_dir.mkdir(parents=True, exist_ok=True)
    (lock_dir / f"{uuid.uuid4()}.json").write_text(
        json.dumps(
            {
                "pid": _dead_pid(),
                "username": "ci",
                "hostname": os.uname().nodename,
                "timestamp": "2026-01-01T00:00:00.123456789Z",
            }
        )
    )
    blocked = project.ec2c("up", "--env", "eng")
    assert blocked.returncode == 1
    assert "organization/ec2-compliance/eng" in blocked.stderr and "no longer running" in blocked.stderr
    assert "ec2c cancel --env eng --stack eng" in blocked.stderr
    listing = json.loads(project.ec2c("stacks", "--env", "eng", "--json").stdout)
    assert listing[0]["locks"][0]["alive"] is False
    released = project.ec2c("cancel", "--env", "eng")
    assert released.returncode == 0, released.stderr
    assert "released the lock" in released.stderr
    assert project.lock_files() == []
    assert project.ec2c("up", "--env", "eng").returncode == 0
    assert project.ec2c("destroy", "--env", "eng").returncode == 0


def test_cancel_refuses_a_live_holder(project):
    assert project.ec2c("up", "--env", "eng").returncode == 0
    lock_dir = project.state / "locks" / "organization" / "ec2-compliance" / "eng"
    lock_dir.mkdir(parents=True, exist_ok=True)
    (lock_dir / "live.json").write_text(
        json.dumps(
            {"pid": os.getpid(), "username": "ci", "hostname": os.uname().nodename, "timestamp": "2026-01-01T00:00:00Z"}
        )
    )
    refused = project.ec2c("cancel", "--env", "eng")
    assert refused.returncode == 1 and "stop it first, or pass --force" in refused.stderr
    assert project.lock_files()
    assert project.ec2c("cancel", "--env", "eng", "--force").returncode == 0
    assert project.lock_files() == []


def test_pending_operations_are_cleared_before_destroy(project):
    """A killed engine leaves `pending_operations` in the checkpoint; planted here the same way, on disk."""
    assert project.ec2c("up", "--env", "eng").returncode == 0
    path = project.state / "stacks" / "ec2-compliance" / "eng.json"
    state = json.loads(path.read_text())
    latest = state["checkpoint"]["latest"]
    component = next(r for r in latest["resources"] if r["type"].startswith("ec2compliance"))
    latest["pending_operations"] = [{"resource": component, "type": "creating"}]
    path.write_text(json.dumps(state))
    assert project.pending_operations() == 1
    destroyed = project.ec2c("destroy", "--env", "eng")
    assert destroyed.returncode == 0, destroyed.stderr
    assert "cleared 1 pending operation(s)" in destroyed.stderr and component["urn"] in destroyed.stderr
    assert project.pending_operations() == 0


def test_a_wrong_passphrase_changes_nothing(project):
    assert project.ec2c("up", "--env", "eng").returncode == 0
    wrong = project.ec2c("up", "--env", "eng", PULUMI_CONFIG_PASSPHRASE="not-the-passphrase")
    assert wrong.returncode == 1
    assert "organization/ec2-compliance/eng" in wrong.stderr and "passphrase" in wrong.stderr
    assert "ec2c up --env eng --stack eng" in wrong.stderr
    right = project.ec2c("up", "--env", "eng")
    assert right.returncode == 0, right.stderr
    assert project.ec2c("destroy", "--env", "eng").returncode == 0
    assert project.lock_files() == []


def test_two_first_ups_racing_get_a_lock_message_not_already_exists(project):
    first = project.popen("up", "--env", "eng", EC2C_TEST_PROGRAM_DELAY="4")
    second = project.popen("up", "--env", "eng", EC2C_TEST_PROGRAM_DELAY="4")
    results = [p.communicate(timeout=180) for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    errors = "".join(err for _, err in results)
    assert "already exists" not in errors
    assert codes[0] == 0
    if codes[1] != 0:
        assert "is locked by another update" in errors
    assert project.lock_files() == []


def test_a_first_up_while_another_run_holds_the_lock_of_the_stack_it_is_creating(project):
    """The window two racing first runs can hit: `stack init` of the second meets the first's lock
    before the stack exists. Held here by a live process's lock file, so it happens every time."""
    lock_dir = project.state / "locks" / "organization" / "ec2-compliance" / "eng"
    lock_dir.mkdir(parents=True)
    (lock_dir / "creating.json").write_text(
        json.dumps(
            {"pid": os.getpid(), "username": "ci", "hostname": os.uname().nodename, "timestamp": "2026-12-03T09:05:00Z"}
        )
    )
    blocked = project.ec2c("up", "--env", "eng")
    assert blocked.returncode == 1
    assert "stack organization/ec2-compliance/eng in file://" in blocked.stderr
    assert f"is locked by another update (pid {os.getpid()} on " in blocked.stderr and "alive" in blocked.stderr
    assert "ec2c cancel --env eng --stack eng" in blocked.stderr and "Traceback" not in blocked.stderr
    (lock_dir / "creating.json").unlink()
    assert project.ec2c("up", "--env", "eng").returncode == 0
    assert project.ec2c("destroy", "--env", "eng").returncode == 0


def test_bad_pytest_arguments_are_rejected_before_deploying(project):
    result = project.ec2c("test", "--env", "eng", "--tests", str(SUITES / "passing"), "--", "--no-such-flag")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in result.stderr
    assert "nothing was deployed" in result.stderr
    assert project.stacks() == []
    assert not (project.root / ".pulumi-state").exists() or project.lock_files() == []


def test_a_non_idempotent_program_fails_the_run(project):
    project.write_env("drifty", {"program": "tests.engine.programs:drifting_analyzer", "aws": {"region": "eu-west-1"}})
    result = project.ec2c("test", "--env", "drifty", "--tests", str(SUITES / "passing"), "--", *CHECK_FILES)
    assert result.returncode == 1, result.stderr
    assert "not idempotent" in result.stderr
    assert project.stacks() == []
    allowed = project.ec2c(
        "test", "--env", "drifty", "--skip-idempotency-check", "--tests", str(SUITES / "passing"), "--", *CHECK_FILES
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "idempotency" not in allowed.stderr.split("steps:")[-1]
    _nothing_left(project)


def test_sigterm_during_a_rollout_stops_new_work_and_leaves_no_lock(project):
    waves = [{"name": "all", "parallelism": 2, "targets": [{"env": "eng", "stack": f"eng-r{i}"} for i in range(4)]}]
    plan = project.root / "plan.yaml"
    plan.write_text(json.dumps({"fail_fast": False, "waves": waves}))
    run = _watch(project, "rollout", "--plan", str(plan), EC2C_TEST_PROGRAM_DELAY="4")
    _wait_until(project.update_holder, what="the first update's lock")
    run.proc.send_signal(signal.SIGTERM)
    code, stderr = run.finish()
    assert code == 143, stderr
    assert "not started: interrupted by SIGTERM" in " ".join(stderr.split())
    _clean_output(stderr)
    assert project.lock_files() == [] and project.pending_operations() == 0
    assert len(project.stacks()) <= 2


def test_a_clean_run_leaves_no_work_dir_and_no_pytest_warning(project):
    result = project.ec2c("test", "--env", "eng", "--tests", str(SUITES / "passing"), "--", *CHECK_FILES)
    assert result.returncode == 0, result.stderr
    assert "PytestAssertRewriteWarning" not in result.stdout + result.stderr
    work = project.root / ".ec2c" / "work" / "ec2-compliance"
    assert [p.name for p in work.iterdir() if p.name.startswith("eng-")] == []
    assert "steps: up " in result.stderr and "idempotency" in result.stderr and "destroy" in result.stderr
