"""The latest report of a deployed environment, read from its own bucket (`ec2c report --env`).

No scan runs. The bucket comes from the stack's outputs (`compliance_bucket_name`, `region`), and
the objects are read with the caller's credentials, exactly as `aws s3 cp` would: whoever may read
the reports may see them, without any access to EC2.

`reports/latest.json` is read through the scanner's own reader (`S3Store`, `load_latest`): a
schema 3 index whose findings stream from the run's shards as the output is written, or a schema
1 or 2 report, upgraded with its findings inline. Every way the report can be unusable ends in
one line naming the object and why: no report yet, not JSON, not a report, an unknown schema
version, and (found while the output streams, `streaming_from`) a shard the index lists but that
is gone, truncated or not gzip.

The change records written since the report started (`reports/changes/`, by the event-driven
evaluations) are laid over it by default (`with_changes`, the scanner's `overlay`): a record
that cannot be read is one line naming it too, never a report silently short of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError

from ec2c.scanner.changes.overlay import overlay
from ec2c.scanner.changes.records import records_since
from ec2c.scanner.contract import CHANGES_PREFIX, LATEST_REPORT_KEY
from ec2c.scanner.reports.reader import Report, load_latest
from ec2c.scanner.storage import S3Store

from ..deploy.rollouts import operations
from ..errors import OperationFailed
from .aws import checked_session, describe_aws_error
from .store import unreadable_as_failure

BUCKET_OUTPUT = "compliance_bucket_name"
REGION_OUTPUT = "region"


@dataclass(frozen=True)
class DeployedReport:
    """The latest report of an environment's stack, and the bucket and region it was read from."""

    report: Report
    bucket: str
    region: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{LATEST_REPORT_KEY}"


def fetch_latest_report(session: Any, bucket: str, region: str) -> Report:
    """`reports/latest.json` of `bucket` as a `Report` (the index: its findings stay in their
    shards until a view streams them); every way it can be missing or unreadable is an
    OperationFailed whose one line names the object and why."""
    store = S3Store(session.client("s3", region_name=region), bucket)
    where = store.uri(LATEST_REPORT_KEY)
    with unreadable_as_failure():
        try:
            latest = load_latest(store)
        except BotoCoreError as exc:  # the body's read, after a successful GetObject
            raise OperationFailed(f"{where}: {describe_aws_error(exc)}") from None
    if latest is None:
        raise OperationFailed(
            f"{where}: no report yet; the analyzer has not completed a scan (its schedule "
            "runs it, or `ec2c run --env <env>` starts one now)"
        )
    return latest


def deployed_report(env: str, stack: str | None, config_dir: Path | None) -> DeployedReport:
    """The latest report of the environment's stack, from the bucket its outputs name."""
    outputs, environment = operations.stack_outputs(env, stack, config_dir)
    bucket = outputs.get(BUCKET_OUTPUT)
    if not bucket:
        raise OperationFailed(
            f"stack {environment.stack_name if stack is None else stack}: no `{BUCKET_OUTPUT}` output; "
            f"deploy it first (`ec2c up --env {env}`)"
        )
    region = str(outputs.get(REGION_OUTPUT) or environment.aws.region)
    session = checked_session()
    return DeployedReport(fetch_latest_report(session, str(bucket), region), str(bucket), region)


def with_changes(latest: DeployedReport) -> DeployedReport:
    """The latest report with the change records written since it started laid over it (its
    index then says so under `overlay`); the report as it is when there are none."""
    store = latest.report.store
    if store is None:
        return latest
    started = _started(latest)
    with unreadable_as_failure():
        try:
            overlaid = overlay(latest.report, records_since(store, started))
        except BotoCoreError as exc:  # a record's body cut off mid-read
            raise OperationFailed(f"{store.uri(CHANGES_PREFIX)}: {describe_aws_error(exc)}") from None
    return replace(latest, report=overlaid)


def _started(latest: DeployedReport) -> datetime:
    """When the report's scan started: the change records after it are newer than the report."""
    value = latest.report.index["generated_at"]
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OperationFailed(
            f"{latest.uri}: generated_at {value!r} is not an ISO 8601 time, so the change records "
            "newer than the report cannot be told; --no-changes shows the report alone"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@contextlib.contextmanager
def streaming_from(bucket: str) -> Iterator[None]:
    """While a report's shards stream from `bucket`: an unreadable shard, or a body cut off
    mid-read, is one line."""
    with unreadable_as_failure():
        try:
            yield
        except BotoCoreError as exc:  # a shard's body cut off mid-read
            raise OperationFailed(
                f"s3://{bucket}: reading the report's shards failed: {describe_aws_error(exc)}"
            ) from None
