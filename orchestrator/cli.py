"""The `ec2c` command line: thin typer wrappers over the deploy and scan sub-packages."""

from __future__ import annotations

import click
import typer
from typer.core import TyperOption

from .deploy import commands
from .engine.supervisor import supervised
from .errors import guard
from .scan import catalogue
from .scan import command as scan_command
from .scan import report_command
from .scan import run_command
from .fleet import command as fleet_command

def _flag_type(self: TyperOption, ctx: click.Context) -> str | None:
    """Flags take no value, so the help's type column stays empty for them (typer prints `<bool>`)."""
    return None if self.is_bool_flag else _typed(self, ctx)


_typed = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


def _version(value: bool) -> None:
    """The package's version, and the pulumi SDK and CLI that deployments would use."""
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        sdk = version("pulumi")
    except PackageNotFoundError:
        sdk = "not installed"
    from .engine.pulumi_cli import find_engine

    engine = find_engine()
    cli = f"v{engine.version} ({engine.binary})" if engine else "not found (ec2c engine install)"
    print(f"ec2c {package_version()}\npulumi SDK {sdk}\npulumi CLI {cli}")
    raise typer.Exit()


app = typer.Typer(
    name="ec2c",
    help="Deploy, test and operate the EC2 compliance analyzer with Pulumi's Automation API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command("scan")(guard(scan_command.scan))
app.command("rules")(guard(catalogue.rules))
app.command("report")(guard(report_command.report))
app.command("run")(guard(supervised(run_command.run)))
app.command("status")(guard(fleet_command.status))
app.command("drift")(guard(supervised(fleet_command.drift)))
app.command("init")(guard(commands.init))
app.command("envs")(guard(commands.envs))
app.command("preview")(guard(supervised(commands.preview)))
app.command("up")(guard(supervised(commands.up)))
app.command("refresh")(guard(supervised(commands.refresh)))
app.command("destroy")(guard(supervised(commands.destroy)))
app.command("outputs")(guard(commands.outputs))
app.command("test")(guard(supervised(commands.test)))
app.command("rollout")(guard(supervised(commands.rollout, raise_when_idle=False)))
app.command("stacks")(guard(commands.stacks))
app.command("sweep")(guard(supervised(commands.sweep)))
app.command("cancel")(guard(commands.cancel))
app.add_typer(commands.engine_app, name="engine")


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ec2-compliance")
    except PackageNotFoundError:
        return "unknown (not installed)"


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
