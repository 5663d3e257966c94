"""The engine's lock files, read straight from the backend: who holds a stack, and is it alive.

The DIY backend (file:// and s3://) writes one `<uuid>.json` per update under
`.pulumi/locks/organization/<project>/<stack>/` with the holder's pid, user, host and start
time. The engine neither lists nor explains them, so a crashed CI job leaves a lock that only
`pulumi cancel` removes. Reading them lets `ec2c` tell a live update from a dead one before it
breaks anything (`pulumi cancel` deletes every lock of a stack, blindly).

The same reader tells when a stack's checkpoint (`.pulumi/stacks/<project>/<stack>.json`) was
last written: the age of a stack left with neither creation tags nor history.
"""

from __future__ import annotations

import glob
import json
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOCKS_ROOT = ".pulumi/locks/organization"
STACKS_ROOT = ".pulumi/stacks"
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


@dataclass(frozen=True)
class LockInfo:
    """One lock file: the process that holds (or held) the stack."""

    key: str
    pid: int
    username: str
    hostname: str
    started: datetime | None

    @property
    def on_this_host(self) -> bool:
        return self.hostname == socket.gethostname()

    @property
    def alive(self) -> bool | None:
        """True/False for a holder on this host; None when it runs elsewhere (cannot tell)."""
        if not self.on_this_host:
            return None
        return pid_alive(self.pid)

    def age_s(self, now: datetime | None = None) -> float | None:
        if self.started is None:
            return None
        return ((now or datetime.now(UTC)) - self.started).total_seconds()

    def describe(self) -> str:
        state = {True: "alive", False: "no longer running", None: "on another host"}[self.alive]
        since = f" since {self.started:%Y-%m-%d %H:%M:%S}Z" if self.started else ""
        return f"pid {self.pid} on {self.hostname} ({self.username}){since}, {state}"

    def is_stale(self, max_age_s: float | None = None) -> bool:
        """Dead on this host, or (elsewhere) older than `max_age_s` when a threshold is given."""
        if self.alive is False:
            return True
        if self.alive is None and max_age_s is not None:
            age = self.age_s()
            return age is not None and age >= max_age_s
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    status = Path(f"/proc/{pid}/stat")
    try:
        return status.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Store(Protocol):
    def list(self, prefix: str) -> list[str]:
        """Every key under the folder `prefix` (never a sibling folder that merely starts with it)."""
        ...

    def read(self, key: str) -> bytes: ...

    def modified(self, key: str) -> datetime | None: ...

    def delete(self, key: str) -> None: ...

    def variants(self, base: str) -> dict[str, datetime]:
        """The keys in `base`'s folder whose name starts with `base`'s, with when each was written:
        one listing finds `x.json`, `x.json.gz` and `x.json.bak` at once, as the engine looks."""
        ...


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def modified(self, key: str) -> datetime | None:
        try:
            return datetime.fromtimestamp((self.root / key).stat().st_mtime, UTC)
        except OSError:
            return None

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def variants(self, base: str) -> dict[str, datetime]:
        path = self.root / base
        found = {}
        for candidate in path.parent.glob(glob.escape(path.name) + "*"):
            key = str(candidate.relative_to(self.root))
            written = self.modified(key)
            if written is not None and candidate.is_file():
                found[key] = written
        return found


class S3Store:
    """gocloud's s3:// URL (`?endpoint=&region=&use_path_style=`) mapped onto boto3."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        path_style = query.get("use_path_style", query.get("s3ForcePathStyle", "false")).lower() == "true"
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.client = boto3.client(
            "s3",
            endpoint_url=query.get("endpoint") or None,
            region_name=query.get("region") or None,
            config=Config(s3={"addressing_style": "path" if path_style else "auto"}),
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, key: str) -> str:
        return key.removeprefix(f"{self.prefix}/" if self.prefix else "")

    def list(self, prefix: str) -> list[str]:
        folder = self._key(prefix).rstrip("/") + "/"
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
            keys.extend(self._relative(item["Key"]) for item in page.get("Contents", []))
        return keys

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def modified(self, key: str) -> datetime | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))["LastModified"]
        except (BotoCoreError, ClientError):
            return None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def variants(self, base: str) -> dict[str, datetime]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(base), Delimiter="/"
        )
        return {
            self._relative(item["Key"]): item["LastModified"] for page in pages for item in page.get("Contents", [])
        }


def store_for(backend_url: str) -> Store | None:
    """A reader for the backend's files; None for backends whose files we cannot read (e.g. gs://)."""
    if backend_url.startswith("file://"):
        return FileStore(Path(backend_url.removeprefix("file://")))
    if backend_url.startswith("s3://"):
        return S3Store(backend_url)
    return None


def stack_lock_dir(project: str, stack: str) -> str:
    return f"{LOCKS_ROOT}/{project}/{stack}"


def checkpoint_written(store: Store | None, project: str, stack: str) -> datetime | None:
    """When the stack's checkpoint was last written: its birth, for a stack with no tag and no history.

    A run killed between `pulumi stack init` and tagging leaves exactly that. The time is never
    earlier than the true birth, so a sweep that ages by it can only wait longer, never too little.
    """
    if store is None:
        return None
    for suffix in (".json", ".json.gz"):
        written = store.modified(f"{STACKS_ROOT}/{project}/{stack}{suffix}")
        if written is not None:
            return written
    return None


def read_locks(store: Store | None, project: str, stack: str) -> list[LockInfo]:
    """Every lock held on the stack (normally none or one)."""
    if store is None:
        return []
    locks = []
    for key in store.list(stack_lock_dir(project, stack)):
        if not key.endswith(".json"):
            continue
        try:
            data = json.loads(store.read(key))
        except (OSError, ValueError):
            continue
        locks.append(
            LockInfo(
                key=key,
                pid=int(data.get("pid", 0)),
                username=str(data.get("username", "?")),
                hostname=str(data.get("hostname", "?")),
                started=_parse_time(data.get("timestamp")),
            )
        )
    return locks


def delete_stale_locks(store: Store | None, project: str, stack: str) -> list[LockInfo]:
    """Delete the stack's stale lock files (see `LockInfo.is_stale`); returns the locks that remain.

    For a stack that does not exist, which `pulumi cancel` refuses to touch: `pulumi stack init`
    locks the stack while it creates it, and a `stack init` killed in that instant leaves its lock.
    """
    if store is None:
        return []
    remaining = []
    for lock in read_locks(store, project, stack):
        if lock.is_stale():
            store.delete(lock.key)
        else:
            remaining.append(lock)
    return remaining


def _parse_time(value: object) -> datetime | None:
    """Go's RFC 3339 with nanoseconds (`...:11.507987757Z`, or an offset) as an aware datetime."""
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    base, fraction, zone = match.groups()
    text = base + (fraction[:7] if fraction else "") + ("+00:00" if zone in (None, "Z") else zone)
    return datetime.fromisoformat(text)
