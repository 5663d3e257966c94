"""Where a report is written: `--output` checked before anything runs, and a file replaced only
once its new content is complete."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ec2c.scanner.contract import LATEST_REPORT_KEY

from ..errors import BadInput, OperationFailed
from .formats import FILE_SUFFIXES, OutputFormat


@dataclass(frozen=True)
class ScanOutput:
    """What `ec2c scan --output` asked for: a folder that keeps the report with the bucket's
    layout (and the file of the format, if it is a file format), or one file."""

    folder: Path | None = None
    file: Path | None = None


def _is_folder(raw: str) -> bool:
    return raw.endswith(("/", os.sep)) or Path(raw).is_dir()


def _check_writable(raw: str, path: Path) -> None:
    """The nearest existing folder above `path` must be a writable folder, and `path`, if it
    exists, a writable file."""
    folder = path.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise BadInput(f"{raw}: --output: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"{raw}: --output: {existing} is not writable")
    if path.exists() and (path.is_dir() or not os.access(path, os.W_OK)):
        raise BadInput(f"{raw}: --output: {path} is not a writable file")


def resolve_output(raw: str, fmt: OutputFormat) -> Path:
    """Check `--output` before reading anything: a folder (a trailing slash, or one that exists)
    gets a report file named after the format; the folder must exist or be creatable, the file
    writable."""
    path = Path(raw)
    if _is_folder(raw):
        path = path / ("ec2-compliance-report." + FILE_SUFFIXES.get(fmt, "json"))
    _check_writable(raw, path)
    return path


def resolve_scan_output(raw: str | None, fmt: OutputFormat) -> ScanOutput:
    """`ec2c scan --output`, checked before the scan: a folder (a trailing slash, or one that
    exists) is a report store, plus the formatted file when `fmt` is a file format; anything else
    is one file (none given: neither)."""
    if raw is None:
        return ScanOutput()
    if not _is_folder(raw):
        return ScanOutput(file=resolve_output(raw, fmt))
    folder = Path(raw)
    _check_writable(raw, folder / LATEST_REPORT_KEY)
    return ScanOutput(folder=folder, file=resolve_output(raw, fmt) if fmt is not OutputFormat.table else None)


@contextlib.contextmanager
def open_output(path: Path) -> Iterator[TextIO]:
    """A text file written beside `path` and renamed over it once complete: a write that fails
    half-way (a full disk, a shard that cannot be read) leaves no half report, and the previous
    file as it was. Created as `open()` would (mode 0666 less the umask)."""
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise OperationFailed(f"{path}: cannot write the report: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OperationFailed(f"{path}: cannot write the report: {exc.strerror or exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
