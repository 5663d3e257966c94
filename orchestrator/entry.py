"""The `ec2c` entry point: a Ctrl-C at any moment, imports included, ends quietly with 130.

Installed before anything heavy is imported. click turns a KeyboardInterrupt into "Aborted!"
and exit 1, so SIGINT raises an exception of our own instead; the engine commands install
their own handlers (see `engine.supervisor`) for the time they run.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

EXIT_SIGINT = 130


class StartupInterrupt(BaseException):
    """SIGINT outside the engine commands' own handling: leave without a traceback."""


def _interrupt(signum: int, frame: Any) -> None:
    raise StartupInterrupt()


def main() -> None:
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _interrupt)
    try:
        from .cli import main as run

        run()
    except (StartupInterrupt, KeyboardInterrupt):
        sys.stderr.write("\n")
        raise SystemExit(EXIT_SIGINT) from None
