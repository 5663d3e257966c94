"""Where a local scan keeps its report: a folder laid out as the analyzer's bucket, whose last run
is the history, or a temporary folder; and a stored object that cannot be read, as one line."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ec2c.scanner.reports.reader import Report, load_latest
from ec2c.scanner.storage import DirStore, ReportReadError, Store

from ..errors import BadInput, OperationFailed


@contextlib.contextmanager
def unreadable_as_failure() -> Iterator[None]:
    """A stored object that cannot be read while the report streams (a shard gone, truncated,
    not gzip) ends the command with its one line: the object, then why."""
    try:
        yield
    except ReportReadError as exc:
        raise OperationFailed(str(exc)) from None


@contextlib.contextmanager
def report_store(folder: Path | None) -> Iterator[tuple[Store, Report | None]]:
    """The store the scan writes into and the previous report there: `--output DIR/` keeps the
    bucket's layout in DIR, and its last run is the history (first seen, new, resolved); without
    a folder, a temporary one, removed afterwards, and no history. A previous index that cannot
    be read stops the command (one line naming it) rather than being overwritten."""
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="ec2c-scan-") as temporary:
            yield DirStore(temporary), None
        return
    store = DirStore(folder)
    try:
        previous = load_latest(store)
    except ReportReadError as exc:
        raise OperationFailed(
            f"{exc} (the previous report of this folder; use another folder, or move it away)"
        ) from None
    yield store, previous


def check_same_account(folder: Path | None, previous: Report | None, account_id: str | None) -> None:
    """A folder's history is one account's: diffing another account against it would call every
    one of its failures resolved."""
    if folder is None or previous is None or account_id is None:
        return
    before = previous.index["account_id"]
    if before is not None and before != account_id:
        raise BadInput(
            f"{folder}: --output: holds the reports of account {before}, this scan is of account "
            f"{account_id}; use one folder per account"
        )
