"""`ec2c rollout --plan P`: every target of a plan, wave after wave; only what changed, by default.

A CI matrix spreads one plan over several machines: `--wave`, `--shard K/N` and `--account`
choose one job's part, and `--ci github` prints the workflow that runs every part in order
(the services: `deploy.rollouts.operations.roll_out`, `deploy.rollouts.rollout.select`, `fleet.ci_github`).
"""

from __future__ import annotations

import functools
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..console import err, print_data, print_json
from ..engine.supervisor import SUPERVISOR, supervised
from ..errors import BadInput
from .guard import guard
from .options import ConfigDirOpt, JsonOpt

if TYPE_CHECKING:
    from ..deploy.inputs.environments import ConfigDir
    from ..deploy.rollouts.rollout import Plan, RolloutReport
    from ..deploy.stack.lifecycle import Operation

ROLLOUT_OPERATIONS: tuple[Operation, ...] = ("up", "preview", "refresh", "destroy")
CI_SYSTEMS = ("github",)
COLOURS = {"ok": "green", "unchanged": "dim", "failed": "red", "skipped": "yellow"}


def _rerun_command(plan: Path, config_dir: Path | None, selection: list[str]) -> str:
    """The command that resumes this run: the same plan and selection (never --force)."""
    parts = ["ec2c", "rollout", "--plan", str(plan), *selection]
    if config_dir is not None:
        parts += ["--config-dir", str(config_dir)]
    return shlex.join(parts)


def _table(report: RolloutReport, operation: str) -> Table:
    columns = ("wave", "stack", "env", "account", "region", "status", "time", "reason / error")
    table = Table(*columns, title=f"rollout {operation}", title_justify="left")
    for o in report.outcomes:
        colour = COLOURS[o.status]
        table.add_row(
            escape(o.wave),
            escape(o.stack),
            escape(o.env),
            escape(o.account),
            escape(o.region),
            f"[{colour}]{o.status}[/{colour}]",
            f"{o.duration_s:.1f}s",
            escape(o.error or o.reason or ""),
        )
    return table


@guard
@functools.partial(supervised, raise_when_idle=False)  # the main thread only waits for the waves
def rollout(
    plan: Annotated[Path, typer.Option("--plan", help="Rollout plan (YAML): waves of targets.")],
    operation: Annotated[str, typer.Option("--operation", help="up, preview, refresh or destroy.")] = "up",
    config_dir: ConfigDirOpt = None,
    as_json: JsonOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm destroying protected environments.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Deploy every target, even those whose inputs did not change.")
    ] = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Refresh each deployed target first: drift counts as a change.")
    ] = False,
    wave: Annotated[str | None, typer.Option("--wave", help="Only this wave of the plan.")] = None,
    shard: Annotated[
        str | None,
        typer.Option("--shard", metavar="K/N", help="Only shard K of N of each wave's targets (a CI matrix job)."),
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only the targets in this AWS account.")] = None,
    ci: Annotated[
        str | None,
        typer.Option("--ci", metavar="SYSTEM", help="Print a CI workflow that runs the plan (github); deploy nothing."),
    ] = None,
    shards: Annotated[int, typer.Option("--shards", min=1, max=256, help="With --ci: jobs per wave.")] = 4,
    ci_role: Annotated[
        str,
        typer.Option("--ci-role", help="With --ci: the role assumed (OIDC) in each target account."),
    ] = "ec2-compliance-deployer",
) -> None:
    """Roll out across environments, accounts and regions in ordered waves; only what changed."""
    from ..deploy.inputs.environments import locate_config_dir
    from ..deploy.rollouts.rollout import load_plan, parse_shard, select

    checked = next((known for known in ROLLOUT_OPERATIONS if known == operation), None)
    if checked is None:
        raise BadInput(f"--operation: expected up, preview, refresh or destroy, got {operation!r}")
    if (force or refresh) and checked != "up":
        raise BadInput(f"--force and --refresh apply to --operation up, not {checked}")
    if ci is not None and ci not in CI_SYSTEMS:
        raise BadInput(f"--ci: expected {', '.join(CI_SYSTEMS)}, got {ci!r}")
    parsed_shard = parse_shard(shard) if shard is not None else None
    config = locate_config_dir(config_dir)
    full = load_plan(plan, config)
    if ci is not None:
        from ..fleet.ci_github import github_workflow

        print_data(
            github_workflow(
                full,
                plan_path=str(plan),
                shards=shards,
                role_name=ci_role,
                config_dir=str(config_dir) if config_dir is not None else None,
            )
        )
        return
    parsed = select(full, shard=parsed_shard, wave=wave, account=account)
    _deploy(parsed, checked, config, plan, config_dir, as_json, yes, force, refresh, _selection(wave, shard, account))


def _selection(wave: str | None, shard: str | None, account: str | None) -> list[str]:
    chosen = {"--wave": wave, "--shard": shard, "--account": account}
    return [part for option, value in chosen.items() if value is not None for part in (option, value)]


def _deploy(
    parsed: Plan,
    operation: Operation,
    config: ConfigDir,
    plan: Path,
    config_dir: Path | None,
    as_json: bool,
    yes: bool,
    force: bool,
    refresh: bool,
    selection: list[str],
) -> None:
    from ..deploy.programs import resolve_program
    from ..deploy.rollouts.changes import UNREADABLE
    from ..deploy.rollouts.operations import roll_out
    from ..deploy.rollouts.rollout import STATUS_FAILED, STATUS_SKIPPED
    from ..deploy.stack.progress import ProgressView
    from ..engine.pulumi_cli import require_engine

    targets = [t for _, _, ts in parsed.waves for t in ts]
    if not targets:
        err.print("no targets in this selection of the plan: nothing to do", markup=False, highlight=False)
        return
    protected = [t.stack_name for t in targets if t.env.protected]
    if operation == "destroy" and protected and not yes:
        raise BadInput(f"{plan}: destroying protected stacks ({', '.join(protected)}) needs --yes")
    engine = require_engine()
    report = roll_out(
        parsed,
        operation,
        config,
        engine,
        lambda target: ProgressView(err, prefix=f"{target.stack_name}: ", quiet=as_json),
        resolve_program,
        force=force,
        refresh=refresh,
    )
    summary = report.summary(operation)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "duration_s": round(report.duration_s, 2),
                "counts": report.counts(),
                "targets": [o.to_dict() for o in report.outcomes],
            }
        )
    else:
        err.print(_table(report, operation))
        err.print(f"{summary}; total {report.duration_s:.1f}s", markup=False, highlight=False)
        for o in report.outcomes:
            for note in o.result.notes if o.result else ():
                err.print(f"note: {o.stack}: {note}", markup=False, highlight=False)
    unreadable = [o.stack for o in report.outcomes if o.reason and o.reason.startswith(UNREADABLE)]
    if unreadable:
        err.print(
            f"fingerprint unreadable, deployed as changed: {', '.join(unreadable)}", markup=False, highlight=False
        )
    left = [o for o in report.outcomes if o.status in (STATUS_FAILED, STATUS_SKIPPED)]
    if operation == "up" and left:
        err.print(
            f"rerun `{_rerun_command(plan, config_dir, selection)}` to deploy only the {len(left)} target(s) "
            "that failed or did not start: the others are unchanged now and are skipped",
            markup=False,
            highlight=False,
        )
    if SUPERVISOR.interrupted:
        skipped = sum(1 for o in report.outcomes if o.status == STATUS_SKIPPED)
        raise SUPERVISOR.error(f"rollout {SUPERVISOR.reason()}; {skipped} target(s) not started")
    if not report.ok:
        raise typer.Exit(1)
