"""The `ec2c` command line: typer only, one module per command group, the shared options in `options`.

`app` registers every command by (module, attribute, short help) and imports a command's module
only when that command is resolved (`lazy.LazyGroup`), so `ec2c --help` imports no command. A
command's module imports typer, the options and the output layer; the body of each command
imports the service it runs, the one place imports are deferred: boto3, pulumi and moto take
longer to import than `ec2c scan --help` may take. Below the command line every module imports
at its top.
"""

from .app import app, main

__all__ = ["app", "main"]
