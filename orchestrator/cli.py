"""The `ec2c` command line: thin typer wrappers over the deploy and scan sub-packages."""

from __future__ import annotations

import typer

from .deploy import commands
from .errors import guard
from .scan import command as scan_command

app = typer.Typer(
    name="ec2c",
    help="Deploy, test and operate the EC2 compliance analyzer with Pulumi's Automation API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command("scan")(guard(scan_command.scan))
app.command("envs")(guard(commands.envs))
app.command("preview")(guard(commands.preview))
app.command("up")(guard(commands.up))
app.command("refresh")(guard(commands.refresh))
app.command("destroy")(guard(commands.destroy))
app.command("outputs")(guard(commands.outputs))
app.command("test")(guard(commands.test))
app.command("rollout")(guard(commands.rollout))
app.add_typer(commands.engine_app, name="engine")


def main() -> None:
    """Console-script entry point."""
    app()
