"""Deploy -> test -> tear down, Terratest style, with the outputs fed into pytest.

The teardown is the point of this module: a stack that outlives its test run costs money and
collides with the next run, so destroy-and-remove runs in `finally`, after test failures,
deployment failures, Ctrl-C and SIGTERM alike, unless the user asked to keep it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import string
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..console import err
from .engine import Engine
from .environments import Environment
from ..errors import OperationFailed
from .lifecycle import OperationResult, remove_stack, run_operation
from .progress import ProgressView
from .testing import ENV_NAME_VAR, OUTPUTS_ENV_VAR
from .workspace import StackTarget
EPHEMERAL_ID_ALPHABET = string.ascii_lowercase + string.digits
DEFAULT_TESTS = Path(__file__).resolve().parents[2] / "tests" / "integration"


def ephemeral_stack_name(env_name: str) -> str:
    """`<env>-<6 chars>`: unique per run, short enough for AWS resource names."""
    return f"{env_name}-{''.join(secrets.choice(EPHEMERAL_ID_ALPHABET) for _ in range(6))}"


@dataclass
class TestRun:
    """What happened, for the summary line and for `--json`."""

    stack: str
    outputs_file: Path
    exit_code: int = 1
    deployed: bool = False
    destroyed: bool = False
    kept: bool = False
    steps: list[OperationResult] = field(default_factory=list)
    error: str | None = None


EXIT_INTERRUPTED = 130
PYTEST_INTERRUPTED = 2


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (CI cancelling a job) like Ctrl-C, which pytest and our `finally` handle."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


def run_pytest(tests: Path, junit_xml: Path | None, extra_args: Sequence[str]) -> int:
    """Run pytest in this process, so a failing test is this command's exit code."""
    import pytest

    args = [str(tests), "-p", "no:cacheprovider", "-p", "orchestrator.deploy.testing", *extra_args]
    if junit_xml is not None:
        args.append(f"--junitxml={junit_xml}")
    return int(pytest.main(args))


def run_ephemeral(
    env: Environment,
    root: Path,
    engine: Engine,
    program: Callable[[], None],
    view_factory: Callable[[], ProgressView],
    *,
    tests: Path = DEFAULT_TESTS,
    outputs_file: Path | None = None,
    junit_xml: Path | None = None,
    keep: bool = False,
    pytest_args: Sequence[str] = (),
    config_dir: Path | None = None,
    test_runner: Callable[[Path, Path | None, Sequence[str]], int] = run_pytest,
) -> TestRun:
    """Deploy a fresh stack, run the tests against its outputs, then always destroy and remove it.

    `env` is already the ephemeral environment (see `Environment.ephemeral`), so the program
    it built names its resources after the ephemeral stack.
    """
    name = env.stack_name
    target = StackTarget(env=env, stack_name=name, root=root)
    outputs_path = outputs_file or (target.work_dir / "outputs.json")
    run = TestRun(stack=name, outputs_file=outputs_path)
    err.print(f"[bold]ephemeral stack[/bold] {name} ({target.backend_url})")
    try:
        with sigterm_as_interrupt():
            deployed = run_operation(target, engine, "up", program, view_factory())
            run.steps.append(deployed)
            run.deployed = True
            outputs_path.parent.mkdir(parents=True, exist_ok=True)
            outputs_path.write_text(json.dumps(deployed.outputs, indent=2, sort_keys=True), encoding="utf-8")
            err.print(f"outputs written to {outputs_path}; running {tests}")
            handover = {OUTPUTS_ENV_VAR: str(outputs_path), ENV_NAME_VAR: env.name}
            if config_dir is not None:
                handover["EC2C_CONFIG_DIR"] = str(config_dir)
            with environment_variables(handover):
                run.exit_code = test_runner(tests, junit_xml, pytest_args)
            if run.exit_code == PYTEST_INTERRUPTED:
                raise KeyboardInterrupt()
    except OperationFailed as exc:
        run.error = exc.message
        err.print(f"[red]deployment failed:[/red] {exc.message}")
        run.exit_code = 1
    except KeyboardInterrupt:
        run.error = "interrupted"
        err.print("[yellow]interrupted: tearing down[/yellow]")
        run.exit_code = EXIT_INTERRUPTED
    finally:
        if keep:
            run.kept = True
            err.print(
                f"[yellow]--keep:[/yellow] stack {name} left in place; destroy it with "
                f"`ec2c destroy --env {env.name} --stack {name}`"
            )
        else:
            _teardown(target, engine, program, view_factory, run)
    return run


def _teardown(
    target: StackTarget,
    engine: Engine,
    program: Callable[[], None],
    view_factory: Callable[[], ProgressView],
    run: TestRun,
) -> None:
    """Destroy and remove; a failed teardown is loud and turns the run red, never silent."""
    err.print(f"tearing down {target.stack_name}")
    try:
        run.steps.append(run_operation(target, engine, "destroy", program, view_factory()))
        remove_stack(target, engine)
        run.destroyed = True
    except OperationFailed as exc:
        run.error = f"teardown failed: {exc.message}"
        err.print(f"[red]teardown failed, resources may remain in stack {target.stack_name}:[/red] {exc.message}")
        run.exit_code = run.exit_code or 1
