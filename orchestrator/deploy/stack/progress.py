"""Live progress from the engine's event stream.

The Automation API hands us structured engine events; we show one line per finished resource
step and a spinner naming the step in flight, so a long deployment never looks hung. Events
arrive on the engine's reader thread (several at once in a rollout), hence the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.automation import EngineEvent, OpType
from rich.console import Console
from rich.markup import escape

SYMBOLS = {
    OpType.CREATE: ("+", "green", "created"),
    OpType.UPDATE: ("~", "yellow", "updated"),
    OpType.DELETE: ("-", "red", "deleted"),
    OpType.REPLACE: ("+-", "magenta", "replaced"),
    OpType.CREATE_REPLACEMENT: ("++", "magenta", "created replacement"),
    OpType.DELETE_REPLACED: ("--", "magenta", "deleted replaced"),
    OpType.REFRESH: ("~", "cyan", "refreshed"),
    OpType.READ: (">", "cyan", "read"),
}


TRACEBACK = "Traceback (most recent call last):"


def condense(message: str) -> str:
    """An engine diagnostic without the program's Python traceback: what failed, and why."""
    message = message.strip()
    if TRACEBACK not in message:
        return message
    head, _, tail = message.partition(TRACEBACK)
    last = [line.strip() for line in tail.splitlines() if line.strip()][-1:]
    return " ".join(part for part in (head.strip().rstrip(":"), *last) if part)


def op_counts(changes: Mapping[Any, int]) -> dict[str, int]:
    """Engine change counts keyed by plain op names ("create", "same"...), ready for JSON."""
    return {str(getattr(op, "value", op)): count for op, count in changes.items()}


def resource_label(urn: str) -> str:
    """`type name` from a URN, short enough for one terminal line."""
    parts = urn.split("::")
    return escape(f"{parts[-2].split('$')[-1]} {parts[-1]}" if len(parts) >= 4 else urn)


@dataclass
class ProgressView:
    """Renders engine events for one stack; `prefix` tells stacks apart in a parallel rollout."""

    console: Console
    prefix: str = ""
    quiet: bool = False
    preview: bool = False
    changes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _started: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: EngineEvent) -> None:
        with self._lock:
            self._handle(event)

    def _say(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"[dim]{escape(self.prefix)}[/dim]{text}" if self.prefix else text)

    def _handle(self, event: EngineEvent) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            self._started[meta.urn] = time.monotonic()
            if self.preview and meta.op not in (OpType.SAME, OpType.READ):
                symbol, colour, _ = SYMBOLS.get(meta.op, ("?", "white", str(meta.op)))
                self._say(f"[{colour}]{symbol}[/{colour}] {resource_label(meta.urn)} [dim](will {meta.op.value})[/dim]")
        elif event.res_outputs_event is not None:
            meta = event.res_outputs_event.metadata
            if meta.op in SYMBOLS:
                symbol, colour, verb = SYMBOLS[meta.op]
                took = time.monotonic() - self._started.pop(meta.urn, time.monotonic())
                self._say(f"[{colour}]{symbol}[/{colour}] {resource_label(meta.urn)} [dim]{verb} in {took:.1f}s[/dim]")
        elif event.res_op_failed_event is not None:
            meta = event.res_op_failed_event.metadata
            self._say(f"[red]x[/red] {resource_label(meta.urn)} [red]failed to {meta.op.value}[/red]")
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            if diag.severity == "error":
                self.errors.append(condense(diag.message))
            elif diag.severity == "warning":
                self._say(f"[yellow]warning:[/yellow] {escape(diag.message.strip())}")
        elif event.summary_event is not None:
            self.changes = op_counts(event.summary_event.resource_changes)
