"""The DIY backend read without the engine: checkpoints (plain and gzip, the variant the engine
would pick), tags, history newest first, missing stacks and unreadable objects, on file:// and on
s3:// (moto).

The documents are what pulumi v3.259.0 wrote for a component-only stack (`ec2c up` of the engine
tests' fake analyzer, then `pulumi stack tag set`, `pulumi refresh` and `pulumi destroy`), trimmed
to the fields that matter: no stack traces, no source positions, a shorter environment.
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from ec2c.orchestrator.deploy.stack import backend_state, locks
from ec2c.orchestrator.deploy.stack.backend_state import BackendReadError, HistoryEntry, StackState, read_stack_state
from ec2c.orchestrator.deploy.stack.lifecycle import SECRET_MASK

PROJECT = "ec2-compliance"
ROOT_URN = "urn:pulumi:eng::ec2-compliance::pulumi:pulumi:Stack::ec2-compliance-eng"
CHECKPOINT = {
    "version": 3,
    "checkpoint": {
        "stack": "organization/ec2-compliance/eng",
        "latest": {
            "manifest": {
                "time": "2026-12-02T16:09:49.324367018Z",
                "magic": "ab35920a3077459b09dd1a3f7ddc28df4e3efc81b3240013bb6906688abc684d",
                "version": "v3.259.0",
            },
            "secrets_providers": {
                "type": "passphrase",
                "state": {"salt": "v1:BjWSWRu1CyI=:v1:LbdoQefv0JfvQCOI:LkuKfmpJKxaYeKBxvrvKnTMPqLyb5g=="},
            },
            "resources": [
                {
                    "urn": ROOT_URN,
                    "custom": False,
                    "type": "pulumi:pulumi:Stack",
                    "outputs": {
                        "api_token": {
                            "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                            "ciphertext": "v1:HCCGZpEwCiFeFKdo:YKiroQryXWJa+H0SQzJnVTSenAQIGIr8cY5ac6Gxd2H6GGB0",
                        },
                        "compliance_bucket_name": "compliance_bucket_name-eng",
                        "configured_assume_roles": [
                            {"roleArn": "arn:aws:iam::123456789012:role/deployer", "sessionName": "ec2c-eng"}
                        ],
                        "region": "eu-west-1",
                        "scanner_code_sha256": "d1ea381d2c6fb7827c5c7c6ca1e829e7a269dfec71668038a4e6c019c5089979",
                    },
                    "created": "2026-12-02T16:09:49.271470138Z",
                    "modified": "2026-12-02T16:09:49.271470138Z",
                },
                {
                    "urn": "urn:pulumi:eng::ec2-compliance::ec2compliance:index:ComplianceAnalyzer::compliance-eng",
                    "custom": False,
                    "type": "ec2compliance:index:ComplianceAnalyzer",
                    "outputs": {"compliance_bucket_name": "compliance_bucket_name-eng", "region": "eu-west-1"},
                    "parent": ROOT_URN,
                    "created": "2026-12-02T16:09:49.300329456Z",
                    "modified": "2026-12-02T16:09:49.300329456Z",
                },
            ],
            "metadata": {},
        },
    },
}
OUTPUTS = {
    "api_token": SECRET_MASK,
    "compliance_bucket_name": "compliance_bucket_name-eng",
    "configured_assume_roles": [{"roleArn": "arn:aws:iam::123456789012:role/deployer", "sessionName": "ec2c-eng"}],
    "region": "eu-west-1",
    "scanner_code_sha256": "d1ea381d2c6fb7827c5c7c6ca1e829e7a269dfec71668038a4e6c019c5089979",
}
FRESH = {  # `pulumi stack init`: a stack with no update yet
    "version": 3,
    "checkpoint": {
        "stack": "organization/ec2-compliance/eng",
        "latest": {
            "manifest": {
                "time": "2026-12-02T16:11:55.847819798Z",
                "magic": "ab35920a3077459b09dd1a3f7ddc28df4e3efc81b3240013bb6906688abc684d",
                "version": "v3.259.0",
            },
            "secrets_providers": {
                "type": "passphrase",
                "state": {"salt": "v1:rWff0cXiGlk=:v1:0oOmwBGITWricNKR:ZvlYshnPeN6xCojW+RnqPSPZa+BNyA=="},
            },
            "metadata": {},
        },
    },
}
TAGS = {
    "version": 1,
    "tags": {
        "ec2c:inputs-sha256": "53618b12f0d1e607a69abae00230f624d34e9f4a2477099854acc001ef82b7f5",
        "team:owner": "platform team",
    },
}
CONFIG = {
    "aws:allowedAccountIds": ["123456789012"],
    "aws:assumeRoles": [{"roleArn": "arn:aws:iam::123456789012:role/deployer", "sessionName": "ec2c-eng"}],
    "aws:region": "eu-west-1",
}


def _history(kind: str, result: str, ended: int, changes: dict[str, int]) -> dict:
    return {
        "kind": kind,
        "startTime": ended,
        "message": "",
        "environment": {"exec.kind": "auto.inline", "pulumi.version": "v3.259.0", "updatePlan": "false"},
        "config": CONFIG,
        "version": 0,
        "result": result,
        "endTime": ended,
        "resourceChanges": changes,
    }


UPDATE = _history("update", "succeeded", 1796227789, {"create": 2})
REFRESH = _history("refresh", "succeeded", 1796227808, {"same": 2})
FAILED = _history("update", "failed", 1796227906, {"create": 2})
DESTROY = _history("destroy", "succeeded", 1796227917, {"delete": 2})


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _bytes(document: object, gz: bool = False) -> bytes:
    """The document as the engine writes it (compact JSON); bytes as they are."""
    data = document if isinstance(document, bytes) else json.dumps(document, separators=(",", ":")).encode()
    return gzip.compress(data) if gz else data


class FileBackend:
    """A file:// backend folder written as the engine lays it out (with gocloud's `.attrs` files)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"file://{root}"

    def put(self, key: str, data: bytes, mtime: float | None = None) -> Path:
        path = self.root / ".pulumi" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        (path.parent / f"{path.name}.attrs").write_text('{"user.content_type":"application/octet-stream"}')
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def stack(self, stack: str = "eng", document: object = CHECKPOINT, suffix: str = ".json", **kw) -> Path:
        return self.put(f"stacks/{PROJECT}/{stack}{suffix}", _bytes(document, suffix.endswith(".gz")), **kw)

    def tags(self, stack: str = "eng", document: object = TAGS) -> Path:
        return self.put(f"stacks/{PROJECT}/{stack}.pulumi-tags", _bytes(document))

    def history(self, nanos: int, document: object, stack: str = "eng", gz: bool = False) -> Path:
        ext = ".json.gz" if gz else ".json"
        self.put(f"history/{PROJECT}/{stack}/{stack}-{nanos}.checkpoint{ext}", _bytes(CHECKPOINT, gz))
        return self.put(f"history/{PROJECT}/{stack}/{stack}-{nanos}.history{ext}", _bytes(document, gz))


@pytest.fixture(autouse=True)
def _fresh_stores(monkeypatch):
    """Each test its own clients: a store is cached per backend URL for the process."""
    monkeypatch.setattr(backend_state, "_stores", {})


@pytest.fixture
def backend(tmp_path: Path) -> FileBackend:
    return FileBackend(tmp_path / "state")


def _deployed() -> StackState:
    """What the stack the fixtures describe reads as: deployed, then refreshed."""
    return StackState(
        exists=True,
        tags=TAGS["tags"],
        outputs=OUTPUTS,
        last=HistoryEntry("refresh", "succeeded", _at(1796227808)),
        last_up=HistoryEntry("update", "succeeded", _at(1796227789)),
    )


def test_a_deployed_stack_is_read_from_its_checkpoint_tags_and_history(backend) -> None:
    backend.stack()
    backend.stack(suffix=".json.bak", document=FRESH)  # the previous checkpoint: never read
    backend.tags()
    backend.history(1796227789337631111, UPDATE)
    backend.history(1796227808646465443, REFRESH)
    state = read_stack_state(backend.url, PROJECT, "eng")
    assert state == _deployed()
    assert state.last is not None and state.last.end_time is not None and state.last.end_time.tzinfo is UTC


def test_a_stack_never_updated_or_tagged_exists_with_nothing_else(backend) -> None:
    backend.stack(document=FRESH)
    assert read_stack_state(backend.url, PROJECT, "eng") == StackState(True, {}, {}, None, None)


def test_outputs_are_the_root_stack_resources_only(backend) -> None:
    document = json.loads(json.dumps(CHECKPOINT))
    resources = document["checkpoint"]["latest"]["resources"]
    resources[0] = {**resources[0], "delete": True}  # a root pending deletion, and a child: neither counts
    document["checkpoint"]["latest"]["resources"] = ["not a resource", resources[1], resources[0]]
    backend.stack(document=document)
    assert read_stack_state(backend.url, PROJECT, "eng").outputs == {}


def test_a_missing_stack_is_not_an_error(backend) -> None:
    assert read_stack_state(backend.url, PROJECT, "eng") == StackState(exists=False)  # no backend folder yet
    backend.stack(suffix=".json.bak")  # a removed stack keeps its backup and may keep its tags
    backend.tags()
    backend.stack(stack="eng-b")
    assert read_stack_state(backend.url, PROJECT, "eng") == StackState(False, {}, {}, None, None)


@pytest.mark.parametrize(("newer", "region"), [(".json.gz", "gzip-1"), (".json", "plain-1")])
def test_of_a_plain_and_a_gzip_checkpoint_the_newer_counts(backend, newer: str, region: str) -> None:
    """What the engine does (state.go stackPath), checked on v3.259.0 with `pulumi stack output`."""
    for suffix, name in ((".json", "plain-1"), (".json.gz", "gzip-1")):
        document = json.loads(json.dumps(CHECKPOINT))
        document["checkpoint"]["latest"]["resources"][0]["outputs"]["region"] = name
        backend.stack(document=document, suffix=suffix, mtime=2_000_000_000 if suffix == newer else 1_000_000_000)
    assert read_stack_state(backend.url, PROJECT, "eng").outputs["region"] == region


def test_gzip_history_and_checkpoint_are_read_as_the_engine_writes_them(backend) -> None:
    backend.stack(suffix=".json.gz")
    backend.history(1796227789337631111, UPDATE)
    backend.history(1796227828421483121, REFRESH, gz=True)
    state = read_stack_state(backend.url, PROJECT, "eng")
    assert state.outputs == OUTPUTS
    assert (state.last, state.last_up) == (
        HistoryEntry("refresh", "succeeded", _at(1796227808)),
        HistoryEntry("update", "succeeded", _at(1796227789)),
    )


def test_history_is_read_newest_first_and_only_as_far_as_the_last_update(backend, monkeypatch) -> None:
    backend.stack()
    backend.history(1796227700000000000, b"{ not json: never read")
    backend.history(1796227789337631111, UPDATE)
    backend.history(1796227906834641085, FAILED)
    backend.history(1796227917359936300, DESTROY)
    backend.history(1796227999000000000, REFRESH, stack="eng-b")  # another stack's folder
    backend.put(f"history/{PROJECT}/eng/notes.txt", b"not an entry")
    read: list[str] = []
    original = locks.FileStore.read
    monkeypatch.setattr(locks.FileStore, "read", lambda self, key: read.append(key) or original(self, key))
    state = read_stack_state(backend.url, PROJECT, "eng")
    assert state.last == HistoryEntry("destroy", "succeeded", _at(1796227917))
    assert state.last_up == HistoryEntry("update", "failed", _at(1796227906))
    history = [key.rsplit("/", 1)[-1] for key in read if "/history/" in key]
    assert history == ["eng-1796227917359936300.history.json", "eng-1796227906834641085.history.json"]


def test_a_history_without_an_update_reads_every_entry(backend) -> None:
    backend.stack(document=FRESH)
    backend.history(1796227808646465443, REFRESH)
    backend.history(1796227917359936300, {**DESTROY, "result": "in-progress", "endTime": 0})
    state = read_stack_state(backend.url, PROJECT, "eng")
    assert (state.last, state.last_up) == (HistoryEntry("destroy", "in-progress", None), None)


@pytest.mark.parametrize(
    ("write", "where", "why"),
    [
        (lambda b: b.put(f"stacks/{PROJECT}/eng.json", b'{"version":3,"checkpoint":{'), "eng.json", "corrupt JSON"),
        (lambda b: b.put(f"stacks/{PROJECT}/eng.json", b'{"v": "\xc3\x28"}'), "eng.json", "corrupt JSON (not UTF-8"),
        (lambda b: b.put(f"stacks/{PROJECT}/eng.json.gz", b"\x1f\x8b\x08junk"), "eng.json.gz", "corrupt gzip"),
        (lambda b: b.put(f"stacks/{PROJECT}/eng.json", b'{"version":3}'), "eng.json", "not a Pulumi checkpoint"),
        (lambda b: b.stack(document={"checkpoint": {"latest": ["x"]}}), "eng.json", "not a Pulumi checkpoint"),
        (lambda b: b.stack(document={"checkpoint": {"latest": {"resources": {"a": 1}}}}), "eng.json", "not a Pulumi"),
        (lambda b: b.put(f"stacks/{PROJECT}/eng.json.zst", b"\x28\xb5\x2f\xfd\x00"), "eng.json.zst", "zstd"),
        (lambda b: b.stack() and b.put(f"stacks/{PROJECT}/eng.pulumi-tags", b"{"), "eng.pulumi-tags", "corrupt JSON"),
        (lambda b: b.stack() and b.tags(document={"version": 2, "tags": {}}), "eng.pulumi-tags", "not a stack tags"),
        (lambda b: b.stack() and b.tags(document=[]), "eng.pulumi-tags", "not a stack tags"),
        (
            lambda b: b.stack() and (b.root / f".pulumi/stacks/{PROJECT}/eng.pulumi-tags").mkdir(),
            "eng.pulumi-tags",
            "unreadable",
        ),
        (
            lambda b: b.stack() and b.history(1796227789337631111, b"]"),
            "eng-1796227789337631111.history.json",
            "corrupt",
        ),
        (
            lambda b: b.stack() and b.history(1796227789337631111, {"result": "x"}),
            ".history.json",
            "not an update record",
        ),
    ],
)
def test_an_unusable_object_is_named_with_why(backend, write, where: str, why: str) -> None:
    write(backend)
    with pytest.raises(BackendReadError) as failed:
        read_stack_state(backend.url, PROJECT, "eng")
    message = failed.value.message
    assert message.startswith(str(backend.root / ".pulumi" / "stacks")) or "/.pulumi/history/" in message
    assert where in message.split(": ", 1)[0] and why in message
    assert "\n" not in message


def test_a_file_the_reader_may_not_open_is_access_denied(backend, monkeypatch) -> None:
    """Permissions do not stop root, who runs these tests: the store says what the OS would."""
    backend.stack()

    def refuse(self, key: str) -> bytes:
        raise PermissionError(13, "Permission denied", key)

    monkeypatch.setattr(locks.FileStore, "read", refuse)
    with pytest.raises(BackendReadError, match=r"/\.pulumi/stacks/ec2-compliance/eng\.json: access denied$"):
        read_stack_state(backend.url, PROJECT, "eng")


def test_a_backend_without_a_file_reader_is_refused() -> None:
    with pytest.raises(BackendReadError, match=r"^gs://state: only file:// and s3:// backends"):
        read_stack_state("gs://state", PROJECT, "eng")


BUCKET_URL = "s3://team-state/teams/a?region=us-east-1&use_path_style=true"


def _put(s3, key: str, data: bytes) -> None:
    s3.put_object(Bucket="team-state", Key=f"teams/a/.pulumi/{key}", Body=data)


@pytest.fixture
def bucket(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="team-state")
        yield s3


@pytest.mark.parametrize("gz", [False, True])
def test_an_s3_backend_under_a_prefix_is_read_the_same(bucket, gz: bool) -> None:
    ext = ".json.gz" if gz else ".json"
    _put(bucket, f"stacks/{PROJECT}/eng{ext}", _bytes(CHECKPOINT, gz))
    _put(bucket, f"stacks/{PROJECT}/eng{ext}.bak", _bytes(FRESH, gz))
    _put(bucket, f"stacks/{PROJECT}/eng.pulumi-tags", _bytes(TAGS))
    _put(bucket, f"history/{PROJECT}/eng/eng-1796227789337631111.checkpoint{ext}", _bytes(CHECKPOINT, gz))
    _put(bucket, f"history/{PROJECT}/eng/eng-1796227789337631111.history{ext}", _bytes(UPDATE, gz))
    _put(bucket, f"history/{PROJECT}/eng/eng-1796227808646465443.history{ext}", _bytes(REFRESH, gz))
    _put(bucket, f"history/{PROJECT}/eng-b/eng-b-1796227999000000000.history{ext}", _bytes(DESTROY, gz))
    _put(bucket, f"stacks/{PROJECT}/eng-b{ext}", _bytes(FRESH, gz))
    state = read_stack_state(BUCKET_URL, PROJECT, "eng")
    assert state == _deployed()
    destroyed = HistoryEntry("destroy", "succeeded", _at(1796227917))
    assert read_stack_state(BUCKET_URL, PROJECT, "eng-b") == StackState(True, {}, {}, destroyed, None)  # none of eng's
    assert read_stack_state(BUCKET_URL, PROJECT, "en") == StackState(exists=False)


def test_s3_objects_that_cannot_be_read_are_named(bucket) -> None:
    _put(bucket, f"stacks/{PROJECT}/eng.json", b"{ truncated")
    with pytest.raises(BackendReadError) as failed:
        read_stack_state(BUCKET_URL, PROJECT, "eng")
    assert failed.value.message.startswith(f"s3://team-state/teams/a/.pulumi/stacks/{PROJECT}/eng.json: corrupt JSON")
    with pytest.raises(
        BackendReadError, match=r"^s3://elsewhere/.pulumi/stacks/ec2-compliance/eng.json: no such bucket"
    ):
        read_stack_state("s3://elsewhere?region=us-east-1", PROJECT, "eng")


@set_initial_no_auth_action_count(5)
def test_s3_access_denied_and_bad_credentials_are_named(monkeypatch) -> None:
    """moto checks IAM once the first five calls (the setup below) are done."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(config={"iam": {"load_aws_managed_policies": False}}):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="team-state")
        _put(s3, f"stacks/{PROJECT}/eng.json", _bytes(CHECKPOINT))
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="viewer")
        key = iam.create_access_key(UserName="viewer")["AccessKey"]
        iam.put_user_policy(
            UserName="viewer",
            PolicyName="list-only",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
                }
            ),
        )
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it found first
        with pytest.raises(BackendReadError) as denied:
            read_stack_state(BUCKET_URL, PROJECT, "eng")
        assert denied.value.message == f"s3://team-state/teams/a/.pulumi/stacks/{PROJECT}/eng.json: access denied"
        monkeypatch.setattr(backend_state, "_stores", {})
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOBODY0000000000")
        with pytest.raises(BackendReadError, match=r"eng\.json: unreadable \(InvalidAccessKeyId\)$"):
            read_stack_state(BUCKET_URL, PROJECT, "eng")


def test_an_unreachable_s3_endpoint_is_named(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    url = "s3://team-state?endpoint=http://127.0.0.1:9&region=us-east-1&use_path_style=true"
    with pytest.raises(BackendReadError, match=r"^s3://team-state/.pulumi/stacks/ec2-compliance/eng.json: unreadable"):
        read_stack_state(url, PROJECT, "eng")
