"""What a local scan shows on the terminal while it runs (nothing when stderr is not one)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from ..console import err


@contextlib.contextmanager
def progress_reporter(enabled: bool) -> Iterator[Callable[[str, int], None] | None]:
    """A spinner fed by the scanner's `on_progress(stage, count)`; nothing when not a terminal."""
    if not enabled:
        yield None
        return
    seen: dict[str, int] = {}
    with err.status("Scanning ...", spinner="dots") as status:

        def on_progress(stage: str, count: int) -> None:
            seen[stage] = count
            total = sum(seen.values())
            status.update(f"Scanning {stage}: {count} instances ({total} so far)")

        yield on_progress


class TerminalFeedback:
    """`local.ScanFeedback` on stderr: the demo's note, a spinner while seeding and scanning."""

    def note(self, text: str) -> None:
        err.print(text, style="dim")

    def seeding(self) -> contextlib.AbstractContextManager[object]:
        if err.is_terminal:
            return err.status("Seeding the demo fleet into moto ...")
        return contextlib.nullcontext()

    def progress(self) -> contextlib.AbstractContextManager[Callable[[str, int], None] | None]:
        return progress_reporter(err.is_terminal)
