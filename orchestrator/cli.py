"""The `ec2c` command line: thin typer wrappers over the orchestrator's modules."""

from __future__ import annotations

import typer

from . import commands, scan_command

app = typer.Typer(
    name="ec2c",
    help="Deploy, test and operate the EC2 compliance analyzer with Pulumi's Automation API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command("scan")(scan_command.scan)
app.command("envs")(commands.envs)
app.command("preview")(commands.preview)
app.command("up")(commands.up)
app.command("refresh")(commands.refresh)
app.command("destroy")(commands.destroy)
app.command("outputs")(commands.outputs)
app.command("test")(commands.test)
app.command("rollout")(commands.rollout)
app.add_typer(commands.engine_app, name="engine")


def main() -> None:
    """Console-script entry point."""
    app()
