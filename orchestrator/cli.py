"""The `ec2c` command line: thin typer wrappers over the orchestrator's modules."""

from __future__ import annotations

import typer

from . import scan_command

app = typer.Typer(
    name="ec2c",
    help="Deploy, test and operate the EC2 compliance analyzer with Pulumi's Automation API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command("scan")(scan_command.scan)


def main() -> None:
    """Console-script entry point."""
    app()
