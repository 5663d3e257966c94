"""`ec2c scan --security-hub`: import a fresh report's findings into Security Hub.

Security Hub itself says what was reported before: this tool's ACTIVE findings in the hub that
the scan no longer finds, and could vouch for (a region read completely, the rule's data read,
the rule evaluated on the resource), are sent back ARCHIVED and RESOLVED. (The Lambda, and a scan
into a folder that holds the previous run, also archive through the report's own diff: those
findings come from `to_asff` already.)

Nothing here holds the report: the findings stream from its shards into the import (100 per
call), twice (once to know the current ids, once to import). The current ids are kept as 64-bit
integers (the first 16 hex digits of each ASFF `Id`, a SHA-256: eight bytes a finding instead of
a 64-character string), the hub's ACTIVE findings are read a page at a time, and only the ones
gone are kept, to be archived.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from itertools import chain
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ec2c.scanner.reports.asff import to_asff
from ec2c.scanner.reports.reader import Report
from ec2c.scanner.reports.security_hub import (
    ImportResult,
    active_findings,
    archived,
    describe,
    import_findings,
    resolved_since,
)

from ..errors import OperationFailed


class FindingIds(Collection[str]):
    """ASFF finding ids as a set of 64-bit digests: `id in ids` digests the id it is asked about.
    Only membership is asked for (`security_hub.resolved_since`); the ids themselves are not kept,
    so they cannot be listed. An id that is not hex (never one of this tool's) is kept as is."""

    def __init__(self, ids: Iterable[str]) -> None:
        self._digests: set[int | str] = {digest(uid) for uid in ids}

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, str) and digest(uid) in self._digests

    def __iter__(self) -> Iterator[str]:
        raise TypeError("FindingIds holds digests, not the ids themselves")

    def __len__(self) -> int:
        return len(self._digests)


def digest(uid: str) -> int | str:
    """The first 64 bits of a hex id (a `finding_id` is a SHA-256), else the id itself."""
    try:
        return int(uid[:16], 16)
    except ValueError:
        return uid


def import_report(session: Any, report: Report, hub_region: str) -> ImportResult:
    """Import the findings and archive the resolved ones."""
    account_id = report.index["account_id"]
    if not account_id:
        raise OperationFailed("--security-hub: the report has no account id to import findings under")
    client = session.client("securityhub", region_name=hub_region)
    current = FindingIds(finding["Id"] for finding in to_asff(report, hub_region))
    lookup_error = None
    try:
        gone = resolved_since(active_findings(client, hub_region, account_id), current, report.unproven())
    except (ClientError, BotoCoreError) as exc:
        gone, lookup_error = [], f"GetFindings: {describe(exc)} (resolved findings not archived)"
    updated_at = report.index["generated_at"]
    outcome = import_findings(client, chain(to_asff(report, hub_region), (archived(f, updated_at) for f in gone)))
    if lookup_error:
        outcome.call_errors.insert(0, lookup_error)
    outcome.archived = len(gone) + report.index["resolved_findings"]  # the report's own diff's too
    return outcome
