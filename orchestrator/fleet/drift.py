"""`ec2c drift --plan P`: which resources differ from what each target's state records.

A refresh preview per target (the Automation API's `preview_refresh`): the engine reads every
resource from its provider and compares, and nothing is written, so a scheduled CI job can run it
safely. Each drifted resource is named with the properties whose values changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from ..deploy.stack.lifecycle import no_program
from ..deploy.stack.workspace import StackTarget, first_error, open_stack
from ..errors import OperationFailed

DRIFT_OPS = ("update", "delete", "replace")


@dataclass
class DriftedResource:
    urn: str
    type: str
    op: str
    changed: list[str] = field(default_factory=list)


@dataclass
class TargetDrift:
    env: str
    stack: str
    region: str
    resources: list[DriftedResource] = field(default_factory=list)
    problem: str | None = None

    @property
    def drifted(self) -> bool:
        return bool(self.resources)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def changed_keys(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, prefix: str = "") -> list[str]:
    """Property paths whose values differ (one level into nested mappings), sorted."""
    old, new = old or {}, new or {}
    keys = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, Mapping) and isinstance(after, Mapping) and not prefix:
            keys += changed_keys(before, after, f"{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def detect(target: Any, root: Path, engine: Any) -> TargetDrift:
    """One target's drift; a target that cannot be read says why."""
    env = target.env
    row = TargetDrift(env.name, target.stack_name, env.aws.region)
    drifted: list[DriftedResource] = []

    def on_event(event: Any) -> None:
        outputs = event.res_outputs_event
        if outputs is None or outputs.metadata.op.value not in DRIFT_OPS:
            return
        meta = outputs.metadata
        old = meta.old.outputs if meta.old else None
        new = meta.new.outputs if meta.new else None
        drifted.append(DriftedResource(meta.urn, meta.type, meta.op.value, changed_keys(old, new)))

    try:
        stack = open_stack(
            StackTarget(env=env, stack_name=target.stack_name, root=root), engine, no_program, create=False
        )
        stack.preview_refresh(on_event=on_event)
    except OperationFailed as exc:
        row.problem = str(exc)
    except auto.CommandError as exc:
        row.problem = first_error(exc)
    row.resources = drifted
    return row
