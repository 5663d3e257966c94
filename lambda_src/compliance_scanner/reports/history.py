"""What a region's previous failures are, in ten bytes each: the run-to-run history without
holding the previous report.

The previous run's findings of one region are streamed once into sorted arrays: the first 8
bytes of each `finding_id` (a SHA-256, so 64 bits keep collisions at about one in 10^9 for a
million findings), an index into the handful of distinct `first_seen` times, and whether it was an
unsuppressed FAIL. The current run looks each finding up as it is written (its `first_seen`, and
whether it is new), marks the previous failures it still has, and at the end of the region the
previous shard is streamed a second time to emit the failures it no longer has (resolved, where
the current run can vouch for it).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any

from ..identity import finding_id
from ..model import FAIL


def finding_digest(finding: Mapping[str, Any], account_id: str | None) -> int:
    """The first 64 bits of the finding's id (derived for a schema 1 finding, which has none)."""
    uid = finding.get("finding_id") or finding_id(
        finding.get("account_id") or account_id,
        finding["region"],
        finding.get("resource_id") or finding["instance_id"],
        finding["rule_id"],
    )
    return int(str(uid)[:16], 16)


def is_active(finding: Mapping[str, Any]) -> bool:
    """An unsuppressed FAIL: what new and resolved are about."""
    return finding.get("status", FAIL) == FAIL and not finding.get("suppressed")


class PreviousFailures:
    """A region's previous findings, looked up by digest; see the module docstring."""

    def __init__(self, findings: Iterable[Mapping[str, Any]], account_id: str | None, default_seen: str | None) -> None:
        rows: list[tuple[int, int, bool]] = []
        times: dict[str, int] = {}
        for finding in findings:
            seen = finding.get("first_seen") or default_seen or ""
            rows.append((finding_digest(finding, account_id), times.setdefault(seen, len(times)), is_active(finding)))
        rows.sort()
        self._keys = array("Q", (row[0] for row in rows))
        self._seen = array("I", (row[1] for row in rows))
        self._active = bytearray(row[2] for row in rows)
        self._still_failing = bytearray(len(rows))
        self._times = list(times)
        del rows

    def __len__(self) -> int:
        return len(self._keys)

    def _find(self, digest: int) -> int | None:
        position = bisect_left(self._keys, digest)
        return position if position < len(self._keys) and self._keys[position] == digest else None

    def first_seen(self, digest: int) -> str | None:
        position = self._find(digest)
        return None if position is None else self._times[self._seen[position]] or None

    def was_active(self, digest: int) -> bool:
        position = self._find(digest)
        return position is not None and bool(self._active[position])

    def still_failing(self, digest: int) -> None:
        """The current run has this failure too (suppressed or not): it is not resolved."""
        position = self._find(digest)
        if position is not None:
            self._still_failing[position] = 1

    def gone(self, digest: int) -> bool:
        """A previous unsuppressed failure that the current run did not find."""
        position = self._find(digest)
        return position is not None and bool(self._active[position]) and not self._still_failing[position]
