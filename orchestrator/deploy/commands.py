"""Stack commands of `ec2c`: envs, preview, up, refresh, destroy, outputs, test, rollout, engine."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..console import err, print_data, print_json
from .engine import find_engine, install_engine, require_engine
from .environments import ConfigDir, Environment, locate_config_dir
from .ephemeral import DEFAULT_TESTS, ephemeral_stack_name, run_ephemeral
from ..errors import BadInput, OperationFailed, guard
from .lifecycle import Operation, OperationResult, read_outputs, run_operation
from .programs import resolve_program
from .progress import ProgressView
from .rollout import PlannedTarget, execute, load_plan
from .workspace import StackTarget

ConfigDirOpt = Annotated[
    Optional[Path],
    typer.Option("--config-dir", envvar="EC2C_CONFIG_DIR", help="Folder of environment files (default: ./config)."),
]
EnvOpt = Annotated[str, typer.Option("--env", "-e", help="Environment name (a file in the config folder).")]
StackOpt = Annotated[Optional[str], typer.Option("--stack", help="Stack name (default: the environment's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON result on stdout; no live progress.")]


def _target(config: ConfigDir, env: Environment, stack: str | None) -> StackTarget:
    return StackTarget(env=env, stack_name=stack or env.stack_name, root=config.root)


def _stack_operation(operation: Operation, env_name: str, stack: str | None, config_dir: Path | None, as_json: bool) -> None:
    config = locate_config_dir(config_dir)
    env = config.load(env_name)
    target = _target(config, env, stack)
    engine = require_engine()
    view = ProgressView(err, quiet=as_json)
    if not as_json:
        err.print(f"[bold]{operation}[/bold] {env.project}/{target.stack_name} "
                  f"[dim]({env.aws.region}, {target.backend_url})[/dim]")
    result = run_operation(target, engine, operation, resolve_program(env), view)
    _report(result, as_json)


def _report(result: OperationResult, as_json: bool) -> None:
    if as_json:
        print_json(result.to_dict())
        return
    changes = ", ".join(f"{count} {op}" for op, count in sorted(result.changes.items())) or "no changes"
    err.print(f"[green]{result.operation} succeeded[/green] in {result.duration_s:.1f}s: {changes}")
    if result.outputs:
        _outputs_table(result.outputs)


def _outputs_table(outputs: dict) -> None:
    table = Table("output", "value", title="stack outputs", title_justify="left")
    for key, value in outputs.items():
        table.add_row(key, str(value))
    err.print(table)


def envs(config_dir: ConfigDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the environments and where each one deploys."""
    config = locate_config_dir(config_dir)
    environments = config.load_all()
    if as_json:
        print_json([e.model_dump(mode="json", by_alias=True) for e in environments])
        return
    table = Table(title="environments", title_justify="left")
    for column in ("env", "account", "region", "scans", "backend", "protected"):
        table.add_column(column, overflow="fold")
    for e in environments:
        extra = len(e.scan_regions) - 1
        table.add_row(
            e.name if e.stack_name == e.name else f"{e.name} ({e.stack_name})",
            (e.aws.account_id or "-") + (" (role)" if e.aws.role_arn else ""),
            e.aws.region,
            e.scan_regions[0] + (f" +{extra}" if extra else ""),
            "embedded" if e.is_local_backend else e.backend.split("?")[0],
            "[red]yes[/red]" if e.protected else "no",
        )
    err.print(table)


def preview(env: EnvOpt, stack: StackOpt = None, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False) -> None:
    """Show what `up` would change."""
    _stack_operation("preview", env, stack, config_dir, as_json)


def up(env: EnvOpt, stack: StackOpt = None, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False) -> None:
    """Create or update the environment's stack."""
    _stack_operation("up", env, stack, config_dir, as_json)


def refresh(env: EnvOpt, stack: StackOpt = None, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False) -> None:
    """Bring the stack's state in line with what really exists."""
    _stack_operation("refresh", env, stack, config_dir, as_json)


def destroy(
    env: EnvOpt,
    stack: StackOpt = None,
    config_dir: ConfigDirOpt = None,
    as_json: JsonOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm destroying a protected environment.")] = False,
) -> None:
    """Delete every resource of the stack (protected environments need confirmation)."""
    config = locate_config_dir(config_dir)
    environment = config.load(env)
    if environment.protected and not yes:
        if not sys.stdin.isatty():
            raise BadInput(f"{environment.source}: environment {env!r} is protected; pass --yes to destroy it unattended")
        name = stack or environment.stack_name
        if not typer.confirm(f"Environment {env!r} is protected. Destroy every resource of stack {name!r}?"):
            raise OperationFailed("destroy cancelled")
    _stack_operation("destroy", env, stack, config_dir, as_json)


def outputs(
    env: EnvOpt,
    stack: StackOpt = None,
    config_dir: ConfigDirOpt = None,
    as_json: JsonOpt = False,
    env_file: Annotated[bool, typer.Option("--env-file", help="Print KEY=value lines (upper-cased names).")] = False,
    show_secrets: Annotated[bool, typer.Option("--show-secrets", help="Reveal secret outputs.")] = False,
) -> None:
    """Print the stack's outputs."""
    if as_json and env_file:
        raise BadInput("--json and --env-file are mutually exclusive")
    config = locate_config_dir(config_dir)
    target = _target(config, config.load(env), stack)
    values = read_outputs(target, require_engine(), show_secrets=show_secrets)
    if as_json:
        print_json(values)
    elif env_file:
        print_data("\n".join(f"{k.upper()}={shlex.quote(str(v))}" for k, v in values.items()))
    else:
        _outputs_table(values)


def test(
    env: EnvOpt,
    config_dir: ConfigDirOpt = None,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the ephemeral stack in place.")] = False,
    junit_xml: Annotated[Optional[Path], typer.Option("--junit-xml", help="Write a JUnit XML report.")] = None,
    outputs_file: Annotated[Optional[Path], typer.Option("--outputs-file", help="Where to write the outputs JSON.")] = None,
    tests: Annotated[Path, typer.Option("--tests", help="Test folder to run against the stack.")] = DEFAULT_TESTS,
    pytest_args: Annotated[Optional[list[str]], typer.Argument(help="Extra pytest arguments (after --).")] = None,
) -> None:
    """Deploy an ephemeral `<env>-<id>` stack, run the integration tests on it, always tear it down."""
    config = locate_config_dir(config_dir)
    environment = config.load(env)
    if not tests.exists():
        raise BadInput(f"--tests: {tests} does not exist")
    environment = environment.ephemeral(ephemeral_stack_name(environment.name))
    program = resolve_program(environment)
    engine = require_engine()
    run = run_ephemeral(
        environment, config.root, engine, program, lambda: ProgressView(err),
        tests=tests, outputs_file=outputs_file, junit_xml=junit_xml, keep=keep, pytest_args=pytest_args or (),
        config_dir=config.path.resolve(),
    )
    state = "kept" if run.kept else ("destroyed and removed" if run.destroyed else "[red]NOT destroyed[/red]")
    err.print(f"stack {run.stack}: {state}; tests exit code {run.exit_code}")
    raise typer.Exit(run.exit_code)


def rollout(
    plan: Annotated[Path, typer.Option("--plan", help="Rollout plan (YAML): waves of targets.")],
    operation: Annotated[str, typer.Option("--operation", help="up, preview, refresh or destroy.")] = "up",
    config_dir: ConfigDirOpt = None,
    as_json: JsonOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm destroying protected environments.")] = False,
) -> None:
    """Roll out across environments, accounts and regions in ordered waves."""
    if operation not in ("up", "preview", "refresh", "destroy"):
        raise BadInput(f"--operation: expected up, preview, refresh or destroy, got {operation!r}")
    config = locate_config_dir(config_dir)
    parsed = load_plan(plan, config)
    protected = [t.stack_name for _, _, ts in parsed.waves for t in ts if t.env.protected]
    if operation == "destroy" and protected and not yes:
        raise BadInput(f"{plan}: destroying protected stacks ({', '.join(protected)}) needs --yes")
    engine = require_engine()
    programs = {id(t): resolve_program(t.env) for _, _, ts in parsed.waves for t in ts}

    def run_one(target: PlannedTarget, op: Operation) -> OperationResult:
        stack_target = StackTarget(env=target.env, stack_name=target.stack_name, root=config.root)
        view = ProgressView(err, prefix=f"{target.stack_name}: ", quiet=as_json)
        return run_operation(stack_target, engine, op, programs[id(target)], view)

    report = execute(parsed, operation, run_one)  # type: ignore[arg-type]
    if as_json:
        print_json({"ok": report.ok, "duration_s": round(report.duration_s, 2),
                    "targets": [o.to_dict() for o in report.outcomes]})
    else:
        table = Table("wave", "stack", "env", "account", "region", "status", "time", "error",
                      title=f"rollout {operation}", title_justify="left")
        colours = {"ok": "green", "failed": "red", "skipped": "yellow"}
        for o in report.outcomes:
            table.add_row(o.wave, o.stack, o.env, o.account, o.region,
                          f"[{colours[o.status]}]{o.status}[/{colours[o.status]}]",
                          f"{o.duration_s:.1f}s", o.error or "")
        err.print(table)
        err.print(f"total {report.duration_s:.1f}s")
    if not report.ok:
        raise typer.Exit(1)


engine_app = typer.Typer(help="The pulumi CLI the Automation API drives.", invoke_without_command=True)


@engine_app.callback()
@guard
def engine_info(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show which pulumi CLI is used and its version."""
    if ctx.invoked_subcommand is not None:
        return
    engine = find_engine()
    if engine is None:
        raise OperationFailed("no pulumi CLI found; run `ec2c engine install`")
    if as_json:
        print_json({"binary": str(engine.binary), "version": engine.version, "root": str(engine.root)})
    else:
        err.print(f"pulumi v{engine.version} at {engine.binary}")


@engine_app.command("install")
@guard
def engine_install(
    version: Annotated[str, typer.Option("--version", help="CLI version to install.")] = "3.259.0",
) -> None:
    """Install the pulumi CLI: PulumiCommand.install() when online, else a build from Go modules."""
    engine = install_engine(version)
    err.print(f"[green]ready:[/green] pulumi v{engine.version} at {engine.binary}")
