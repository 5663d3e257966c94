"""`changes.records`: the record format's checks, the keys, the per-resource states, and
`records_since` over a bucket on moto and a folder (the two stores the records live in)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest

from ec2c.scanner.changes.records import (
    CHANGE_SCHEMA_VERSION,
    STATE_PREFIX,
    check_record,
    read_state,
    record_key,
    records_since,
    stamp,
    state_key,
)
from ec2c.scanner.contract import CHANGES_PREFIX
from ec2c.scanner.storage import DirStore, ReportReadError, S3Store, Store, put_json

from .conftest import ACCOUNT, BUCKET, NOW, REGION

WHERE = "s3://bucket/reports/changes/x.json"


def change(**fields: Any) -> dict[str, Any]:
    """The smallest document `check_record` accepts, with `fields` over it."""
    document: dict[str, Any] = {
        "kind": "change",
        "schema_version": CHANGE_SCHEMA_VERSION,
        "record_id": "r",
        "resources": [],
        "findings": [],
        "new_findings": [],
        "resolved_findings": [],
    }
    return {**document, **fields}


@pytest.fixture(params=["bucket", "folder"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "folder":
        yield DirStore(tmp_path / "store")
        return
    request.getfixturevalue("aws")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    yield S3Store(s3, BUCKET)


def test_the_keys_sort_by_time_to_the_microsecond_in_utc() -> None:
    moment = datetime(2025, 6, 1, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))

    assert stamp(moment) == "20250601T120000000005Z"
    assert record_key(moment, "req-1") == f"{CHANGES_PREFIX}20250601T120000000005Z-req-1.json"
    assert record_key(NOW, "a") < record_key(NOW + timedelta(microseconds=1), "a")
    assert state_key(REGION, "instance", "i-1") == f"{STATE_PREFIX}{REGION}/instance/i-1.json"
    assert state_key(REGION, "account", ACCOUNT) == f"reports/changes-state/{REGION}/account/{ACCOUNT}.json"
    assert not STATE_PREFIX.startswith(CHANGES_PREFIX), "listing the records never lists the states"


def test_check_record_accepts_a_change_record_as_it_is() -> None:
    document = change(findings=[{"rule_id": "x"}])

    assert check_record(document, WHERE) is document


@pytest.mark.parametrize(
    ("document", "why"),
    [
        (["not", "an", "object"], "not a change record (kind is not 'change')"),
        ({"kind": "report"}, "not a change record (kind is not 'change')"),
        (change(kind=None), "not a change record (kind is not 'change')"),
        (change(schema_version=2), "unknown change record schema_version 2 (this version reads 1)"),
        (change(schema_version="1"), "unknown change record schema_version '1' (this version reads 1)"),
        ({k: v for k, v in change().items() if k != "schema_version"}, "unknown change record schema_version None"),
        (change(resources=None), "change record without a resources list"),
        (change(findings={}), "change record without a findings list"),
        ({k: v for k, v in change().items() if k != "new_findings"}, "change record without a new_findings list"),
        (change(resolved_findings="none"), "change record without a resolved_findings list"),
    ],
)
def test_check_record_says_what_is_wrong_and_where(document: Any, why: str) -> None:
    with pytest.raises(ReportReadError) as caught:
        check_record(document, WHERE)

    assert caught.value.where == WHERE
    assert caught.value.why.startswith(why)
    assert str(caught.value) == f"{WHERE}: {caught.value.why}"


def test_records_since_lists_only_later_records_oldest_first(any_store: Store) -> None:
    written = {minutes: record_key(NOW + timedelta(minutes=minutes), f"b{minutes}") for minutes in (7, -5, 2, 0)}
    for minutes, key in written.items():
        put_json(any_store, key, change(record_id=f"r{minutes}"))
    any_store.put_bytes(f"{CHANGES_PREFIX}{stamp(NOW + timedelta(minutes=3))}-notes.txt", b"not a record", "text/plain")
    put_json(any_store, state_key(REGION, "instance", "i-1"), {"failing": []})

    found = list(records_since(any_store, NOW))

    assert [key for key, _ in found] == [written[0], written[2], written[7]]
    assert [record["record_id"] for _, record in found] == ["r0", "r2", "r7"]


def test_records_since_a_moment_after_every_record_is_empty(any_store: Store) -> None:
    put_json(any_store, record_key(NOW, "b"), change())

    assert list(records_since(any_store, NOW + timedelta(microseconds=1))) == []
    assert [key for key, _ in records_since(any_store, datetime(2000, 1, 1, tzinfo=UTC))] == [record_key(NOW, "b")]


@pytest.mark.parametrize(
    ("body", "why"),
    [(b"[1, 2", "not JSON"), (b'{"kind": "change", "schema_version": 9}', "unknown change record schema_version 9")],
)
def test_records_since_stops_at_a_record_it_cannot_read_naming_it(any_store: Store, body: bytes, why: str) -> None:
    put_json(any_store, record_key(NOW + timedelta(minutes=1), "good"), change())
    bad = record_key(NOW + timedelta(minutes=2), "bad")
    any_store.put_bytes(bad, body, "application/json")

    found = records_since(any_store, NOW)

    assert next(found)[0] == record_key(NOW + timedelta(minutes=1), "good")
    with pytest.raises(ReportReadError) as caught:
        next(found)
    assert caught.value.where == any_store.uri(bad)
    assert caught.value.why.startswith(why)


def test_read_state_is_none_without_a_state_and_the_document_with_one(any_store: Store) -> None:
    key = state_key(REGION, "instance", "i-1")
    state = {"evaluated_at": NOW.isoformat(), "record_key": record_key(NOW, "b"), "gone": False, "failing": []}

    assert read_state(any_store, key) is None
    put_json(any_store, key, state)
    assert read_state(any_store, key) == state


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{truncated", "not JSON"),
        (b'["failing"]', "not a resource state (no failing list)"),
        (b'{"evaluated_at": "2025-06-01T12:00:00+00:00"}', "not a resource state (no failing list)"),
        (b'{"failing": {"rule_id": "x"}}', "not a resource state (no failing list)"),
    ],
)
def test_a_state_that_cannot_be_read_is_an_error_never_no_state(any_store: Store, body: bytes, why: str) -> None:
    key = state_key(REGION, "instance", "i-1")
    any_store.put_bytes(key, body, "application/json")

    with pytest.raises(ReportReadError) as caught:
        read_state(any_store, key)

    assert str(caught.value) == f"{any_store.uri(key)}: {why}"
    assert re.search(r"changes-state/us-east-1/instance/i-1\.json$", caught.value.where)
