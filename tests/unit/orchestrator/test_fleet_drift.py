"""`ec2c drift` per target, without an engine: which refresh events count as drift, what each
drifted resource names, and a target that cannot be read saying why.

`open_stack` is replaced by a stand-in whose refresh preview replays recorded engine events.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult

from ec2c.orchestrator.deploy.inputs.environments import validate
from ec2c.orchestrator.errors import OperationFailed
from ec2c.orchestrator.fleet import drift
from ec2c.orchestrator.fleet.drift import detect


def _target() -> SimpleNamespace:
    env = validate({"aws": {"region": "eu-west-1"}}, name="dev", source="config/dev.yaml")
    return SimpleNamespace(env=env, stack_name="dev")


def _event(op: str, urn: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> SimpleNamespace:
    metadata = SimpleNamespace(
        op=SimpleNamespace(value=op),
        urn=urn,
        type="aws:s3/bucket:Bucket",
        old=SimpleNamespace(outputs=old) if old is not None else None,
        new=SimpleNamespace(outputs=new) if new is not None else None,
    )
    return SimpleNamespace(res_outputs_event=SimpleNamespace(metadata=metadata))


class Stack:
    def __init__(self, events: list[Any]) -> None:
        self.events = events

    def preview_refresh(self, on_event) -> None:
        for event in self.events:
            on_event(event)


def _detect(monkeypatch, opened: Any):
    def open_stack(stack_target, engine, program, *, create: bool):
        assert create is False
        if isinstance(opened, BaseException):
            raise opened
        return opened

    monkeypatch.setattr(drift, "open_stack", open_stack)
    return detect(_target(), root=None, engine=None)


def test_updated_deleted_and_replaced_resources_are_drift_with_their_changed_properties(monkeypatch) -> None:
    events = [
        SimpleNamespace(res_outputs_event=None),
        _event("same", "urn:same", {"a": 1}, {"a": 1}),
        _event("update", "urn:tags", {"tags": {"Owner": "a"}, "arn": "x"}, {"tags": {"Owner": "b"}, "arn": "x"}),
        _event("delete", "urn:gone", {"arn": "y"}, None),
        _event("replace", "urn:new", None, {"arn": "z"}),
    ]
    row = _detect(monkeypatch, Stack(events))
    assert row.drifted and row.problem is None
    assert [(r.urn, r.op, r.changed) for r in row.resources] == [
        ("urn:tags", "update", ["tags.Owner"]),
        ("urn:gone", "delete", ["arn"]),
        ("urn:new", "replace", ["arn"]),
    ]
    assert row.to_dict()["resources"][0] == {
        "urn": "urn:tags",
        "type": "aws:s3/bucket:Bucket",
        "op": "update",
        "changed": ["tags.Owner"],
    }
    assert (row.env, row.stack, row.region) == ("dev", "dev", "eu-west-1")


def test_a_target_in_step_has_no_drift(monkeypatch) -> None:
    row = _detect(monkeypatch, Stack([_event("same", "urn:same", {"a": 1}, {"a": 1})]))
    assert not row.drifted and row.resources == [] and row.problem is None


@pytest.mark.parametrize(
    ("opened", "problem"),
    [
        (OperationFailed("no pulumi CLI found"), "no pulumi CLI found"),
        (
            auto.CommandError(CommandResult("", "error: no stack named 'dev' found\n", 255)),
            "no stack named 'dev' found",
        ),
    ],
)
def test_a_target_that_cannot_be_read_says_why(monkeypatch, opened: BaseException, problem: str) -> None:
    row = _detect(monkeypatch, opened)
    assert (row.problem, row.drifted) == (problem, False)
