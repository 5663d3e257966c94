"""The Lambda time budget: stop collecting while there is still time to write the report.

A scan that hits the Lambda timeout loses everything; one that stops early still stores a partial
report, so the collector asks the budget before every API call.
"""

from __future__ import annotations

from collections.abc import Callable

MIN_RESERVE_MS = 15_000
RESERVE_FRACTION = 0.10


class BudgetExhausted(Exception):
    """Raised by the collector when the budget runs out; the message says where it stopped."""


class TimeBudget:
    """Reserves max(15 s, 10 % of the time left at the start) for evaluation and publishing."""

    def __init__(self, time_left_ms: Callable[[], int] | None) -> None:
        self._time_left_ms = time_left_ms
        initial = time_left_ms() if time_left_ms is not None else 0
        self.reserve_ms = max(MIN_RESERVE_MS, int(initial * RESERVE_FRACTION))

    def exhausted(self) -> bool:
        """True once the time left drops below the reserve; never without a time source."""
        return self._time_left_ms is not None and self._time_left_ms() < self.reserve_ms

    def check(self, operation: str, region: str) -> None:
        """Raise BudgetExhausted instead of starting `operation` when time is short."""
        if self.exhausted():
            raise BudgetExhausted(f"time budget exhausted before {operation} in {region}")
