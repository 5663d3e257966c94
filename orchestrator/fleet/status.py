"""Reads every target of a plan at once: its stack (existence, last update), whether the deployed
scanner and inputs are this checkout's, and its latest report (read with the caller's credentials).

The stack is read from the backend's files, not through the engine: three `pulumi` processes per
target made a status of a large estate take minutes. A target that cannot be read says why in its
row and never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from ec2c.scanner.documents import iso_utc
from ec2c.scanner.reports.reader import Report
from ec2c.scanner.storage import ReportReadError

from ..deploy.inputs.fingerprint import TAG_INPUTS, inputs_fingerprint
from ..deploy.stack.backend_state import read_stack_state
from ..deploy.stack.workspace import resolve_backend
from ..errors import OperationFailed
from ..reporting.estate import TargetReport

Read = TypeVar("Read")

FAILED_RESULTS = ("failed",)
CODE_CURRENT, CODE_OUTDATED, CODE_UNKNOWN = "current", "outdated", "unknown"
INPUTS_CURRENT, INPUTS_CHANGED, INPUTS_UNKNOWN = "current", "changed", "unknown"


@dataclass
class TargetStatus:
    """One row of `ec2c status`."""

    env: str
    stack: str
    account_id: str | None
    region: str
    exists: bool = False
    last_update: str | None = None
    last_result: str | None = None
    code: str = CODE_UNKNOWN
    deployed_code_sha256: str | None = None
    inputs: str = INPUTS_UNKNOWN
    inputs_sha256: str | None = None
    last_scan: str | None = None
    compliance_rate: float | None = None
    scan_errors: int | None = None
    problem: str | None = None
    report: Report | None = field(default=None, repr=False)

    @property
    def healthy(self) -> bool:
        """Readable, with a report, and its last update did not fail."""
        return self.problem is None and self.last_result not in FAILED_RESULTS

    def to_dict(self) -> dict[str, Any]:
        """The row without its report (`asdict` would deep-copy the report and its S3 client)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "report"}

    def as_target_report(self) -> TargetReport:
        return TargetReport(self.env, self.stack, self.account_id, self.region, self.report, self.problem)


def read_target(
    target: Any, root: Path, engine_version: str, local_sha256: str, fetch: Callable[[str, str], Report]
) -> TargetStatus:
    """One target's status, its stack read straight from the backend (`read_stack_state`): the
    checkpoint `.pulumi/stacks/<project>/<stack>.json[.gz]` (existence, outputs), the tags file
    beside it (the deployed inputs fingerprint) and the newest `.pulumi/history/<project>/<stack>/`
    entry (last update); no engine process. `engine_version` completes the local fingerprint;
    `fetch(bucket, region)` reads the latest report (its index: the findings stay in their shards
    until a view streams them)."""
    env = target.env
    row = TargetStatus(env.name, target.stack_name, env.aws.account_id, env.aws.region)
    backend = resolve_backend(env.backend, root, create=False)
    try:
        state = read_stack_state(backend, env.project, target.stack_name)
    except OperationFailed as exc:
        row.problem = str(exc)
        return row
    if not state.exists:
        again = "" if target.stack_name == env.name else f" --stack {target.stack_name}"
        row.problem = (
            f"stack organization/{env.project}/{target.stack_name} does not exist in {backend}; "
            f"run `ec2c up --env {env.name}{again}` first"
        )
        return row
    row.exists = True
    if state.last is not None:
        row.last_result = state.last.result
        row.last_update = iso_utc(state.last.end_time) if state.last.end_time else None
    row.inputs_sha256 = state.tags.get(TAG_INPUTS)
    if row.inputs_sha256:
        current = row.inputs_sha256 == inputs_fingerprint(env, engine_version)
        row.inputs = INPUTS_CURRENT if current else INPUTS_CHANGED
    outputs = state.outputs
    row.deployed_code_sha256 = outputs.get("scanner_code_sha256")
    if row.deployed_code_sha256:
        row.code = CODE_CURRENT if row.deployed_code_sha256 == local_sha256 else CODE_OUTDATED
    bucket = outputs.get("compliance_bucket_name")
    if not bucket:
        row.problem = "the stack has no compliance_bucket_name output"
        return row
    try:
        row.report = fetch(str(bucket), str(outputs.get("region") or env.aws.region))
    except (OperationFailed, ReportReadError) as exc:
        row.problem = str(exc)
        return row
    index = row.report.index
    row.account_id = index["account_id"] or row.account_id
    row.last_scan = index["generated_at"]
    row.compliance_rate = row.report.summary.get("compliance_rate")
    row.scan_errors = len(index["errors"])
    return row


def read_all(targets: Sequence[Any], reader: Callable[[Any], Read], workers: int) -> list[Read]:
    """Every target, `workers` at a time, in plan order."""
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets) or 1))) as pool:
        return list(pool.map(reader, targets))
