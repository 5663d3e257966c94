"""Importing ASFF findings into Security Hub, and finding the ones a scan has resolved.

BatchImportFindings takes at most 100 findings a call and reports per-finding failures in a
successful response, so failures are counted and listed, never lost in a 200. A call that fails
as a whole (no hub enabled, access denied) is recorded and the remaining batches still go.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

from botocore.exceptions import BotoCoreError, ClientError

from .asff import GENERATOR_PREFIX, product_arn

if TYPE_CHECKING:
    from types_boto3_securityhub import SecurityHubClient
    from types_boto3_securityhub.type_defs import AwsSecurityFindingFiltersTypeDef, GetFindingsRequestTypeDef

BATCH_SIZE = 100
FINDINGS_PAGE_SIZE = 100


@dataclass
class ImportResult:
    """What BatchImportFindings accepted and refused, and the calls that failed outright."""

    imported: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    call_errors: list[str] = field(default_factory=list)
    archived: int = 0
    """How many of the imported findings were resolved ones sent back as ARCHIVED."""

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.call_errors

    def summary(self) -> str:
        text = f"Security Hub: {self.imported} finding(s) imported"
        if self.archived:
            text += f" ({self.archived} resolved, archived)"
        if self.failed:
            codes = sorted({f.get("ErrorCode", "?") for f in self.failures})
            text += f", {self.failed} refused ({', '.join(codes)})"
        if self.call_errors:
            text += f"; {len(self.call_errors)} call(s) failed: {self.call_errors[0]}"
        return text


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def describe(exc: Exception) -> str:
    """One line naming the error code and message (never the request, which holds findings)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return str(exc)


def import_findings(client: SecurityHubClient, findings: Iterable[dict[str, Any]]) -> ImportResult:
    """Import in batches of 100 into the client's region, as the findings stream in."""
    result = ImportResult()
    for batch in _batches(findings, BATCH_SIZE):
        try:
            response = client.batch_import_findings(Findings=batch)
        except (ClientError, BotoCoreError) as exc:
            result.failed += len(batch)
            result.call_errors.append(describe(exc))
            continue
        result.imported += response.get("SuccessCount", 0)
        result.failed += response.get("FailedCount", 0)
        result.failures += [
            {key: str(item.get(key, "")) for key in ("Id", "ErrorCode", "ErrorMessage")}
            for item in response.get("FailedFindings", [])
        ]
    return result


def active_findings(client: SecurityHubClient, hub_region: str, account_id: str) -> Iterator[Mapping[str, Any]]:
    """This tool's ACTIVE findings in the hub, a page at a time (the filters are re-checked here:
    they are a server-side convenience, and emulators ignore them)."""
    product = product_arn(hub_region, account_id)
    filters: AwsSecurityFindingFiltersTypeDef = {
        "ProductArn": [{"Value": product, "Comparison": "EQUALS"}],
        "GeneratorId": [{"Value": GENERATOR_PREFIX, "Comparison": "PREFIX"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
    }
    token = None
    while True:
        request: GetFindingsRequestTypeDef = {"Filters": filters, "MaxResults": FINDINGS_PAGE_SIZE}
        if token:
            request["NextToken"] = token
        response = client.get_findings(**request)
        yield from (
            f
            for f in response.get("Findings", [])
            if f.get("ProductArn") == product
            and str(f.get("GeneratorId", "")).startswith(GENERATOR_PREFIX)
            and f.get("RecordState") == "ACTIVE"
        )
        token = response.get("NextToken")
        if not token:
            return


def hub_key(finding: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(region, resource, rule) of a hub finding this tool imported, from its resource's region and
    its ProductFields; None when any is missing (such a finding is never archived)."""
    fields = finding.get("ProductFields") or {}
    resources = finding.get("Resources") or [{}]
    region, resource, rule = (
        resources[0].get("Region"),
        fields.get("ec2-compliance/ResourceId"),
        fields.get("ec2-compliance/RuleId"),
    )
    if _text(region) and _text(resource) and _text(rule):
        return region, resource, rule
    return None


def _text(part: object) -> TypeGuard[str]:
    return isinstance(part, str) and bool(part)


def resolved_since(
    active: Iterable[Mapping[str, Any]],
    current_ids: Collection[str],
    cannot_tell: Callable[[tuple[str, str, str]], bool],
) -> list[Mapping[str, Any]]:
    """Hub findings no longer failing: absent from the current findings, and about a (region,
    resource, rule) the scan could vouch for (`report.unproven`): a region that failed, a read
    that failed or a rule left unevaluated on the resource proves nothing."""
    gone = []
    for finding in active:
        key = hub_key(finding)
        if finding["Id"] not in current_ids and key is not None and not cannot_tell(key):
            gone.append(finding)
    return gone


_IMPORTABLE = (
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "Types",
    "CreatedAt",
    "Severity",
    "Title",
    "Description",
    "Resources",
    "Remediation",
)
"""The fields of a hub finding this tool set itself; Security Hub adds others (Region,
ProcessedAt, its own ProductFields ...) that an import must not send back."""


def archived(finding: Mapping[str, Any], updated_at: str) -> dict[str, Any]:
    """A hub finding re-sent as resolved: ARCHIVED, workflow RESOLVED, compliance PASSED."""
    own_fields = {k: v for k, v in finding.get("ProductFields", {}).items() if k.startswith(GENERATOR_PREFIX)}
    return {
        **{key: finding[key] for key in _IMPORTABLE if key in finding},
        "UpdatedAt": updated_at,
        "RecordState": "ARCHIVED",
        "Workflow": {"Status": "RESOLVED"},
        "Compliance": {**finding.get("Compliance", {}), "Status": "PASSED"},
        "ProductFields": own_fields,
    }
