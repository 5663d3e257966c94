"""`inventory.list_stacks`: every stack of an environment's backend, as `ec2c stacks` and `sweep`
see it, read through the Automation API's real workspace from a stand-in `pulumi` CLI.

The stand-in (a small script, no engine) answers `version`, `stack ls`, `stack tag ls` and
`stack history` from a JSON file, and logs every call; what is checked is the row each stack
becomes (kind, birth from tags, history or checkpoint, creator, locks) and the one-line errors.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ec2c.orchestrator.deploy.ci.ephemeral import TAG_CREATED_AT, TAG_CREATED_BY, TAG_CREATOR_PID
from ec2c.orchestrator.deploy.ci.inventory import KIND_ENVIRONMENT, KIND_EPHEMERAL, KIND_OTHER, list_stacks
from ec2c.orchestrator.deploy.inputs.environments import validate
from ec2c.orchestrator.engine.pulumi_cli import Engine
from ec2c.orchestrator.errors import OperationFailed

STAND_IN = """\
#!{python}
import json, sys
from pathlib import Path

here = Path(__file__).resolve().parent
args = [a for a in sys.argv[1:] if a != "--non-interactive"]
with open(here / "calls.log", "a") as log:
    log.write(" ".join(args) + "\\n")
if args == ["version"]:
    print("v3.259.0")
    sys.exit(0)
answers = json.loads((here / "answers.json").read_text())
key = " ".join(args)
if key in answers.get("fail", {{}}):
    print(answers["fail"][key], file=sys.stderr)
    sys.exit(1)
print(json.dumps(answers["out"].get(key)))
"""


def _env(project: str = "ec2-compliance"):
    return validate({"project": project, "aws": {"region": "eu-west-1"}}, name="dev", source="config/dev.yaml")


class StandIn:
    """The stand-in CLI under `tmp/engine/bin/pulumi`, and what it was asked."""

    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "engine" / "bin"
        self.bin.mkdir(parents=True)
        script = self.bin / "pulumi"
        script.write_text(STAND_IN.format(python=sys.executable))
        script.chmod(0o755)
        self.engine = Engine(binary=script, root=self.bin.parent, version="3.259.0")
        self.answer(out={})

    def answer(self, out: dict[str, Any], fail: dict[str, str] | None = None) -> None:
        (self.bin / "answers.json").write_text(json.dumps({"out": out, "fail": fail or {}}))

    @property
    def calls(self) -> list[str]:
        return (self.bin / "calls.log").read_text().splitlines()


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "unit-test")
    return StandIn(tmp_path)


def _summary(name: str, last_update: str | None = None, resources: int | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {"name": f"organization/ec2-compliance/{name}", "current": False}
    if last_update:
        summary["lastUpdate"] = last_update
    if resources is not None:
        summary["resourceCount"] = resources
    return summary


def _tags(name: str) -> str:
    return f"stack tag ls --json --stack organization/ec2-compliance/{name}"


def _history(name: str) -> str:
    return f"stack history --json --stack organization/ec2-compliance/{name}"


def test_each_stack_becomes_a_row_with_its_birth_creator_result_and_locks(stand_in, tmp_path):
    root = tmp_path / "project"
    state = root / ".pulumi-state" / ".pulumi"
    lock_dir = state / "locks" / "organization" / "ec2-compliance" / "dev-a1b2c3"
    lock_dir.mkdir(parents=True)
    (lock_dir / "u1.json").write_text(
        json.dumps({"pid": 4242, "username": "ci", "hostname": "runner-9", "timestamp": "2026-03-04T09:05:00Z"})
    )
    checkpoint = state / "stacks" / "ec2-compliance" / "scratch.json"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_text("{}")
    written = datetime(2026, 2, 1, 12, 0, tzinfo=UTC).timestamp()
    os.utime(checkpoint, (written, written))
    names = ["scratch", "dev-a1b2c3", "dev"]
    stand_in.answer(
        out={
            "stack ls --json": [
                _summary("scratch"),
                _summary("dev-a1b2c3", "2026-03-04T09:00:00.000Z", 12),
                _summary("dev", "2026-03-05T10:00:00.000Z", 41),
            ],
            _tags("dev"): {},
            _history("dev"): [
                {"result": "succeeded", "startTime": "2026-03-05T09:58:00Z"},
                {"result": "failed", "startTime": "2026-01-10T08:00:00Z"},
            ],
            _tags("dev-a1b2c3"): {
                TAG_CREATED_AT: "2026-03-04T08:59:00Z",
                TAG_CREATED_BY: "ci@runner-9",
                TAG_CREATOR_PID: "777",
            },
            _history("dev-a1b2c3"): [{"result": "in-progress", "startTime": "2026-03-04T09:00:00Z"}],
            _tags("scratch"): {TAG_CREATOR_PID: "not-a-pid"},
            _history("scratch"): [],
        }
    )
    rows = list_stacks(_env(), root, stand_in.engine)
    assert [(r.name, r.kind) for r in rows] == [
        ("dev", KIND_ENVIRONMENT),
        ("dev-a1b2c3", KIND_EPHEMERAL),
        ("scratch", KIND_OTHER),
    ]
    dev, ephemeral, scratch = rows
    assert dev.created == datetime(2026, 1, 10, 8, 0, tzinfo=UTC)  # the oldest history entry
    assert dev.last_update == datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
    assert dev.last_result == "succeeded" and dev.resources == 41
    assert dev.created_by is None and dev.creator_pid is None and dev.locks == []

    assert ephemeral.created == datetime(2026, 3, 4, 8, 59, tzinfo=UTC)  # the creation tag wins
    assert ephemeral.created_by == "ci@runner-9" and ephemeral.creator_pid == 777
    assert ephemeral.last_result == "in-progress"
    assert [(lock.pid, lock.hostname, lock.started) for lock in ephemeral.locks] == [
        (4242, "runner-9", datetime(2026, 3, 4, 9, 5, tzinfo=UTC))
    ]

    assert scratch.created == datetime(2026, 2, 1, 12, 0, tzinfo=UTC)  # no tag, no history: its checkpoint
    assert scratch.last_update is None and scratch.last_result is None and scratch.resources is None
    assert scratch.creator_pid is None

    calls = stand_in.calls
    assert calls[0] == "version" and "stack ls --json" in calls
    assert sorted(c for c in calls if c.startswith("stack tag")) == sorted(_tags(n) for n in names)
    assert sorted(c for c in calls if c.startswith("stack history")) == sorted(_history(n) for n in names)
    settings = root / ".ec2c" / "work" / "ec2-compliance" / "_inventory" / "Pulumi.yaml"
    assert f"url: file://{root}/.pulumi-state" in settings.read_text()


def test_a_stack_with_neither_tag_history_nor_checkpoint_has_no_known_birth(stand_in, tmp_path):
    stand_in.answer(
        out={
            "stack ls --json": [_summary("dev-zzz999", "2026-03-04T09:00:00.000Z")],
            _tags("dev-zzz999"): None,
            _history("dev-zzz999"): None,
        }
    )
    (row,) = list_stacks(_env(), tmp_path / "project", stand_in.engine)
    assert row.created is None
    assert row.last_update == datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # the SDK's zoneless time, taken as UTC
    assert row.age_s(datetime(2026, 3, 4, 10, 0, tzinfo=UTC)) == 3600


def test_a_hand_set_creation_tag_is_read_as_utc_or_left_for_the_history(stand_in, tmp_path):
    """`pulumi stack tag set` takes any text: a zoneless time is UTC, one that is no time at all
    leaves the birth to the history, and a history time that is no time leaves it unknown."""
    stand_in.answer(
        out={
            "stack ls --json": [_summary("dev-aaa111"), _summary("dev-bbb222"), _summary("dev-ccc333")],
            _tags("dev-aaa111"): {TAG_CREATED_AT: "2026-03-04T08:59:00"},
            _history("dev-aaa111"): [],
            _tags("dev-bbb222"): {TAG_CREATED_AT: "yesterday"},
            _history("dev-bbb222"): [{"result": "succeeded", "startTime": "2026-03-01T07:00:00Z"}],
            _tags("dev-ccc333"): {TAG_CREATED_AT: "[red]x[/red]"},
            _history("dev-ccc333"): [{"result": "failed", "startTime": "not a time"}],
        }
    )
    zoneless, unparsable, neither = list_stacks(_env(), tmp_path / "project", stand_in.engine)
    now = datetime(2026, 3, 4, 9, 59, tzinfo=UTC)
    assert zoneless.created == datetime(2026, 3, 4, 8, 59, tzinfo=UTC) and zoneless.age_s(now) == 3600
    assert unparsable.created == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
    assert neither.created is None and neither.age_s(now) is None and neither.last_result == "failed"


def test_an_empty_backend_has_no_rows(stand_in, tmp_path):
    stand_in.answer(out={"stack ls --json": []})
    assert list_stacks(_env(), tmp_path / "project", stand_in.engine) == []
    assert not any(c.startswith("stack tag") for c in stand_in.calls)


def test_a_backend_that_cannot_be_listed_is_one_line(stand_in, tmp_path):
    stand_in.answer(out={}, fail={"stack ls --json": "error: failed to load checkpoint: access denied"})
    with pytest.raises(OperationFailed) as caught:
        list_stacks(_env(), tmp_path / "project", stand_in.engine)
    assert caught.value.message == (
        f"cannot list the stacks in file://{tmp_path}/project/.pulumi-state: failed to load checkpoint: access denied"
    )


def test_a_stack_whose_history_cannot_be_read_fails_the_listing(stand_in, tmp_path):
    stand_in.answer(
        out={"stack ls --json": [_summary("dev")], _tags("dev"): {}},
        fail={_history("dev"): "error: could not read history: corrupt"},
    )
    with pytest.raises(OperationFailed) as caught:
        list_stacks(_env(), tmp_path / "project", stand_in.engine)
    assert caught.value.message == (
        f"cannot read the stacks in file://{tmp_path}/project/.pulumi-state: could not read history: corrupt"
    )


def test_the_creator_of_a_listed_stack_is_known_to_run_here(stand_in, tmp_path):
    """A tag naming this host and a live pid: `sweep` keeps such a stack (its own run will tear it down)."""
    born = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tags = {TAG_CREATED_AT: born, TAG_CREATED_BY: f"ci@{socket.gethostname()}", TAG_CREATOR_PID: str(os.getpid())}
    stand_in.answer(
        out={"stack ls --json": [_summary("dev-a1b2c3")], _tags("dev-a1b2c3"): tags, _history("dev-a1b2c3"): []}
    )
    (row,) = list_stacks(_env(), tmp_path / "project", stand_in.engine)
    assert row.creator_pid == os.getpid() and row.creator_running_here
    assert 3 * 3600 - 5 < row.age_s(datetime.now(UTC)) < 3 * 3600 + 60
