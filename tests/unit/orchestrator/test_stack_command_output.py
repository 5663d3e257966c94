"""What the stack commands print, through typer's CliRunner, with the engine's services replaced:
an operation's report (text and --json, notes, outputs), `outputs` in each format, the protected
`destroy` prompt, `test`'s summary line, `stacks`, `sweep` and `cancel`.

The engine itself is never run (tests/engine does that): `require_engine`, the operation, the
listing and the lock release are stand-ins that record what the command asked of them.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ec2c.orchestrator.cli import app
from ec2c.orchestrator.cli import stack as stack_cli
from ec2c.orchestrator.deploy import programs
from ec2c.orchestrator.deploy.ci import ephemeral, inventory
from ec2c.orchestrator.deploy.ci.ephemeral import EphemeralRun, Step
from ec2c.orchestrator.deploy.ci.inventory import StackRow, SweepOutcome
from ec2c.orchestrator.deploy.rollouts import operations
from ec2c.orchestrator.deploy.stack import lifecycle as lifecycle_module
from ec2c.orchestrator.deploy.stack.lifecycle import OperationResult
from ec2c.orchestrator.deploy.stack.locks import LockInfo
from ec2c.orchestrator.engine import pulumi_cli

ENGINE = SimpleNamespace(binary=Path("/opt/pulumi/bin/pulumi"), root=Path("/opt/pulumi"), version="3.259.0")
MARKUP = "[red]x[/red]"
"""A user-given value that rich would take for markup if it were not escaped."""
DEAD_PID = 2**22 + 12345
"""Above the largest pid_max Linux allows: no process can have it."""


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("COLUMNS", "250")  # rich's console reads it at each print: long lines stay whole
    return CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config folder: `dev` (project and region of its own), `prod` (protected)."""
    folder = tmp_path / "config"
    folder.mkdir()
    dev = {"project": f"shop-{MARKUP}", "aws": {"region": "eu-west-1"}, "alert_emails": ["a@example.com"]}
    (folder / "dev.yaml").write_text(yaml.safe_dump(dev))
    (folder / "prod.yaml").write_text(yaml.safe_dump({"protected": True, "aws": {"region": "eu-central-1"}}))
    return folder


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    monkeypatch.setattr(pulumi_cli, "require_engine", lambda: ENGINE)
    return ENGINE


def _flat(text: str) -> str:
    return " ".join(text.split())


class Operations:
    """`run_stack_operation` and `resolve_program` stand-ins: what each call asked for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, result: OperationResult) -> None:
        self.result = result
        self.calls: list[dict[str, Any]] = []
        monkeypatch.setattr(operations, "run_stack_operation", self._run)
        monkeypatch.setattr(programs, "resolve_program", lambda env: f"program of {env.name}")

    def _run(self, operation, resolved, program, view, engine) -> OperationResult:
        self.calls.append(
            {
                "operation": operation,
                "env": resolved.environment.name,
                "stack": resolved.target.stack_name,
                "program": program,
                "quiet": view.quiet,
                "engine": engine,
            }
        )
        return self.result


def _result(**fields: Any) -> OperationResult:
    defaults: dict[str, Any] = {"stack": "dev", "operation": "up", "ok": True, "duration_s": 12.345}
    return OperationResult(**{**defaults, **fields})


def test_up_prints_the_target_the_changes_the_notes_and_the_outputs(runner, config, engine, monkeypatch):
    ops = Operations(
        monkeypatch,
        _result(
            changes={"update": 2, "create": 3},
            outputs={"bucket": "reports-1", f"key-{MARKUP}": f"value-{MARKUP}"},
            notes=[f"drift corrected on {MARKUP}"],
        ),
    )
    result = runner.invoke(app, ["up", "--env", "dev", "--config-dir", str(config)])
    assert result.exit_code == 0, result.output
    assert ops.calls == [
        {
            "operation": "up",
            "env": "dev",
            "stack": "dev",
            "program": "program of dev",
            "quiet": False,
            "engine": ENGINE,
        }
    ]
    out = _flat(result.output)
    backend = (config.parent / ".pulumi-state").as_uri()
    assert f"up shop-{MARKUP}/dev (eu-west-1, {backend})" in out
    assert "up succeeded in 12.3s: 3 create, 2 update" in out
    assert f"note: drift corrected on {MARKUP}" in out
    assert "stack outputs" in out and "reports-1" in out
    assert f"key-{MARKUP}" in out and f"value-{MARKUP}" in out


def test_an_operation_without_changes_or_outputs_says_no_changes(runner, config, engine, monkeypatch):
    ops = Operations(monkeypatch, _result(operation="refresh", stack="dev-extra"))
    result = runner.invoke(app, ["refresh", "--env", "dev", "--stack", "dev-extra", "--config-dir", str(config)])
    assert result.exit_code == 0, result.output
    assert [(c["operation"], c["stack"]) for c in ops.calls] == [("refresh", "dev-extra")]
    assert "refresh succeeded in 12.3s: no changes" in result.output
    assert "stack outputs" not in result.output and "note:" not in result.output


def test_json_prints_the_result_document_on_stdout_and_no_progress(runner, config, engine, monkeypatch):
    ops = Operations(monkeypatch, _result(operation="preview", changes={"same": 4}, outputs={"a": 1}, notes=["n"]))
    result = runner.invoke(app, ["preview", "--env", "dev", "--json", "--config-dir", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "stack": "dev",
        "operation": "preview",
        "ok": True,
        "duration_s": 12.35,
        "changes": {"same": 4},
        "outputs": {"a": 1},
        "error": None,
        "notes": ["n"],
    }
    assert ops.calls[0]["quiet"] is True
    assert "succeeded" not in result.output and "shop-" not in result.output


def test_a_protected_destroy_asks_and_a_no_cancels(runner, config, engine, monkeypatch):
    ops = Operations(monkeypatch, _result(operation="destroy", stack="prod"))
    monkeypatch.setattr(stack_cli, "_unattended", lambda: False)
    result = runner.invoke(
        app, ["destroy", "--env", "prod", "--stack", "prod-b", "--config-dir", str(config)], input="n\n"
    )
    assert result.exit_code == 1
    assert "Environment 'prod' is protected. Destroy every resource of stack 'prod-b'?" in result.output
    assert "destroy cancelled" in result.output
    assert ops.calls == []


def test_a_protected_destroy_confirmed_at_the_prompt_runs(runner, config, engine, monkeypatch):
    ops = Operations(monkeypatch, _result(operation="destroy", stack="prod", changes={"delete": 7}))
    monkeypatch.setattr(stack_cli, "_unattended", lambda: False)
    result = runner.invoke(app, ["destroy", "--env", "prod", "--config-dir", str(config)], input="y\n")
    assert result.exit_code == 0, result.output
    assert "Destroy every resource of stack 'prod'?" in result.output
    assert [(c["operation"], c["env"], c["stack"]) for c in ops.calls] == [("destroy", "prod", "prod")]
    assert "destroy succeeded in 12.3s: 7 delete" in result.output


class Outputs:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, values: dict[str, Any]) -> None:
        self.calls: list[tuple[str, Any, bool]] = []
        self.values = values
        monkeypatch.setattr(lifecycle_module, "read_outputs", self._read)

    def _read(self, target, engine, *, show_secrets: bool = False) -> dict[str, Any]:
        self.calls.append((target.stack_name, engine, show_secrets))
        return self.values


VALUES = {"bucket_name": "reports-1", "region": "eu-west-1", "note": "it's $HOME", "label": MARKUP}


def test_outputs_as_json(runner, config, engine, monkeypatch):
    read = Outputs(monkeypatch, VALUES)
    result = runner.invoke(app, ["outputs", "--env", "dev", "--json", "--show-secrets", "--config-dir", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == VALUES
    assert read.calls == [("dev", ENGINE, True)]


def test_outputs_as_env_file_lines_are_upper_cased_and_shell_quoted(runner, config, engine, monkeypatch):
    read = Outputs(monkeypatch, VALUES)
    result = runner.invoke(app, ["outputs", "--env", "dev", "--env-file", "--config-dir", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "BUCKET_NAME=reports-1",
        "REGION=eu-west-1",
        "NOTE='it'\"'\"'s $HOME'",
        f"LABEL='{MARKUP}'",
    ]
    assert read.calls == [("dev", ENGINE, False)]


def test_outputs_as_a_table_show_values_literally(runner, config, engine, monkeypatch):
    Outputs(monkeypatch, VALUES)
    result = runner.invoke(app, ["outputs", "--env", "dev", "--config-dir", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "stack outputs" in result.output
    assert "reports-1" in result.output and MARKUP in result.output


class Ephemeral:
    """`check_pytest_args` and `run_ephemeral` stand-ins."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, run: EphemeralRun) -> None:
        self.run = run
        self.checked: list[tuple[Path, tuple[str, ...]]] = []
        self.calls: list[dict[str, Any]] = []
        monkeypatch.setattr(ephemeral, "check_pytest_args", lambda tests, args: self.checked.append((tests, args)))
        monkeypatch.setattr(ephemeral, "ephemeral_stack_name", lambda name: f"{name}-abc123")
        monkeypatch.setattr(programs, "resolve_program", lambda env: f"program of {env.stack_name}")
        monkeypatch.setattr(ephemeral, "run_ephemeral", self._run)

    def _run(self, environment, root, engine, program, view_factory, **options) -> EphemeralRun:
        self.calls.append(
            {"stack": environment.stack_name, "root": root, "engine": engine, "program": program, **options}
        )
        return self.run


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    folder = tmp_path / "suite"
    folder.mkdir()
    return folder


def test_test_runs_the_ephemeral_stack_and_exits_with_the_tests_code(runner, config, engine, monkeypatch, suite):
    run = EphemeralRun("dev-abc123", Path("out.json"), exit_code=0, deployed=True, destroyed=True)
    run.steps = [Step("up", 61.25, "ok"), Step("pytest", 2.0, "failed")]
    fake = Ephemeral(monkeypatch, run)
    args = ["test", "--env", "dev", "--tests", str(suite), "--keep", "--skip-idempotency-check"]
    result = runner.invoke(app, [*args, "--config-dir", str(config), "--", "-k", "smoke"])
    assert result.exit_code == 0, result.output
    assert fake.checked == [(suite, ["-k", "smoke"])]
    (call,) = fake.calls
    assert call["stack"] == "dev-abc123" and call["root"] == config.parent and call["engine"] is ENGINE
    assert call["program"] == "program of dev-abc123"
    assert call["keep"] is True and call["idempotency_check"] is False
    assert call["pytest_args"] == ["-k", "smoke"] and call["tests"] == suite
    assert call["config_dir"] == config.resolve()
    assert "alert e-mails: 1 address(es) of dev are not subscribed by the ephemeral stack" in _flat(result.output)
    assert "stack dev-abc123: destroyed and removed; exit code 0; steps: up 61.2s, pytest 2.0s (failed)" in _flat(
        result.output
    )


def test_a_stack_left_behind_is_named_and_the_runs_code_is_the_exit_code(runner, config, engine, monkeypatch, suite):
    fake = Ephemeral(monkeypatch, EphemeralRun("prod-abc123", Path("out.json"), exit_code=3, deployed=True))
    result = runner.invoke(app, ["test", "--env", "prod", "--tests", str(suite), "--config-dir", str(config)])
    assert result.exit_code == 3
    assert fake.checked == [(suite, ())]
    assert fake.calls[0]["stack"] == "prod-abc123"
    assert fake.calls[0]["keep"] is False and fake.calls[0]["idempotency_check"] is True
    assert "stack prod-abc123: NOT destroyed; exit code 3; steps:" in _flat(result.output)
    assert "alert e-mails" not in result.output  # prod subscribes none, so the ephemeral stack skips none


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "-"),
        (0, "0s"),
        (59.4, "59s"),
        (60, "1.0m"),
        (90, "1.5m"),
        (3600, "1.0h"),
        (5400, "1.5h"),
        (86400, "1.0d"),
        (3 * 86400 + 43200, "3.5d"),
    ],
)
def test_ages_are_shown_in_the_largest_unit_they_reach(seconds, shown):
    assert stack_cli._age(seconds) == shown


class Listing:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, rows: list[StackRow]) -> None:
        self.calls: list[tuple[str, Path, Any]] = []
        self.rows = rows
        monkeypatch.setattr(inventory, "list_stacks", self._list)

    def _list(self, environment, root, engine) -> list[StackRow]:
        self.calls.append((environment.name, root, engine))
        return list(self.rows)


BORN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _rows() -> list[StackRow]:
    """Ages relative to the moment the rows are made: the command's own clock is a few
    milliseconds later, never minutes (as a module-level `now` would be in a long run)."""
    now = datetime.now(UTC)
    lock = LockInfo("k", 4242, "ci", "elsewhere", BORN)
    return [
        StackRow(
            "dev",
            "environment",
            created=now - timedelta(days=3),
            last_update=now - timedelta(hours=2),
            last_result="succeeded",
            resources=41,
        ),
        StackRow(
            "dev-a1b2c3",
            "ephemeral",
            created=now - timedelta(minutes=90),
            created_by=f"{MARKUP}@ci-host",
            resources=None,
            locks=[lock],
        ),
        StackRow("odd", "other"),
    ]


def test_stacks_as_json_lists_every_row(runner, config, engine, monkeypatch):
    listing = Listing(monkeypatch, _rows())
    result = runner.invoke(app, ["stacks", "--env", "dev", "--json", "--config-dir", str(config)])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [row["name"] for row in listed] == ["dev", "dev-a1b2c3", "odd"]
    assert listed[1]["created_by"] == f"{MARKUP}@ci-host"
    assert listed[1]["locks"] == [
        {"pid": 4242, "host": "elsewhere", "user": "ci", "since": "2026-01-02T03:04:05Z", "alive": None}
    ]
    assert listed[2]["created"] is None and listed[2]["resources"] is None
    assert listing.calls == [("dev", config.parent, ENGINE)]


def test_stacks_table_shows_ages_results_resources_and_lock_holders(runner, config, engine, monkeypatch):
    Listing(monkeypatch, _rows())
    result = runner.invoke(app, ["stacks", "--env", "dev", "--config-dir", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    lines = result.output.splitlines()
    assert f"stacks of dev (shop-{MARKUP})" in lines[0]
    dev = next(line for line in lines if "│ dev " in line)
    assert _flat(dev).split("│")[1:-1] == [
        " dev ",
        " environment ",
        " 3.0d ",
        " - ",
        " 2.0h ago ",
        " succeeded ",
        " 41 ",
        " - ",
    ]
    ephemeral_row = next(line for line in lines if "dev-a1b2c3" in line)
    assert "1.5h" in ephemeral_row and f"{MARKUP}@ci-host" in ephemeral_row
    assert "pid 4242 on elsewhere (ci) since 2026-01-02 03:04:05Z, on another host" in _flat(result.output)
    odd = next(line for line in lines if "│ odd " in line)
    assert [cell.strip() for cell in odd.split("│")[1:-1]] == ["odd", "other", "-", "-", "-", "-", "-", "-"]


class Sweep:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, outcomes: list[SweepOutcome]) -> None:
        self.outcomes = outcomes
        self.calls: list[dict[str, Any]] = []
        monkeypatch.setattr(inventory, "sweep", self._sweep)
        monkeypatch.setattr(programs, "resolve_program", lambda env: f"program of {env.name}")

    def _sweep(self, environment, root, engine, program, **options) -> list[SweepOutcome]:
        view = options.pop("view_factory")()
        self.calls.append(
            {
                "env": environment.name,
                "root": root,
                "engine": engine,
                "program": program,
                "quiet": view.quiet,
                **options,
            }
        )
        return list(self.outcomes)


def test_a_confirmed_sweep_runs_and_a_kept_stack_is_exit_1(runner, config, engine, monkeypatch):
    sweep = Sweep(
        monkeypatch,
        [SweepOutcome("dev-a1b2c3", 7300, "removed"), SweepOutcome("dev-b2c3d4", 7200, "kept", f"locked: {MARKUP}")],
    )
    monkeypatch.setattr(stack_cli, "_unattended", lambda: False)
    result = runner.invoke(
        app, ["sweep", "--env", "dev", "--older-than", "2h", "--config-dir", str(config)], input="y\n"
    )
    assert result.exit_code == 1
    assert "Destroy ephemeral stacks of 'dev' older than 2h?" in result.output
    assert sweep.calls == [
        {
            "env": "dev",
            "root": config.parent,
            "engine": ENGINE,
            "program": "program of dev",
            "quiet": False,
            "older_than_s": 7200.0,
            "dry_run": False,
            "only": None,
        }
    ]
    assert "sweep of dev" in result.output
    removed = next(line for line in result.output.splitlines() if "dev-a1b2c3" in line)
    assert [cell.strip() for cell in removed.split("│")[1:-1]] == ["dev-a1b2c3", "2.0h", "removed", ""]
    assert f"locked: {MARKUP}" in result.output


def test_a_sweep_refused_at_the_prompt_destroys_nothing(runner, config, engine, monkeypatch):
    sweep = Sweep(monkeypatch, [])
    monkeypatch.setattr(stack_cli, "_unattended", lambda: False)
    result = runner.invoke(
        app, ["sweep", "--env", "dev", "--stack", "dev-a1b2c3", "--config-dir", str(config)], input="n\n"
    )
    assert result.exit_code == 1
    assert "older than 0s?" in result.output and "sweep cancelled" in result.output
    assert sweep.calls == []


def test_a_sweep_with_nothing_to_do_says_so(runner, config, engine, monkeypatch):
    sweep = Sweep(monkeypatch, [])
    result = runner.invoke(app, ["sweep", "--env", "dev", "--older-than", "1d", "--yes", "--config-dir", str(config)])
    assert result.exit_code == 0, result.output
    assert "no ephemeral stacks of dev" in result.output
    assert sweep.calls[0]["older_than_s"] == 86400.0 and sweep.calls[0]["dry_run"] is False


def test_a_dry_run_sweep_as_json(runner, config, engine, monkeypatch):
    sweep = Sweep(monkeypatch, [SweepOutcome("dev-a1b2c3", 7300.4, "would remove", "breaking a stale lock")])
    args = ["sweep", "--env", "dev", "--stack", "dev-a1b2c3", "--dry-run", "--json", "--config-dir", str(config)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"stack": "dev-a1b2c3", "age_s": 7300, "action": "would remove", "detail": "breaking a stale lock"}
    ]
    assert sweep.calls[0]["only"] == "dev-a1b2c3" and sweep.calls[0]["dry_run"] is True
    assert sweep.calls[0]["older_than_s"] == 0.0 and sweep.calls[0]["quiet"] is True


class Cancel:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, released: list[LockInfo]) -> None:
        self.released = released
        self.calls: list[tuple[str, Any, bool]] = []
        monkeypatch.setattr(inventory, "cancel_lock", self._cancel)

    def _cancel(self, target, engine, *, force: bool) -> list[LockInfo]:
        self.calls.append((target.stack_name, engine, force))
        return list(self.released)


def test_cancel_of_an_unlocked_stack_says_it_is_not_locked(runner, config, engine, monkeypatch):
    cancel = Cancel(monkeypatch, [])
    result = runner.invoke(app, ["cancel", "--env", "dev", "--config-dir", str(config)])
    assert result.exit_code == 0, result.output
    assert f"stack organization/shop-{MARKUP}/dev is not locked" in _flat(result.output)
    assert cancel.calls == [("dev", ENGINE, False)]


def test_cancel_names_each_released_lock(runner, config, engine, monkeypatch):
    cancel = Cancel(monkeypatch, [LockInfo("k", DEAD_PID, "ci", socket.gethostname(), BORN)])
    args = ["cancel", "--env", "dev", "--stack", "dev-a1b2c3", "--force", "--config-dir", str(config)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert cancel.calls == [("dev-a1b2c3", ENGINE, True)]
    assert (
        f"released the lock of organization/shop-{MARKUP}/dev-a1b2c3 held by pid {DEAD_PID} on "
        f"{socket.gethostname()} (ci) since 2026-01-02 03:04:05Z, no longer running"
    ) in _flat(result.output)
    assert "not locked" not in result.output
