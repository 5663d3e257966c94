"""Where reports live: a folder written atomically, a bucket on moto (a shard past 8 MB goes up
in parts), and every way a stored object can be unusable, each a one-line ReportReadError."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import re
from collections import Counter
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from ec2c.scanner.storage import (
    JSON_TYPE,
    SHARD_TYPE,
    DirStore,
    MissingObject,
    ReportReadError,
    S3Store,
    ShardWriter,
    get_json,
    put_json,
    read_lines,
    read_text_lines,
)

from .conftest import REGION

BUCKET = "report-store"
KEY = "reports/2025/06/01/run-1/us-east-1/findings.jsonl.gz"


@pytest.fixture
def s3(session) -> Any:
    client = session.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(params=["folder", "bucket"])
def any_store(request: pytest.FixtureRequest, tmp_path) -> DirStore | S3Store:
    """Each test of the reading side runs on both kinds of store."""
    if request.param == "folder":
        return DirStore(tmp_path)
    return S3Store(request.getfixturevalue("s3"), BUCKET)


def one_line_error(caught: pytest.ExceptionInfo[ReportReadError], store: Any, key: str, why: str) -> None:
    message = str(caught.value)
    assert "\n" not in message
    assert message == f"{store.uri(key)}: {why}"
    assert (caught.value.where, caught.value.why) == (store.uri(key), why)


def lines(*documents: Any) -> bytes:
    return b"".join(json.dumps(d).encode() + b"\n" for d in documents)


def test_a_shard_round_trips_one_document_at_a_time(any_store) -> None:
    writer = ShardWriter(any_store, KEY)
    for number in range(3):
        writer.write({"n": number, "text": "é"})
    size = writer.finish()
    assert writer.count == 3
    stream = read_lines(any_store, KEY)
    assert next(stream) == {"n": 0, "text": "é"}
    assert list(stream) == [{"n": 1, "text": "é"}, {"n": 2, "text": "é"}]
    with any_store.open(KEY) as raw:
        assert len(raw.read()) == size


def test_a_csv_shard_round_trips_with_its_header(any_store) -> None:
    writer = ShardWriter(any_store, KEY, header=["a", "b"])
    writer.write_row(["1", "x,y"])
    writer.finish()
    assert writer.count == 1
    assert list(read_text_lines(any_store, KEY)) == ["a,b\r\n", '1,"x,y"\r\n']


def test_shards_are_deterministic_and_a_discarded_one_is_not_stored(any_store) -> None:
    """gzip's header time is fixed, so the same lines compress to the same bytes."""
    bodies = []
    for key in ("one.jsonl.gz", "two.jsonl.gz"):
        writer = ShardWriter(any_store, key)
        writer.write({"same": True})
        writer.finish()
        with any_store.open(key) as raw:
            bodies.append(raw.read())
    assert bodies[0] == bodies[1]
    discarded = ShardWriter(any_store, "never.jsonl.gz")
    discarded.write({"x": 1})
    discarded.discard()
    with pytest.raises(MissingObject):
        any_store.open("never.jsonl.gz")


def test_a_missing_shard_is_a_missing_object(any_store) -> None:
    with pytest.raises(MissingObject) as caught:
        list(read_lines(any_store, KEY))
    one_line_error(caught, any_store, KEY, "no such file" if isinstance(any_store, DirStore) else "no such object")


def test_an_object_that_is_not_gzip(any_store) -> None:
    any_store.put_bytes(KEY, lines({"a": 1}), SHARD_TYPE)
    with pytest.raises(ReportReadError) as caught:
        list(read_lines(any_store, KEY))
    one_line_error(caught, any_store, KEY, "not a gzip file")
    with pytest.raises(ReportReadError) as caught:
        list(read_text_lines(any_store, KEY))
    one_line_error(caught, any_store, KEY, "not a gzip file")


def test_a_truncated_gzip_object(any_store) -> None:
    whole = gzip.compress(lines(*({"n": n, "pad": os.urandom(64).hex()} for n in range(2000))))
    any_store.put_bytes(KEY, whole[: len(whole) // 2], SHARD_TYPE)
    with pytest.raises(ReportReadError) as caught:
        list(read_lines(any_store, KEY))
    assert "\n" not in str(caught.value)
    assert caught.value.where == any_store.uri(KEY)
    read = int(re.fullmatch(r"truncated or corrupt after (\d+) line\(s\)", caught.value.why).group(1))  # type: ignore[union-attr]
    assert 0 < read < 2000
    with pytest.raises(ReportReadError) as caught:
        list(read_text_lines(any_store, KEY))
    one_line_error(caught, any_store, KEY, "truncated or corrupt")


def test_a_corrupt_gzip_body(any_store) -> None:
    """A valid gzip header over a body that is not deflate data (zlib's error, not EOF)."""
    whole = gzip.compress(lines({"a": 1}))
    any_store.put_bytes(KEY, whole[:10] + b"\xff" * 40, SHARD_TYPE)
    with pytest.raises(ReportReadError) as caught:
        list(read_lines(any_store, KEY))
    one_line_error(caught, any_store, KEY, "truncated or corrupt after 0 line(s)")


def test_a_line_that_is_not_json(any_store) -> None:
    any_store.put_bytes(KEY, gzip.compress(b'{"a": 1}\nnot json\n'), SHARD_TYPE)
    stream = read_lines(any_store, KEY)
    assert next(stream) == {"a": 1}  # streamed: the good line came first
    with pytest.raises(ReportReadError) as caught:
        next(stream)
    one_line_error(caught, any_store, KEY, "line 2 is not JSON")


def test_a_line_that_is_json_but_no_object(any_store) -> None:
    any_store.put_bytes(KEY, gzip.compress(b"[1, 2]\n"), SHARD_TYPE)
    with pytest.raises(ReportReadError) as caught:
        list(read_lines(any_store, KEY))
    one_line_error(caught, any_store, KEY, "line 1 is not a JSON object")


def test_a_csv_shard_that_is_not_utf8(any_store) -> None:
    any_store.put_bytes(KEY, gzip.compress(b"a,b\r\n\xff\xfe\r\n"), SHARD_TYPE)
    with pytest.raises(ReportReadError) as caught:
        list(read_text_lines(any_store, KEY))
    one_line_error(caught, any_store, KEY, "truncated or corrupt")


def test_json_documents_round_trip_and_others_are_refused(any_store) -> None:
    put_json(any_store, "reports/latest.json", {"b": 1, "a": [None]})
    assert get_json(any_store, "reports/latest.json") == {"a": [None], "b": 1}
    any_store.put_bytes("reports/broken.json", b"{not json", JSON_TYPE)
    with pytest.raises(ReportReadError) as caught:
        get_json(any_store, "reports/broken.json")
    one_line_error(caught, any_store, "reports/broken.json", "not JSON")
    with pytest.raises(MissingObject):
        get_json(any_store, "reports/none.json")


def test_s3_objects_carry_their_content_type(s3) -> None:
    store = S3Store(s3, BUCKET)
    put_json(store, "reports/latest.json", {"a": 1})
    writer = ShardWriter(store, KEY)
    writer.write({"a": 1})
    writer.finish()
    assert store.uri(KEY) == f"s3://{BUCKET}/{KEY}"
    assert s3.head_object(Bucket=BUCKET, Key="reports/latest.json")["ContentType"] == "application/json"
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ContentType"] == "application/gzip"


def test_a_shard_past_8_mb_is_uploaded_in_parts(s3) -> None:
    """Random bytes do not compress, so about 9.7 MB of them make a shard past S3's managed
    transfer threshold (8 MB): it goes up as a multipart upload, and reads back line by line."""
    calls: Counter[str] = Counter()
    s3.meta.events.register("before-call.s3.*", lambda model, **_: calls.update([model.name]))
    store = S3Store(s3, BUCKET)
    writer = ShardWriter(store, KEY)
    documents = 3200
    for number in range(documents):
        writer.write({"n": number, "blob": base64.b64encode(os.urandom(3000)).decode()})
    size = writer.finish()

    assert size > 8 * 1024 * 1024
    assert calls["CreateMultipartUpload"] == 1
    assert calls["UploadPart"] == 2
    assert calls["CompleteMultipartUpload"] == 1
    assert calls["PutObject"] == 0
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert (head["ContentLength"], head["ContentType"]) == (size, "application/gzip")
    assert [document["n"] for document in read_lines(store, KEY)] == list(range(documents))


def test_s3_errors_other_than_a_missing_key_are_unusable_not_missing(session, s3) -> None:
    gone = S3Store(s3, "no-such-bucket")
    with pytest.raises(ReportReadError) as caught:
        gone.open("reports/latest.json")
    assert not isinstance(caught.value, MissingObject)
    assert str(caught.value).startswith("s3://no-such-bucket/reports/latest.json: NoSuchBucket: ")
    assert "\n" not in str(caught.value)

    unreachable = session.client(
        "s3",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(ReportReadError) as caught:
        S3Store(unreachable, BUCKET).open("reports/latest.json")
    assert not isinstance(caught.value, MissingObject)
    assert "Could not connect" in caught.value.why and "\n" not in str(caught.value)


class FailingSource(io.RawIOBase):
    """A body whose second read fails (a disk or a network going away mid-copy); on its first
    read it notes what the folder holds then."""

    def __init__(self, folder: Any) -> None:
        self.folder = folder
        self.during: list[str] = []
        self.reads = 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads == 1:
            self.during = sorted(os.listdir(self.folder))
            return b"half of the new"
        raise OSError("device went away")


def test_a_folder_write_is_atomic(tmp_path) -> None:
    """The new bytes go to a temporary file beside the target and replace it whole: while
    writing, and after a write that fails, the target holds the previous content."""
    store = DirStore(tmp_path)
    store.put_bytes("reports/latest.json", b"previous", JSON_TYPE)
    folder = store.path("reports")
    source = FailingSource(folder)
    with pytest.raises(OSError, match="device went away"):
        store.put_file("reports/latest.json", source, JSON_TYPE)  # type: ignore[arg-type]
    assert len(source.during) == 2 and source.during[0].startswith(".latest.json.")
    assert store.path("reports/latest.json").read_bytes() == b"previous"
    assert os.listdir(folder) == ["latest.json"]

    store.put_file("reports/latest.json", io.BytesIO(b"x" * (3 << 20)), JSON_TYPE)
    assert store.path("reports/latest.json").read_bytes() == b"x" * (3 << 20)
    assert os.listdir(folder) == ["latest.json"]


def test_a_folder_object_that_cannot_be_opened(tmp_path) -> None:
    store = DirStore(tmp_path)
    (tmp_path / "reports" / "latest.json").mkdir(parents=True)
    with pytest.raises(ReportReadError) as caught:
        store.open("reports/latest.json")
    assert not isinstance(caught.value, MissingObject)
    one_line_error(caught, store, "reports/latest.json", "Is a directory")


def test_a_bucket_takes_a_file_object_as_well_as_a_spooled_file(s3) -> None:
    """A shard's spool is uploaded by its name (parts read from disk as they go); any other
    file object goes through the managed transfer of file objects, with the same result."""
    store = S3Store(s3, BUCKET)
    store.put_file("reports/plain.bin", io.BytesIO(b"from memory"), JSON_TYPE)
    writer = ShardWriter(store, KEY)
    writer.write({"from": "disk"})
    writer.finish()
    assert s3.get_object(Bucket=BUCKET, Key="reports/plain.bin")["Body"].read() == b"from memory"
    assert list(read_lines(store, KEY)) == [{"from": "disk"}]
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ContentType"] == "application/gzip"


def test_keys_lists_a_prefix_in_key_order_after_a_key(any_store) -> None:
    for key in (
        "reports/changes/20250601T120500000000Z-b.json",
        "reports/changes/20250601T120000000000Z-a.json",
        "reports/changes/2025/nested.json",
        "reports/changes-state/us-east-1/instance/i-1.json",
        "reports/latest.json",
    ):
        any_store.put_bytes(key, b"{}", JSON_TYPE)
    assert list(any_store.keys("reports/changes/")) == [
        "reports/changes/2025/nested.json",
        "reports/changes/20250601T120000000000Z-a.json",
        "reports/changes/20250601T120500000000Z-b.json",
    ]
    assert list(any_store.keys("reports/changes/", "reports/changes/20250601T120000000000Z")) == [
        "reports/changes/20250601T120000000000Z-a.json",
        "reports/changes/20250601T120500000000Z-b.json",
    ]
    assert list(any_store.keys("reports/changes/2025060")) == [
        "reports/changes/20250601T120000000000Z-a.json",
        "reports/changes/20250601T120500000000Z-b.json",
    ]
    assert list(any_store.keys("reports/changes/", "reports/changes/20250601T120500000000Z-b.json")) == []
    assert list(any_store.keys("reports/nothing-here/")) == []


def test_a_folder_lists_no_temporary_file(tmp_path) -> None:
    """A write in progress is a dot-file beside its target: never a key."""
    store = DirStore(tmp_path)
    store.put_bytes("reports/changes/a.json", b"{}", JSON_TYPE)
    (tmp_path / "reports" / "changes" / ".b.json.x1y2").write_bytes(b"{")
    assert list(store.keys("reports/changes/")) == ["reports/changes/a.json"]


def test_a_listing_that_fails_is_one_line(s3) -> None:
    with pytest.raises(ReportReadError) as caught:
        list(S3Store(s3, "no-such-bucket").keys("reports/changes/"))
    assert str(caught.value).startswith("s3://no-such-bucket/reports/changes/: NoSuchBucket: ")
    assert "\n" not in str(caught.value)


def test_a_listing_that_cannot_reach_s3_is_one_line(s3) -> None:
    """A connection failure (botocore's own error, not an S3 answer) names the prefix too."""

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")

    s3.meta.events.register("before-call.s3.ListObjectsV2", unreachable)
    with pytest.raises(ReportReadError) as caught:
        list(S3Store(s3, BUCKET).keys("reports/changes/"))
    assert str(caught.value) == (
        f's3://{BUCKET}/reports/changes/: Could not connect to the endpoint URL: "https://s3.amazonaws.com"'
    )
