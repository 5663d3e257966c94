"""Deploy -> idempotency preview -> test -> tear down, Terratest/ProgramTest style.

The teardown is the point of this module: a stack that outlives its test run costs money and
collides with the next run, so destroy-and-remove runs after test failures, deployment
failures, a non-idempotent program and signals alike (see `supervisor`: signals during the
teardown are counted, not obeyed, until the third), unless the user asked to keep it.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import shutil
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.markup import escape

from ...console import err
from ...engine.pulumi_cli import Engine
from ...engine.supervisor import SUPERVISOR, Abandoned, Interrupted
from ...errors import BadInput, OperationFailed
from ..inputs.environments import Environment
from ..stack.lifecycle import destroy_and_remove, run_operation
from ..stack.locks import delete_stale_locks, stack_lock_dir, store_for
from ..stack.progress import ProgressView
from ..stack.workspace import StackMissing, StackTarget
from . import testing
from .testing import ENV_NAME_VAR, OUTPUTS_ENV_VAR

EPHEMERAL_ID_ALPHABET = string.ascii_lowercase + string.digits
PYTEST_NO_TESTS = 5
TAG_CREATED_AT = "ec2c:created-at"
TAG_CREATED_BY = "ec2c:created-by"
TAG_CREATOR_PID = "ec2c:creator-pid"
TAG_KIND = "ec2c:kind"


def ephemeral_stack_name(env_name: str) -> str:
    """`<env>-<6 chars>`: unique per run, short enough for AWS resource names."""
    return f"{env_name}-{''.join(secrets.choice(EPHEMERAL_ID_ALPHABET) for _ in range(6))}"


def creation_tags() -> dict[str, str]:
    """Recorded on the stack when it is made, so `ec2c stacks`/`sweep` age it by birth, not last update."""
    return {
        TAG_KIND: "ephemeral",
        TAG_CREATED_AT: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        TAG_CREATED_BY: f"{getpass.getuser()}@{socket.gethostname()}",
        TAG_CREATOR_PID: str(os.getpid()),
    }


@dataclass
class Step:
    name: str
    duration_s: float
    status: str


@dataclass
class EphemeralRun:
    """What happened, for the summary line."""

    stack: str
    outputs_file: Path
    exit_code: int = 1
    deployed: bool = False
    destroyed: bool = False
    absent: bool = False
    """The teardown found no stack: never created (a signal during `stack init`), or already gone."""
    kept: bool = False
    steps: list[Step] = field(default_factory=list)
    error: str | None = None

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step and record how it ended, however it ends."""
        started = time.monotonic()
        status = "failed"
        try:
            yield
            status = "ok"
        except (KeyboardInterrupt, Interrupted):
            status = "interrupted"
            raise
        finally:
            self.steps.append(Step(name, time.monotonic() - started, status))

    @property
    def left_behind(self) -> bool:
        """A stack that may still exist although the run meant to remove it."""
        return not (self.kept or self.destroyed or self.absent)

    @property
    def stack_state(self) -> str:
        """What became of the stack, for the summary line."""
        if self.kept:
            return "kept"
        if self.destroyed:
            return "destroyed and removed"
        if self.absent:
            return "never created" if not self.deployed else "already gone"
        return "NOT destroyed"

    def summary(self) -> str:
        return ", ".join(
            f"{s.name} {s.duration_s:.1f}s" + ("" if s.status == "ok" else f" ({s.status})") for s in self.steps
        )


@contextmanager
def environment_variables(values: dict[str, str]) -> Iterator[None]:
    """Set variables for the in-process test run and restore the caller's afterwards."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pytest_args(tests: Path, junit_xml: Path | None, extra_args: Sequence[str]) -> list[str]:
    args = [str(tests), "-p", "no:cacheprovider", *extra_args]
    if junit_xml is not None:
        args.append(f"--junitxml={junit_xml}")
    return args


def check_pytest_args(tests: Path, extra_args: Sequence[str]) -> None:
    """Collect (without running) in a child process, so a typo fails before anything is deployed."""
    env = {k: v for k, v in os.environ.items() if k != OUTPUTS_ENV_VAR}
    args = [
        sys.executable,
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "ec2c.orchestrator.deploy.ci.testing",
        *pytest_args(tests, None, extra_args),
    ]
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode == 0:
        return
    lines = [line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() and not line.startswith("ERROR: usage:")]
    reason = "no tests collected" if result.returncode == PYTEST_NO_TESTS else (errors or lines or ["pytest failed"])[0]
    raise BadInput(f"pytest arguments / --tests {tests}: {reason} (nothing was deployed)")


def run_pytest(tests: Path, junit_xml: Path | None, extra_args: Sequence[str]) -> int:
    """Run pytest in this process, so a failing test is this command's exit code.

    The fixture plugin is passed as an object: `-p` on an already imported module makes pytest
    warn that it cannot rewrite its asserts.
    """
    return int(pytest.main(pytest_args(tests, junit_xml, extra_args), plugins=[testing]))


def planned_changes(changes: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in changes.items() if op != "same" and n}


def run_ephemeral(
    env: Environment,
    root: Path,
    engine: Engine,
    program: Callable[[], None],
    view_factory: Callable[[], ProgressView],
    *,
    tests: Path,
    outputs_file: Path | None = None,
    junit_xml: Path | None = None,
    keep: bool = False,
    pytest_args: Sequence[str] = (),
    config_dir: Path | None = None,
    idempotency_check: bool = True,
    test_runner: Callable[[Path, Path | None, Sequence[str]], int] = run_pytest,
) -> EphemeralRun:
    """Deploy a fresh stack, check it is idempotent, run the tests on its outputs, always tear it down.

    `env` is already the ephemeral environment (see `Environment.ephemeral`), so the program
    it built names its resources after the ephemeral stack.
    """
    name = env.stack_name
    target = StackTarget(env=env, stack_name=name, root=root)
    outputs_path = outputs_file or (target.work_dir / "outputs.json")
    run = EphemeralRun(stack=name, outputs_file=outputs_path)
    SUPERVISOR.recovery = f"ec2c sweep --env {env.name} --stack {name} --yes"
    err.print(f"[bold]ephemeral stack[/bold] {escape(name)} ({escape(target.backend_url)})")
    abandoned = False
    try:
        with run.step("up"):
            deployed = run_operation(target, engine, "up", program, view_factory(), tags=creation_tags())
        run.deployed = True
        outputs_path.parent.mkdir(parents=True, exist_ok=True)
        outputs_path.write_text(json.dumps(deployed.outputs, indent=2, sort_keys=True), encoding="utf-8")
        if idempotency_check:
            with run.step("idempotency"):
                again = run_operation(target, engine, "preview", program, view_factory())
                changes = planned_changes(again.changes)
                if changes:
                    raise OperationFailed(
                        "the program is not idempotent: a preview right after `up` plans "
                        + ", ".join(f"{n} {op}" for op, n in sorted(changes.items()))
                        + " (use --skip-idempotency-check to allow it)"
                    )
        err.print(f"outputs written to {escape(str(outputs_path))}; running {escape(str(tests))}")
        handover = {OUTPUTS_ENV_VAR: str(outputs_path), ENV_NAME_VAR: env.name}
        if config_dir is not None:
            handover["EC2C_CONFIG_DIR"] = str(config_dir)
        with run.step("tests"), environment_variables(handover):
            run.exit_code = test_runner(tests, junit_xml, pytest_args)
            if SUPERVISOR.interrupted:
                raise KeyboardInterrupt()
    except Abandoned:
        abandoned = True
        raise
    except Interrupted as exc:
        run.error, run.exit_code = exc.message, exc.exit_code
        err.print(f"[yellow]interrupted: tearing down[/yellow] ({escape(exc.message)})")
    except KeyboardInterrupt:
        run.error, run.exit_code = "interrupted", SUPERVISOR.exit_code
        err.print("[yellow]interrupted: tearing down[/yellow]")
    except OperationFailed as exc:
        run.error, run.exit_code = exc.message, 1
        err.print(f"[red]{'deployment failed' if not run.deployed else 'failed'}:[/red] {escape(exc.message)}")
    finally:
        if not abandoned:
            _finish(target, engine, program, view_factory, run, keep=keep)
    return run


def _finish(
    target: StackTarget,
    engine: Engine,
    program: Callable[[], None],
    view_factory: Callable[[], ProgressView],
    run: EphemeralRun,
    *,
    keep: bool,
) -> None:
    name, env_name = target.stack_name, target.env.name
    if keep:
        run.kept = True
        err.print(
            f"[yellow]--keep:[/yellow] stack {escape(name)} left in place; destroy it with "
            f"`ec2c destroy --env {escape(env_name)} --stack {escape(name)}`"
        )
        return
    with SUPERVISOR.teardown(), run.step("destroy"):
        _teardown(target, engine, program, view_factory, run)


def _teardown(
    target: StackTarget,
    engine: Engine,
    program: Callable[[], None],
    view_factory: Callable[[], ProgressView],
    run: EphemeralRun,
) -> None:
    """Destroy and remove; a failed teardown is loud and turns the run red, never silent.

    A stack that does not exist is what a teardown wants: a signal during `pulumi stack init`
    leaves none. Its work dir goes, and a lock file the killed `stack init` left behind (it locks
    the stack while creating it) is deleted when its holder is dead; a lock whose holder lives (or
    runs on another host) is a failed teardown like any other.
    """
    err.print(f"tearing down {escape(target.stack_name)}")
    try:
        destroy_and_remove(target, engine, program, view_factory())
        run.destroyed = True
    except StackMissing:
        _settle_missing(target, run)
    except OperationFailed as exc:
        run.error = f"teardown failed: {exc.message}"
        err.print(
            f"[red]teardown failed, resources may remain in stack {escape(target.stack_name)}:[/red] "
            f"{escape(exc.message)}; recover with `{SUPERVISOR.recovery}`"
        )
        run.exit_code = run.exit_code or 1


def _settle_missing(target: StackTarget, run: EphemeralRun) -> None:
    """The stack does not exist: remove what this run made for it, and say there is nothing more."""
    shutil.rmtree(target.work_dir, ignore_errors=True)
    remaining = delete_stale_locks(store_for(target.backend_url), target.env.project, target.stack_name)
    if remaining:
        run.error = "teardown failed: the stack does not exist but its lock remains"
        err.print(
            f"[red]teardown failed: stack {escape(target.stack_name)} does not exist but its lock remains[/red] "
            f"({escape('; '.join(lock.describe() for lock in remaining))}); once its holder is gone, delete "
            f"{escape(stack_lock_dir(target.env.project, target.stack_name))} in {escape(target.backend_url)}"
        )
        run.exit_code = run.exit_code or 1
        return
    run.absent = True
    done = "was never created" if not run.deployed else "no longer exists"
    err.print(f"stack {escape(target.stack_name)} {done}: nothing to tear down")
