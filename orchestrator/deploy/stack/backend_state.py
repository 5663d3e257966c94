"""A stack's state read straight from the DIY backend's files: no engine process.

`ec2c status` used to start three `pulumi` processes per target (select, history, outputs),
most of a second each; the few objects behind them read in milliseconds, and let a rollout tell
an unchanged target by its recorded fingerprint without the engine. What is read, and from where
(relative to the backend's root, `file:///abs/path` or `s3://bucket[/prefix]`):

* the checkpoint, `.pulumi/stacks/<project>/<stack>.json` (`.json.gz` once the stack was written
  with `PULUMI_DIY_BACKEND_GZIP=true`, `.json.zst` with `..._ZSTD`): one listing of that name
  finds the variants and, as the engine does, the most recently written one counts (a tie goes
  to the later name); the compression is told from the content (gzip's magic bytes), as the
  engine does, not from the name. Switching compression, the engine moves the old variant to
  `<stack>.json[.gz].bak`, the previous checkpoint's name too; `.bak`, `.json.<nanos>`
  (`PULUMI_RETAIN_CHECKPOINTS`) and gocloud's `<key>.attrs` sidecars (file:// only) are never
  read. No checkpoint, no stack (a removed stack may leave its `.bak`). The outputs are those
  of the root `pulumi:pulumi:Stack` resource in `checkpoint.latest.resources` (absent until the
  first update that exported any).
* the tags, `.pulumi/stacks/<project>/<stack>.pulumi-tags`: `{"version":1,"tags":{...}}`, plain
  JSON even with gzip on, absent until a tag is set; exactly what `pulumi stack tag ls` lists.
* the history, `.pulumi/history/<project>/<stack>/<stack>-<unix nanos>.history.json[.gz]`, one
  per update, refresh or destroy, written when it ended (beside a `.checkpoint.json[.gz]` copy,
  never read here; entries of both compressions may sit side by side): one listing, newest first
  by the nanoseconds in the name, and only as many entries read as it takes to find the newest
  one and the newest `update`.

Checked with pulumi v3.259.0: its `pkg/backend/diy` sources (`state.go` stackPath, getHistory,
addToHistory, saveCheckpoint; `stack_tags.go`; `store.go`) and the files that engine wrote on
file:// and s3:// backends, plain and gzip; tests/engine/test_backend_state.py compares this
reader with the engine's own answers, and passed on v3.259.0 and v3.274.1 (the pin): run it
against any other engine before moving the pin. The project-scoped layout only (`.pulumi/meta.yaml` version 1, what the engine
creates); a legacy backend (version 0, stacks without a project folder) is not read. An s3://
backend is read with the caller's AWS credentials, as its locks and the reports are.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from ...errors import OperationFailed
from .lifecycle import SECRET_MASK
from .locks import STACKS_ROOT, Store, store_for

HISTORY_ROOT = ".pulumi/history"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
"""The property-value signature the engine stores a secret under (`sig.Key`, `sig.Secret`)."""
CHECKPOINT_SUFFIXES = (".json", ".json.gz", ".json.zst")
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}
Result = TypeVar("Result")


class BackendReadError(OperationFailed):
    """An object of the backend could not be read or understood; the message names it, then why."""


@dataclass(frozen=True)
class HistoryEntry:
    """One entry of the stack's history, as the engine recorded it when the operation ended."""

    kind: str
    """"update", "refresh", "destroy", ... (the engine's `UpdateKind`)."""
    result: str
    """"succeeded", "failed" or "in-progress"."""
    end_time: datetime | None
    """UTC (aware); None while in progress."""


@dataclass(frozen=True)
class StackState:
    """What the backend holds for one stack; everything empty when it does not exist."""

    exists: bool
    tags: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    """The root stack resource's outputs; secret values replaced by `lifecycle.SECRET_MASK`."""
    last: HistoryEntry | None = None
    """The newest history entry of any kind."""
    last_up: HistoryEntry | None = None
    """The newest entry of kind "update"."""


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def _store(backend_url: str) -> Store:
    """One store per backend for the process: a status reads dozens of targets from the same
    bucket, and boto3 creates clients neither quickly nor safely from several threads at once."""
    with _stores_lock:
        if backend_url not in _stores:
            store = store_for(backend_url)
            if store is None:
                raise BackendReadError(f"{backend_url}: only file:// and s3:// backends can be read without the engine")
            _stores[backend_url] = store
        return _stores[backend_url]


class _Reader:
    """The backend's objects for one stack, every failure phrased as `<object>: <why>`."""

    def __init__(self, backend_url: str) -> None:
        self.url = backend_url
        self.store = _store(backend_url)

    def where(self, key: str) -> str:
        parsed = urlparse(self.url)
        if parsed.scheme == "file":
            return str(Path(parsed.path) / key)
        return f"{parsed.scheme}://{parsed.netloc}{parsed.path.rstrip('/')}/{key}"

    def fail(self, key: str, why: str) -> BackendReadError:
        return BackendReadError(f"{self.where(key)}: {why}")

    def _why(self, exc: Exception) -> str | None:
        """Why an access failed; None when the object is simply not there."""
        if isinstance(exc, FileNotFoundError):
            return None
        if isinstance(exc, PermissionError):
            return "access denied"
        if isinstance(exc, OSError):
            return f"unreadable ({exc.strerror or exc})"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                return None
            if code in _DENIED_CODES:
                return "access denied"
            if code == "NoSuchBucket":
                return "no such bucket"
            return f"unreadable ({code or exc})"
        return f"unreadable ({' '.join(str(exc).split())})"

    def call(self, key: str, action: Callable[[], Result]) -> Result | None:
        """`action()` with the store's failures as BackendReadError; None when `key` is missing."""
        try:
            return action()
        except (OSError, ClientError, BotoCoreError) as exc:
            why = self._why(exc)
            if why is None:
                return None
            raise self.fail(key, why) from None

    def read(self, key: str) -> bytes | None:
        return self.call(key, lambda: self.store.read(key))

    def document(self, key: str, data: bytes) -> Any:
        """JSON, gzip- or plain, told from its first bytes as the engine does."""
        if data.startswith(ZSTD_MAGIC):
            raise self.fail(key, "zstd-compressed (PULUMI_DIY_BACKEND_ZSTD); only plain and gzip JSON can be read")
        if data.startswith(GZIP_MAGIC):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as exc:
                raise self.fail(key, f"corrupt gzip data ({exc})") from None
        try:
            return json.loads(data)
        except UnicodeDecodeError:
            raise self.fail(key, "corrupt JSON (not UTF-8 text)") from None
        except json.JSONDecodeError as exc:
            raise self.fail(key, f"corrupt JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None


def _checkpoint_key(reader: _Reader, project: str, stack: str) -> str | None:
    """The stack's checkpoint as the engine picks it: the newest of its compression variants."""
    base = f"{STACKS_ROOT}/{project}/{stack}"
    found = reader.call(base + ".json", lambda: reader.store.variants(base + ".json")) or {}
    candidates = {key: written for key, written in found.items() if key in {base + s for s in CHECKPOINT_SUFFIXES}}
    if not candidates:
        return None
    return max(candidates, key=lambda key: (candidates[key], key))  # a tie goes to the later name, as in the engine


def _masked(value: Any) -> Any:
    """The value with every secret (at any depth) replaced by the mask, as `stack output` shows it."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG[0]) == SECRET_SIG[1]:
            return SECRET_MASK
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def _outputs(reader: _Reader, key: str, document: Any) -> dict[str, Any]:
    checkpoint = document.get("checkpoint") if isinstance(document, dict) else None
    latest = (checkpoint.get("latest") or {}) if isinstance(checkpoint, dict) else None  # none before an update
    resources = (latest.get("resources") or []) if isinstance(latest, dict) else None
    if not isinstance(resources, list):
        raise reader.fail(key, "not a Pulumi checkpoint (expected checkpoint.latest.resources)")
    for resource in resources:
        if not isinstance(resource, dict) or resource.get("type") != ROOT_STACK_TYPE:
            continue
        if not resource.get("parent") and not resource.get("delete"):
            return {name: _masked(value) for name, value in sorted((resource.get("outputs") or {}).items())}
    return {}


def _tags(reader: _Reader, project: str, stack: str) -> dict[str, str]:
    key = f"{STACKS_ROOT}/{project}/{stack}.pulumi-tags"
    data = reader.read(key)
    if data is None:
        return {}
    document = reader.document(key, data)
    if (
        not isinstance(document, dict)
        or document.get("version") != 1
        or not isinstance(document.get("tags") or {}, dict)
    ):
        raise reader.fail(key, 'not a stack tags file (expected {"version": 1, "tags": {...}})')
    return {str(name): str(value) for name, value in (document.get("tags") or {}).items()}


def _history_keys(reader: _Reader, project: str, stack: str) -> list[str]:
    """The stack's history entries, newest first by the time in their names."""
    folder = f"{HISTORY_ROOT}/{project}/{stack}"
    name = re.compile(rf"{re.escape(stack)}-(\d+)\.history\.json(\.gz|\.zst)?")
    listed = reader.call(folder, lambda: reader.store.list(folder)) or []
    stamped = []
    for key in listed:
        match = name.fullmatch(key.rsplit("/", 1)[-1])
        if match:
            stamped.append((int(match.group(1)), key))
    return [key for _, key in sorted(stamped, reverse=True)]


def _entry(reader: _Reader, key: str, document: Any) -> HistoryEntry:
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        raise reader.fail(key, "not an update record (no `kind`)")
    result = str(document.get("result") or "")
    ended = document.get("endTime")
    end_time = (
        datetime.fromtimestamp(ended, UTC) if isinstance(ended, int) and ended > 0 and result != "in-progress" else None
    )
    return HistoryEntry(kind=document["kind"], result=result, end_time=end_time)


def _history(reader: _Reader, project: str, stack: str) -> Iterator[HistoryEntry]:
    for key in _history_keys(reader, project, stack):
        data = reader.read(key)
        if data is not None:  # removed between the listing and the read: the stack is being removed
            yield _entry(reader, key, reader.document(key, data))


def read_stack_state(backend_url: str, project: str, stack: str) -> StackState:
    """The stack's existence, tags, outputs (secrets masked) and newest history entries.

    A stack without a checkpoint does not exist (`exists=False`, nothing else read); anything
    unreadable raises BackendReadError naming the object.
    """
    reader = _Reader(backend_url)
    key = _checkpoint_key(reader, project, stack)
    data = reader.read(key) if key else None
    if key is None or data is None:
        return StackState(exists=False)
    outputs = _outputs(reader, key, reader.document(key, data))
    last: HistoryEntry | None = None
    last_up: HistoryEntry | None = None
    for entry in _history(reader, project, stack):
        last = last or entry
        if entry.kind == "update":
            last_up = entry
            break
    return StackState(exists=True, tags=_tags(reader, project, stack), outputs=outputs, last=last, last_up=last_up)
