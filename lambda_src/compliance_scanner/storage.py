"""Where reports live (an S3 bucket or a local folder, one interface) and how shards are written
and read: gzip-compressed JSON Lines or CSV, spooled to a temporary file and uploaded whole.

A shard is never built as one string: lines are compressed as they are written, into a file in
the temporary folder (Lambda's `/tmp`), and the file is handed to S3's managed transfer by name,
which switches to a multipart upload for large files and reads each part from disk as it goes. Reading streams the object the same way, a line at
a time, so readers hold one finding, not a report. Every way a stored object can be unusable
(missing, not gzip, truncated, not JSON) is a `ReportReadError` naming the object and why.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import tempfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

JSON_TYPE = "application/json"
SHARD_TYPE = "application/gzip"
_MISSING_CODES = ("NoSuchKey", "404", "NotFound")


class ReportReadError(Exception):
    """A stored report object that cannot be used; the message is one line: the object, then why."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where = where
        self.why = why


class MissingObject(ReportReadError):
    """The object does not exist (no report yet, or a shard listed in an index but gone)."""


class Readable(Protocol):
    """A binary stream being read, closed on leaving a `with`: a local file, or an S3 object's
    body (botocore's StreamingBody, which is not a typing.IO)."""

    def read(self, size: int = ..., /) -> bytes: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def __enter__(self) -> Readable: ...

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None, /
    ) -> None: ...


class Store(Protocol):
    """A place reports are written to and read from, by key (`reports/...`)."""

    def uri(self, key: str) -> str: ...

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None: ...

    def put_file(self, key: str, handle: IO[bytes], content_type: str) -> None: ...

    def open(self, key: str) -> Readable:
        """A binary stream of the object; MissingObject when there is none."""
        ...

    def keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        """The keys under `prefix` that sort after `start_after`, in key order; ReportReadError
        when the listing fails."""
        ...


class S3Store:
    """A bucket, through a client the caller made (its credentials, region and endpoint)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def put_file(self, key: str, handle: IO[bytes], content_type: str) -> None:
        """The managed transfer: one PUT for a small file, a multipart upload past 8 MB.

        A file on disk (a shard's spool) is uploaded by name: the transfer then reads each part
        from disk as it is sent, while from a file object it reads parts into memory ahead of
        the upload threads (tens of MB for a large region's shard, in every region at once)."""
        name = getattr(handle, "name", None)
        extra = {"ContentType": content_type}
        if isinstance(name, str) and os.path.isfile(name):
            self.client.upload_file(name, self.bucket, key, ExtraArgs=extra)
        else:
            self.client.upload_fileobj(handle, self.bucket, key, ExtraArgs=extra)

    def open(self, key: str) -> Readable:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                raise MissingObject(self.uri(key), "no such object") from None
            raise _read_error(self.uri(key), exc) from None
        except BotoCoreError as exc:
            raise _read_error(self.uri(key), exc) from None

    def keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        """ListObjectsV2 pages (S3 returns keys in UTF-8 binary order, which is the order of
        these ASCII keys); StartAfter spares listing what sorts before it."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix, StartAfter=max(start_after, prefix))
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"]
        except (ClientError, BotoCoreError) as exc:
            raise _read_error(self.uri(prefix), exc) from None


def _read_error(where: str, exc: ClientError | BotoCoreError) -> ReportReadError:
    """A failed read in one line: S3's code and message, or botocore's own error."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        message = " ".join(str(error.get("Message", "")).split())
        return ReportReadError(where, f"{error.get('Code', 'Unknown')}: {message}")
    return ReportReadError(where, " ".join(str(exc).split()))


class DirStore:
    """A local folder with the bucket's layout (`ec2c scan --output DIR/`)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def uri(self, key: str) -> str:
        return str(self.path(key))

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        self._write(key, lambda out: out.write(body))

    def put_file(self, key: str, handle: IO[bytes], content_type: str) -> None:
        self._write(key, lambda out: _copy(handle, out))

    def open(self, key: str) -> Readable:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise MissingObject(self.uri(key), "no such file") from None
        except OSError as exc:
            raise ReportReadError(self.uri(key), exc.strerror or str(exc)) from None

    def keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        """The files under the folder `prefix` names, as keys, sorted; temporary files skipped."""
        folder = self.path(prefix[: prefix.rfind("/") + 1])
        if not folder.is_dir():
            return
        found = (
            path.relative_to(self.root).as_posix()
            for path in folder.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )
        yield from sorted(key for key in found if key.startswith(prefix) and key > start_after)

    def _write(self, key: str, write: Any) -> None:
        """Written beside the target, then renamed over it: a reader never sees half a file, and
        a write that fails leaves the previous file as it was."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(handle, "wb") as out:
                write(out)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _copy(source: Readable | IO[bytes], out: IO[bytes]) -> None:
    while chunk := source.read(1 << 20):
        out.write(chunk)


def put_json(store: Store, key: str, document: Mapping[str, Any]) -> None:
    store.put_bytes(key, _compact(document).encode("utf-8"), JSON_TYPE)


def _compact(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)


def get_json(store: Store, key: str) -> Any:
    """The parsed object; MissingObject, or ReportReadError when it is not JSON."""
    with store.open(key) as stream:
        body = stream.read()
    try:
        return json.loads(body)
    except ValueError:
        raise ReportReadError(store.uri(key), "not JSON") from None


class ShardWriter:
    """One gzip shard being written: JSON Lines (`write`) or CSV (`write_row`), compressed as it
    goes into a temporary file, stored by `finish` (which returns the compressed size)."""

    def __init__(self, store: Store, key: str, header: Sequence[str] | None = None, *, continued: bool = False) -> None:
        """`header` makes a CSV shard; `continued` leaves the header out (a later part of a
        region written across several invocations: its first part has it)."""
        self.store = store
        self.key = key
        self.count = 0
        self._file = tempfile.NamedTemporaryFile(prefix="ec2c-shard-", suffix=".gz")
        self._gzip = gzip.GzipFile(filename="", fileobj=self._file, mode="wb", compresslevel=6, mtime=0)
        self._text = io.TextIOWrapper(self._gzip, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text) if header is not None else None
        if self._csv is not None and header is not None and not continued:
            self._csv.writerow(header)

    def write(self, document: Mapping[str, Any]) -> None:
        self._text.write(_compact(document))
        self._text.write("\n")
        self.count += 1

    def write_row(self, row: Sequence[str]) -> None:
        assert self._csv is not None, "write_row on a JSON Lines shard"
        self._csv.writerow(row)
        self.count += 1

    def finish(self, key: str | None = None, after: Sequence[str] = ()) -> int:
        """Store the shard under `key` (its own by default) and return its compressed size.

        `after` names stored parts that come first: the object is their bytes, then this
        shard's. A gzip file may hold several members one after another and every gzip reader
        reads them as one stream, so parts written by successive invocations join without being
        decompressed; the copy goes through a temporary file, never memory."""
        self._text.close()  # closes the gzip stream too, writing its trailer
        target = key or self.key
        try:
            if not after:
                size = self._file.tell()
                self._file.seek(0)
                self.store.put_file(target, self._file, SHARD_TYPE)
                return size
            with tempfile.NamedTemporaryFile(prefix="ec2c-joined-", suffix=".gz") as joined:
                for part in after:
                    with self.store.open(part) as stream:
                        _copy(stream, joined)
                self._file.seek(0)
                _copy(self._file, joined)
                size = joined.tell()
                joined.flush()
                joined.seek(0)
                self.store.put_file(target, joined, SHARD_TYPE)
                return size
        finally:
            self._file.close()

    def discard(self) -> None:
        self._text.close()
        self._file.close()


def read_lines(store: Store, key: str) -> Iterator[dict[str, Any]]:
    """The documents of a JSON Lines shard, one at a time; ReportReadError (MissingObject for a
    shard that is gone) names the object and what is wrong with it."""
    where = store.uri(key)
    with store.open(key) as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb")
        number = 0
        try:
            for number, line in enumerate(stream, start=1):
                try:
                    document = json.loads(line)
                except ValueError:
                    raise ReportReadError(where, f"line {number} is not JSON") from None
                if not isinstance(document, dict):
                    raise ReportReadError(where, f"line {number} is not a JSON object")
                yield document
        except gzip.BadGzipFile:
            raise ReportReadError(where, "not a gzip file") from None
        except (EOFError, zlib.error):
            raise ReportReadError(where, f"truncated or corrupt after {number} line(s)") from None


def read_text_lines(store: Store, key: str) -> Iterator[str]:
    """The decompressed lines of a CSV shard, line endings kept."""
    where = store.uri(key)
    with store.open(key) as raw:
        try:
            yield from io.TextIOWrapper(gzip.GzipFile(fileobj=raw, mode="rb"), encoding="utf-8", newline="")
        except gzip.BadGzipFile:
            raise ReportReadError(where, "not a gzip file") from None
        except (EOFError, zlib.error, UnicodeDecodeError):
            raise ReportReadError(where, "truncated or corrupt") from None
