"""Stack commands of `ec2c`: init, envs, preview, up, refresh, destroy, outputs, test, stacks,
sweep, cancel (the services: `deploy.rollouts.operations` and the deploy modules it names)."""

from __future__ import annotations

import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..console import err, print_data, print_json
from ..engine.supervisor import SUPERVISOR, supervised
from ..errors import BadInput, OperationFailed
from .guard import guard
from .options import ConfigDirOpt, EnvOpt, JsonOpt, StackOpt, stack_option

if TYPE_CHECKING:
    from ..deploy.stack.lifecycle import Operation

DEFAULT_TESTS = Path(__file__).resolve().parents[1] / "integration_suite"
"""The shipped integration suite, which `ec2c test` runs unless told otherwise."""


def _stack_operation(
    operation: Operation, env_name: str, stack: str | None, config_dir: Path | None, as_json: bool
) -> None:
    from ..deploy.programs import resolve_program
    from ..deploy.rollouts.operations import environment_stack, run_stack_operation
    from ..deploy.stack.progress import ProgressView
    from ..engine.pulumi_cli import require_engine

    resolved = environment_stack(env_name, stack, config_dir)
    env, target = resolved.environment, resolved.target
    engine = require_engine()
    view = ProgressView(err, quiet=as_json)
    if not as_json:
        err.print(
            f"[bold]{operation}[/bold] {escape(env.project)}/{escape(target.stack_name)} "
            f"[dim]({escape(env.aws.region)}, {escape(target.backend_url)})[/dim]"
        )
    result = run_stack_operation(operation, resolved, resolve_program(env), view, engine)
    _report(result, as_json)


def _report(result: Any, as_json: bool) -> None:
    if as_json:
        print_json(result.to_dict())
        return
    changes = ", ".join(f"{count} {op}" for op, count in sorted(result.changes.items())) or "no changes"
    err.print(f"[green]{result.operation} succeeded[/green] in {result.duration_s:.1f}s: {changes}")
    for note in result.notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    if result.outputs:
        _outputs_table(result.outputs)


def _outputs_table(outputs: dict[str, Any]) -> None:
    table = Table("output", "value", title="stack outputs", title_justify="left")
    for key, value in outputs.items():
        table.add_row(escape(key), escape(str(value)))
    err.print(table)


@guard
def init(
    folder: Annotated[Path, typer.Argument(help="Where to write the config folder.")] = Path("config"),
    force: Annotated[bool, typer.Option("--force", help="Replace files that already exist.")] = False,
) -> None:
    """Write a starter config folder: defaults.yaml (the policy, commented), example.yaml, rollouts/example.yaml."""
    from ..deploy.inputs.init import write_starter_config

    written = write_starter_config(folder, force=force)
    for path in written:
        err.print(f"wrote {path}", markup=False, highlight=False)
    hint = "" if folder == Path("config") else f" --config-dir {folder}"
    err.print(f"next: ec2c envs{hint}; ec2c preview --env example{hint}", markup=False, highlight=False)


@guard
def envs(config_dir: ConfigDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the environments and where each one deploys (embedded state: next to the config folder)."""
    from ..deploy.inputs.environments import locate_config_dir
    from ..deploy.stack.workspace import resolve_backend

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
            escape(e.name if e.stack_name == e.name else f"{e.name} ({e.stack_name})"),
            (e.aws.account_id or "-") + (" (role)" if e.aws.role_arn else ""),
            escape(e.aws.region),
            escape(e.scan_regions[0] + (f" +{extra}" if extra else "")),
            escape(resolve_backend(e.backend, config.root, create=False).split("?")[0]),
            "[red]yes[/red]" if e.protected else "no",
        )
    err.print(table)


@guard
@supervised
def preview(env: EnvOpt, stack: StackOpt = None, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False) -> None:
    """Show what `up` would change."""
    _stack_operation("preview", env, stack, config_dir, as_json)


@guard
@supervised
def up(env: EnvOpt, stack: StackOpt = None, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False) -> None:
    """Create or update the environment's stack."""
    _stack_operation("up", env, stack, config_dir, as_json)


@guard
@supervised
def refresh(env: EnvOpt, stack: StackOpt = None, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False) -> None:
    """Bring the stack's state in line with what really exists."""
    _stack_operation("refresh", env, stack, config_dir, as_json)


def _unattended() -> bool:
    return sys.stdin is None or sys.stdin.closed or not sys.stdin.isatty()


@guard
@supervised
def destroy(
    env: EnvOpt,
    stack: StackOpt = None,
    config_dir: ConfigDirOpt = None,
    as_json: JsonOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm destroying a protected environment.")] = False,
) -> None:
    """Delete every resource of the stack (protected environments need confirmation)."""
    from ..deploy.inputs.environments import locate_config_dir

    environment = locate_config_dir(config_dir).load(env)
    if environment.protected and not yes:
        if _unattended():
            raise BadInput(
                f"{environment.source}: environment {env!r} is protected; pass --yes to destroy it unattended"
            )
        name = stack or environment.stack_name
        if not typer.confirm(f"Environment {env!r} is protected. Destroy every resource of stack {name!r}?"):
            raise OperationFailed("destroy cancelled")
    _stack_operation("destroy", env, stack, config_dir, as_json)


@guard
def outputs(
    env: EnvOpt,
    stack: StackOpt = None,
    config_dir: ConfigDirOpt = None,
    as_json: JsonOpt = False,
    env_file: Annotated[bool, typer.Option("--env-file", help="Print KEY=value lines (upper-cased names).")] = False,
    show_secrets: Annotated[bool, typer.Option("--show-secrets", help="Reveal secret outputs.")] = False,
) -> None:
    """Print the stack's outputs."""
    from ..deploy.rollouts.operations import environment_stack
    from ..deploy.stack.lifecycle import read_outputs
    from ..engine.pulumi_cli import require_engine

    if as_json and env_file:
        raise BadInput("--json and --env-file are mutually exclusive")
    resolved = environment_stack(env, stack, config_dir)
    values = read_outputs(resolved.target, require_engine(), show_secrets=show_secrets)
    if as_json:
        print_json(values)
    elif env_file:
        print_data("\n".join(f"{k.upper()}={shlex.quote(str(v))}" for k, v in values.items()))
    else:
        _outputs_table(values)


@guard
@supervised
def test(
    env: EnvOpt,
    config_dir: ConfigDirOpt = None,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the ephemeral stack in place.")] = False,
    junit_xml: Annotated[Path | None, typer.Option("--junit-xml", help="Write a JUnit XML report.")] = None,
    outputs_file: Annotated[
        Path | None, typer.Option("--outputs-file", help="Where to write the outputs JSON.")
    ] = None,
    tests: Annotated[Path, typer.Option("--tests", help="Test folder to run against the stack.")] = DEFAULT_TESTS,
    skip_idempotency_check: Annotated[
        bool,
        typer.Option("--skip-idempotency-check", help="Do not fail when a preview right after `up` plans changes."),
    ] = False,
    pytest_args: Annotated[list[str] | None, typer.Argument(help="Extra pytest arguments (after --).")] = None,
) -> None:
    """Deploy an ephemeral `<env>-<id>` stack, check idempotency, run the tests on it, always tear it down."""
    from ..deploy.ci.ephemeral import check_pytest_args, ephemeral_stack_name, run_ephemeral
    from ..deploy.inputs.environments import locate_config_dir
    from ..deploy.programs import resolve_program
    from ..deploy.stack.progress import ProgressView
    from ..engine.pulumi_cli import require_engine

    config = locate_config_dir(config_dir)
    environment = config.load(env)
    if not tests.exists():
        raise BadInput(f"--tests: {tests} does not exist")
    check_pytest_args(tests, pytest_args or ())
    ephemeral = environment.ephemeral(ephemeral_stack_name(environment.name))
    skipped = [e for e in environment.alert_emails if e not in ephemeral.alert_emails]
    if skipped:
        err.print(
            f"alert e-mails: {len(skipped)} address(es) of {environment.name} are not subscribed by the "
            "ephemeral stack (set ephemeral.alert_emails in the environment file to subscribe some)",
            markup=False,
            highlight=False,
        )
    environment = ephemeral
    program = resolve_program(environment)
    engine = require_engine()
    run = run_ephemeral(
        environment,
        config.root,
        engine,
        program,
        lambda: ProgressView(err),
        tests=tests,
        outputs_file=outputs_file,
        junit_xml=junit_xml,
        keep=keep,
        pytest_args=pytest_args or (),
        config_dir=config.path.resolve(),
        idempotency_check=not skip_idempotency_check,
    )
    code = SUPERVISOR.exit_code if SUPERVISOR.interrupted else run.exit_code
    state = f"[red]{run.stack_state}[/red]" if run.left_behind else run.stack_state
    err.print(f"stack {escape(run.stack)}: {state}; exit code {code}; steps: {run.summary()}")
    raise typer.Exit(code)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


@guard
def stacks(env: EnvOpt, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False) -> None:
    """List every stack of the environment's backend: kind, age, last update, resources, lock holder."""
    from ..deploy.ci.inventory import list_stacks
    from ..deploy.inputs.environments import locate_config_dir
    from ..engine.pulumi_cli import require_engine

    config = locate_config_dir(config_dir)
    environment = config.load(env)
    rows = list_stacks(environment, config.root, require_engine())
    if as_json:
        print_json([row.to_dict() for row in rows])
        return
    now = datetime.now(UTC)
    table = Table(title=f"stacks of {escape(environment.name)} ({escape(environment.project)})", title_justify="left")
    for column in ("stack", "kind", "age", "created by", "updated", "result", "res", "lock"):
        table.add_column(column, overflow="fold")
    for row in rows:
        updated = _age((now - row.last_update).total_seconds()) + " ago" if row.last_update else "-"
        lock = "; ".join(lock.describe() for lock in row.locks) or "-"
        table.add_row(
            *(
                escape(str(v))
                for v in (
                    row.name,
                    row.kind,
                    _age(row.age_s(now)),
                    row.created_by or "-",
                    updated,
                    row.last_result or "-",
                    "-" if row.resources is None else row.resources,
                    lock,
                )
            )
        )
    err.print(table)


@guard
@supervised
def sweep(
    env: EnvOpt,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Age past which ephemeral stacks go: 30m, 2h, 1d, 0s.")
    ] = None,
    stack: Annotated[str | None, stack_option("Sweep only this ephemeral stack (any age).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be removed; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config_dir: ConfigDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Destroy and remove the environment's ephemeral stacks left by crashed or killed runs."""
    from ..deploy.ci.inventory import parse_duration
    from ..deploy.ci.inventory import sweep as sweep_stacks
    from ..deploy.inputs.environments import locate_config_dir
    from ..deploy.programs import resolve_program
    from ..deploy.stack.progress import ProgressView
    from ..engine.pulumi_cli import require_engine

    if older_than is None and stack is None:
        raise BadInput("--older-than is required (for example --older-than 2h), unless --stack names one stack")
    threshold = parse_duration(older_than or "0s")
    config = locate_config_dir(config_dir)
    environment = config.load(env)
    if not (dry_run or yes):
        if _unattended():
            raise BadInput("sweep destroys stacks: pass --yes to run it unattended, or --dry-run to look first")
        if not typer.confirm(f"Destroy ephemeral stacks of {env!r} older than {older_than or '0s'}?"):
            raise OperationFailed("sweep cancelled")
    engine = require_engine()
    program = resolve_program(environment)
    outcomes = sweep_stacks(
        environment,
        config.root,
        engine,
        program,
        older_than_s=threshold,
        dry_run=dry_run,
        only=stack,
        view_factory=lambda: ProgressView(err, quiet=as_json),
    )
    if as_json:
        print_json([o.to_dict() for o in outcomes])
    else:
        table = Table("stack", "age", "action", "detail", title=f"sweep of {environment.name}", title_justify="left")
        for o in outcomes:
            table.add_row(escape(o.name), _age(o.age_s), o.action, escape(o.detail))
        err.print(table if outcomes else f"no ephemeral stacks of {escape(env)}")
    if any(o.remains for o in outcomes):
        raise typer.Exit(1)


@guard
def cancel(
    env: EnvOpt,
    stack: StackOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Also break a lock whose holder still runs here.")] = False,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Release a stack's lock left by a crashed or killed update."""
    from ..deploy.ci.inventory import cancel_lock
    from ..deploy.rollouts.operations import environment_stack
    from ..deploy.stack.workspace import qualified_name
    from ..engine.pulumi_cli import require_engine

    target = environment_stack(env, stack, config_dir).target
    released = cancel_lock(target, require_engine(), force=force)
    if not released:
        err.print(f"stack {escape(qualified_name(target))} is not locked")
    for lock in released:
        err.print(f"released the lock of {escape(qualified_name(target))} held by {escape(lock.describe())}")
