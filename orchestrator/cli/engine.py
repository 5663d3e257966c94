"""`ec2c engine [install]`: the pulumi CLI the Automation API drives."""

from __future__ import annotations

from typing import Annotated

import typer

from ..console import err, print_json
from ..engine.version import PINNED_VERSION
from ..errors import OperationFailed
from .guard import guard
from .options import JsonOpt

app = typer.Typer(help="The pulumi CLI the Automation API drives.", invoke_without_command=True)


@app.callback()
@guard
def engine_info(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show which pulumi CLI is used and its version."""
    from ..engine.pulumi_cli import find_engine

    if ctx.invoked_subcommand is not None:
        return
    engine = find_engine()
    if engine is None:
        raise OperationFailed("no pulumi CLI found; run `ec2c engine install`")
    if as_json:
        print_json({"binary": str(engine.binary), "version": engine.version, "root": str(engine.root)})
    else:
        err.print(f"pulumi v{engine.version} at {engine.binary}")


@app.command("install")
@guard
def engine_install(
    version: Annotated[str, typer.Option("--version", help="CLI version to install.")] = PINNED_VERSION,
) -> None:
    """Install the pulumi CLI: PulumiCommand.install() when online, else a build from Go modules."""
    from ..engine.pulumi_cli import install_engine

    engine = install_engine(version)
    err.print(f"[green]ready:[/green] pulumi v{engine.version} at {engine.binary}")
