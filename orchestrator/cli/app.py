"""The `ec2c` root: its options, and every command by module, attribute and short help.

A short help here is the first paragraph of the command's docstring (a test keeps them equal):
the root's help shows it without importing the command.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import typer
from typer.core import TyperOption

from .lazy import LazyCommand, LazyGroup

if TYPE_CHECKING:
    from typer._click.core import Context  # typer's bundled click: the context its options get


def _flag_type(self: TyperOption, ctx: Context) -> str | None:
    """Flags take no value, so the help's type column stays empty for them (typer prints `<bool>`)."""
    return None if self.is_bool_flag else _typed(self, ctx)


_typed = TyperOption.display_type_rich
# mypy refuses any assignment to a method; this patch of typer's is deliberate.
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]

_PACKAGE = "ec2c.orchestrator.cli"

COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand(
        "scan", f"{_PACKAGE}.scan", "scan", "Scan EC2 instances against the compliance policy and report the findings."
    ),
    LazyCommand(
        "rules",
        f"{_PACKAGE}.rules",
        "rules",
        "List the rule catalogue: severity, default, mappings (Security Hub, CIS, AWS Config, Prowler).",
    ),
    LazyCommand(
        "report",
        f"{_PACKAGE}.report",
        "report",
        "Show the latest report of a deployed environment, or of every target of a plan merged into\n"
        "one estate report (read from the stacks' buckets; no scan runs).",
    ),
    LazyCommand(
        "run",
        f"{_PACKAGE}.run",
        "run",
        "Start a scan of a deployed environment on its Step Functions state machine (one worker per\n"
        "region); with --wait, follow it and exit with its outcome.",
    ),
    LazyCommand(
        "doctor",
        f"{_PACKAGE}.doctor",
        "doctor",
        "Check that CloudTrail gives the change-event path the API calls of every scan region\n"
        "(reads only: creates and changes nothing).",
    ),
    LazyCommand(
        "status",
        f"{_PACKAGE}.fleet",
        "status",
        "Show every target of a plan: stack, last update, scanner code, last scan.",
    ),
    LazyCommand(
        "drift",
        f"{_PACKAGE}.fleet",
        "drift",
        "Show which resources of each target differ from its state (a refresh preview: writes nothing).",
    ),
    LazyCommand(
        "init",
        f"{_PACKAGE}.stack",
        "init",
        "Write a starter config folder: defaults.yaml (the policy, commented), example.yaml, rollouts/example.yaml.",
    ),
    LazyCommand(
        "envs",
        f"{_PACKAGE}.stack",
        "envs",
        "List the environments and where each one deploys (embedded state: next to the config folder).",
    ),
    LazyCommand("preview", f"{_PACKAGE}.stack", "preview", "Show what `up` would change."),
    LazyCommand("up", f"{_PACKAGE}.stack", "up", "Create or update the environment's stack."),
    LazyCommand("refresh", f"{_PACKAGE}.stack", "refresh", "Bring the stack's state in line with what really exists."),
    LazyCommand(
        "destroy",
        f"{_PACKAGE}.stack",
        "destroy",
        "Delete every resource of the stack (protected environments need confirmation).",
    ),
    LazyCommand("outputs", f"{_PACKAGE}.stack", "outputs", "Print the stack's outputs."),
    LazyCommand(
        "test",
        f"{_PACKAGE}.stack",
        "test",
        "Deploy an ephemeral `<env>-<id>` stack, check idempotency, run the tests on it, always tear it down.",
    ),
    LazyCommand(
        "rollout",
        f"{_PACKAGE}.rollout",
        "rollout",
        "Roll out across environments, accounts and regions in ordered waves; only what changed.",
    ),
    LazyCommand(
        "stacks",
        f"{_PACKAGE}.stack",
        "stacks",
        "List every stack of the environment's backend: kind, age, last update, resources, lock holder.",
    ),
    LazyCommand(
        "sweep",
        f"{_PACKAGE}.stack",
        "sweep",
        "Destroy and remove the environment's ephemeral stacks left by crashed or killed runs.",
    ),
    LazyCommand("cancel", f"{_PACKAGE}.stack", "cancel", "Release a stack's lock left by a crashed or killed update."),
    LazyCommand("engine", f"{_PACKAGE}.engine", "app", "The pulumi CLI the Automation API drives."),
)
"""Every command of `ec2c`, in the order its help lists them."""


class Ec2cGroup(LazyGroup):
    """The root group: `COMMANDS`, loaded one at a time."""

    lazy_commands = COMMANDS


def package_version() -> str:
    """The installed distribution's version (a checkout run without installing has none)."""
    try:
        return version("ec2-compliance")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _version(value: bool) -> None:
    """The package's version, and the pulumi SDK and CLI that deployments would use."""
    if not value:
        return
    from ..engine.pulumi_cli import find_engine  # pulumi: only `--version` needs it at the root

    try:
        sdk = version("pulumi")
    except PackageNotFoundError:
        sdk = "not installed"
    engine = find_engine()
    cli = f"v{engine.version} ({engine.binary})" if engine else "not found (ec2c engine install)"
    print(f"ec2c {package_version()}\npulumi SDK {sdk}\npulumi CLI {cli}")
    raise typer.Exit()


app = typer.Typer(
    name="ec2c",
    cls=Ec2cGroup,
    help="Deploy, test and operate the EC2 compliance analyzer with Pulumi's Automation API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Deploy, test and operate the EC2 compliance analyzer with Pulumi's Automation API."""


def main() -> None:
    """Run the command line (`ec2c.orchestrator.entry.main` wraps it for interrupts)."""
    app()
