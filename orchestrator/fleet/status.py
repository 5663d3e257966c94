"""Reads every target of a plan at once: its stack (existence, last update), whether the deployed
scanner is this checkout's, and its latest report (read with the caller's credentials).

A target that cannot be read says why in its row and never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from pulumi import automation as auto

from ec2c.scanner.reader import Report
from ec2c.scanner.storage import ReportReadError

from ..deploy.lifecycle import no_program, plain_outputs
from ..deploy.workspace import StackTarget, first_error, open_stack
from ..errors import OperationFailed
from ..reporting.estate import TargetReport

Read = TypeVar("Read")

FAILED_RESULTS = ("failed",)
CODE_CURRENT, CODE_OUTDATED, CODE_UNKNOWN = "current", "outdated", "unknown"


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
    target: Any, root: Path, engine: Any, local_sha256: str, fetch: Callable[[str, str], Report]
) -> TargetStatus:
    """One target's status; `fetch(bucket, region)` reads its latest report (its index: the
    findings stay in their shards until a view streams them)."""
    env = target.env
    row = TargetStatus(env.name, target.stack_name, env.aws.account_id, env.aws.region)
    stack_target = StackTarget(env=env, stack_name=target.stack_name, root=root)
    try:
        stack = open_stack(stack_target, engine, no_program, create=False)
        row.exists = True
        history = stack.history(page_size=1, show_secrets=False)
        if history:
            row.last_result = history[0].result
            row.last_update = history[0].end_time.isoformat() if history[0].end_time else None
        outputs = plain_outputs(stack.outputs())
    except OperationFailed as exc:
        row.problem = str(exc)
        return row
    except auto.CommandError as exc:
        row.problem = first_error(exc)
        return row
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
