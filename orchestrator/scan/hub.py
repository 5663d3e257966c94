"""`ec2c scan --security-hub`: import a fresh report's findings into Security Hub.

The CLI keeps no report history, so Security Hub itself says what was reported before: this
tool's ACTIVE findings in the hub that the scan no longer finds, and could vouch for (a region read
completely, the rule's data read, the rule evaluated on the resource), are sent back ARCHIVED and
RESOLVED. (The Lambda uses its stored report's diff instead.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import OperationFailed


def import_report(session: Any, report: Mapping[str, Any], hub_region: str) -> Any:
    """Import the findings and archive the resolved ones; returns the `ImportResult`."""
    from compliance_scanner.asff import to_asff
    from compliance_scanner.report import unproven
    from compliance_scanner.security_hub import (
        active_findings,
        archived,
        describe,
        import_findings,
        resolved_since,
    )

    account_id = report.get("account_id")
    if not account_id:
        raise OperationFailed("--security-hub: the report has no account id to import findings under")
    client = session.client("securityhub", region_name=hub_region)
    findings = to_asff(report, hub_region)
    lookup_error = None
    try:
        previous = active_findings(client, hub_region, account_id)
    except (ClientError, BotoCoreError) as exc:
        previous, lookup_error = [], f"GetFindings: {describe(exc)} (resolved findings not archived)"
    current = {finding["Id"] for finding in findings}
    gone = resolved_since(previous, current, unproven(report))
    outcome = import_findings(client, findings + [archived(f, report["generated_at"]) for f in gone])
    if lookup_error:
        outcome.call_errors.insert(0, lookup_error)
    outcome.archived = len(gone)
    return outcome
