"""The command boundary: an expected failure becomes one line on stderr and its exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.markup import escape

from ..console import err
from ..errors import Ec2cError

P = ParamSpec("P")
R = TypeVar("R")


def guard(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a typer command: an Ec2cError becomes `error: <message>` on stderr and its exit code,
    so a user never sees a traceback for a failure the code expects."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except Ec2cError as exc:
            err.print(f"[red]{exc.label}:[/red] {escape(exc.message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper
