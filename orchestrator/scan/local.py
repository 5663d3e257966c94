"""`ec2c scan`'s service: the Lambda's own scan (`ec2c.scanner.run.scanner.scan`) from a workstation.

Without `--demo` it uses the caller's AWS credentials exactly as the SDK finds them (`AWS_PROFILE`,
`AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, SSO, instance roles ...): it only builds a
default `boto3` session and never overrides the SDK's own resolution. With `--demo` it scans an
embedded moto fleet (see `ec2c.orchestrator.demo`), isolated from the caller's settings.

The memory is bound: each region streams into gzip shards in a store (`store.report_store`), and
every output reads them back a finding at a time while `local_scan` holds the store open. What
the person at the terminal sees while it runs (a note, the seeding, the progress) is the
caller's `ScanFeedback`: nothing here prints.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from ec2c.scanner.assessment.policy import Policy
from ec2c.scanner.contract import REPORT_PREFIX
from ec2c.scanner.reports.reader import Report
from ec2c.scanner.reports.security_hub import ImportResult
from ec2c.scanner.run.scanner import scan as scanner_scan
from ec2c.scanner.storage import Store

from ..errors import OperationFailed
from .aws import caller_account, check_aws_environment, describe_aws_error, make_session, region_origin
from .hub import import_report
from .policy import load_policy_document, read_policy_file, rule_severities
from .regions import known_regions, validate_regions
from .store import check_same_account, report_store, unreadable_as_failure

ProgressCallback = Callable[[str, int], None]
"""The scanner's `on_progress(stage, count)`."""


class ScanFeedback(Protocol):
    """What a scan shows while it runs, supplied by the command line."""

    def note(self, text: str) -> None:
        """A line about what is scanned (the demo's fleet)."""

    def seeding(self) -> contextlib.AbstractContextManager[object]:
        """Held while the demo fleet is seeded into moto."""

    def progress(self) -> contextlib.AbstractContextManager[ProgressCallback | None]:
        """Held while the scan runs; yields the scanner's progress callback, or None."""


@dataclass(frozen=True)
class ScanRequest:
    """What `ec2c scan` was asked to do (the regions parsed, not yet checked)."""

    demo: bool = False
    regions: tuple[str, ...] = ()
    policy: Path | None = None
    folder: Path | None = None
    region_workers: int = 4
    security_hub: bool = False


@dataclass(frozen=True)
class ScanResult:
    """A finished scan: its report (streamed from `store`, open while `local_scan` is), the regions
    scanned, the Security Hub region and import (with --security-hub), each rule's severity."""

    report: Report
    store: Store
    regions: tuple[str, ...]
    hub_region: str
    severities: dict[str, str]
    imported: ImportResult | None = None


def scan_policy(request: ScanRequest) -> Policy:
    """The policy file's, the demo's, or the scanner's default policy, validated."""
    if request.policy is not None:
        document, source = read_policy_file(request.policy)
    elif request.demo:
        document, source = _demo().demo_policy(), "demo policy"
    else:
        document, source = None, "default policy"
    return load_policy_document(document, source)


@contextlib.contextmanager
def local_scan(request: ScanRequest, feedback: ScanFeedback) -> Iterator[ScanResult]:
    """Check the input, scan into the store, import into Security Hub if asked; the result is
    yielded with its store still open (the outputs stream from it), and a stored object that
    cannot be read, while scanning or while the caller writes, is one line."""
    regions = list(request.regions)
    if not request.demo:
        check_aws_environment(os.environ)
    if regions:
        validate_regions(regions, known_regions())
    if request.demo:
        regions = regions or list(_demo().DEMO_REGIONS)
    policy = scan_policy(request)

    with unreadable_as_failure(), report_store(request.folder) as (store, previous):
        with _session_for(request.demo, regions, feedback) as (session, regions, account_id):
            check_same_account(request.folder, previous, account_id)
            with feedback.progress() as on_progress:
                report = _run_scan(
                    session, regions, policy, account_id, request.region_workers, store, previous, on_progress
                )
            hub_region = session.region_name or regions[0]
            imported = _security_hub(session, report, hub_region, request.demo) if request.security_hub else None
        yield ScanResult(report, store, tuple(regions), hub_region, rule_severities(policy), imported)


def _demo() -> Any:
    """The demo package: imported only for --demo, since importing moto installs its botocore hook."""
    from .. import demo

    return demo


@contextlib.contextmanager
def _session_for(demo: bool, regions: list[str], feedback: ScanFeedback) -> Iterator[tuple[Any, list[str], str | None]]:
    """The demo's moto session, or the caller's (its region the SDK's when none was given, its
    credentials proven by STS before anything is scanned)."""
    if demo:
        module = _demo()
        with contextlib.ExitStack() as stack:
            with feedback.seeding():
                session, fleet = stack.enter_context(module.demo_session(regions))
            counts = ", ".join(f"{r} {n}" for r, n in fleet.counts_per_region.items())
            feedback.note(f"Demo: a moto fleet of {len(fleet.instances)} instances ({counts}); no AWS account is used.")
            yield session, regions, module.DEMO_ACCOUNT_ID
        return

    session = make_session()
    if not regions:
        if not session.region_name:
            raise OperationFailed(describe_aws_error(NoRegionError()))
        regions = [session.region_name]
        validate_regions(regions, known_regions(), origin=region_origin(session))
    account_id = caller_account(session, regions[0])
    yield session, regions, account_id


def _run_scan(
    session: Any,
    regions: list[str],
    policy: Policy,
    account_id: str | None,
    region_workers: int,
    store: Store,
    previous: Report | None,
    on_progress: ProgressCallback | None,
) -> Report:
    """The Lambda's own scan, into `store`, diffed against `previous`."""
    try:
        return scanner_scan(
            session,
            regions,
            policy,
            store,
            account_id=account_id,
            on_progress=on_progress,
            previous=previous,
            region_workers=region_workers,
        )
    except (BotoCoreError, ClientError) as exc:
        raise OperationFailed(f"scan failed: {describe_aws_error(exc)}") from None
    except OSError as exc:  # the folder's disk or permissions, under --output DIR/ or the temporary one
        where = exc.filename or store.uri(REPORT_PREFIX.rstrip("/"))
        raise OperationFailed(f"{where}: cannot store the report: {exc.strerror or exc}") from None


def _security_hub(session: Any, report: Report, hub_region: str, demo: bool) -> ImportResult:
    if demo:  # the demo's moto account starts without a hub, as a new AWS account does
        session.client("securityhub", region_name=hub_region).enable_security_hub()
    return import_report(session, report, hub_region)
