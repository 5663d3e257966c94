"""A typer group whose commands are imported when one is resolved, not when they are listed.

The group's help lists every command from its registered short help; running a command, or
asking for its own `--help`, imports its module and builds the real command (as click's
documentation describes for lazily loaded subcommands).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    # typer bundles its own click (since 0.26): the base command and context types are only
    # spelled there, and the `click` distribution, if installed at all, is not the one typer's
    # groups run on.
    from typer._click.core import Command, Context


@dataclass(frozen=True)
class LazyCommand:
    """A command of the group: its name, where it is defined, and the line the group's help shows."""

    name: str
    module: str
    attribute: str
    help: str

    def load(self) -> Command:
        """The real command: a typer sub-app becomes a group, a function a command of that name."""
        target = getattr(importlib.import_module(self.module), self.attribute)
        if isinstance(target, typer.Typer):
            command: Command = typer.main.get_group(target)
        else:
            single = typer.Typer()
            single.command(self.name)(target)
            command = typer.main.get_group(single).commands[self.name]
        command.name = self.name
        return command


class LazyGroup(TyperGroup):
    """`lazy_commands` are listed by name and help, and loaded by `resolve_command` only."""

    lazy_commands: ClassVar[tuple[LazyCommand, ...]] = ()

    def _lazy(self, name: str | None) -> LazyCommand | None:
        return next((entry for entry in self.lazy_commands if entry.name == name), None)

    def list_commands(self, ctx: Context) -> list[str]:
        eager = super().list_commands(ctx)
        return [*eager, *(entry.name for entry in self.lazy_commands if entry.name not in eager)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        """A loaded command, else a stand-in that carries only the help line (for the listing)."""
        command = super().get_command(ctx, cmd_name)
        entry = self._lazy(cmd_name)
        if command is not None or entry is None:
            return command
        return TyperCommand(entry.name, help=entry.help)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        """The command to run: loaded (once per group) when it is one of `lazy_commands`."""
        name, command, rest = super().resolve_command(ctx, args)
        entry = self._lazy(name)
        if entry is not None and name not in self.commands:
            command = self.commands[entry.name] = entry.load()
        return name, command, rest
