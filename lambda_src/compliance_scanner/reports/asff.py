"""The report's findings in the AWS Security Finding Format (ASFF), for Security Hub.

Findings are imported under the account's own default product
(`arn:<partition>:securityhub:<region>:<account>:product/<account>/default`) of one hub region:
BatchImportFindings only accepts the product of the region it is called in, so findings about
instances in every scanned region go to that one hub, each resource naming its own region (the
finding's top-level `Region` is Security Hub's to set, not the importer's). The ASFF
`Id` is the report's `finding_id`, so a re-import updates the same Security Hub finding rather
than piling up duplicates: failures stay ACTIVE (suppressed ones with workflow SUPPRESSED and the
reason as a note), and findings resolved since the previous run are sent once more as ARCHIVED
with workflow RESOLVED.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..identity import finding_id, partition_of, resource_arn
from ..registry import ACCOUNT, INSTANCE, RESOURCE_TYPES, Severity
from ..rules.mappings import compliance_controls
from .reader import Report

SCHEMA_VERSION = "2018-10-08"
GENERATOR_PREFIX = "ec2-compliance/"
FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices"
PRODUCT_NAME = "ec2-compliance"
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 1024
TEXT_LIMIT = 512
REQUIREMENTS_LIMIT = 32
_RESOURCE_TYPES = {kind.key: kind.asff_type for kind in RESOURCE_TYPES}


def product_arn(region: str, account_id: str) -> str:
    return f"arn:{partition_of(region)}:securityhub:{region}:{account_id}:product/{account_id}/default"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def related_requirements(mappings: Mapping[str, str]) -> list[str]:
    """`<standard>/<control>` per mapped control (a CIS entry, one per benchmark version)."""
    return [f"{standard}/{control}" for standard, ids in compliance_controls(mappings).items() for control in ids][
        :REQUIREMENTS_LIMIT
    ]


def _identity(finding: Mapping[str, Any], account_id: str) -> tuple[str, str, str]:
    """(finding id, resource id, ARN), derived for schema 1 findings that lack them."""
    resource_id = finding.get("resource_id") or finding["instance_id"]
    uid = finding.get("finding_id") or finding_id(account_id, finding["region"], resource_id, finding["rule_id"])
    arn = finding.get("resource_arn") or resource_arn(finding["region"], account_id, INSTANCE, resource_id)
    return uid, resource_id, arn


def to_asff_finding(
    finding: Mapping[str, Any], *, account_id: str, hub_region: str, generated_at: str, resolved: bool = False
) -> dict[str, Any]:
    """One ASFF finding; `resolved` turns a previous failure into its archived, resolved form."""
    region = finding["region"]
    uid, resource_id, arn = _identity(finding, account_id)
    suppressed = bool(finding.get("suppressed")) and not resolved
    document: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": uid,
        "ProductArn": product_arn(hub_region, account_id),
        "ProductName": PRODUCT_NAME,
        "CompanyName": PRODUCT_NAME,
        "GeneratorId": GENERATOR_PREFIX + finding["rule_id"],
        "AwsAccountId": account_id,
        "Types": [FINDING_TYPE],
        "CreatedAt": finding.get("first_seen") or generated_at,
        "UpdatedAt": generated_at,
        "Severity": {"Label": str(finding.get("severity", Severity.INFORMATIONAL)).upper()},
        "Title": _clip(str(finding.get("title") or finding["rule_id"]), TITLE_LIMIT),
        "Description": _clip(str(finding.get("message") or ""), DESCRIPTION_LIMIT) or finding["rule_id"],
        "Resources": [
            {
                "Type": _RESOURCE_TYPES.get(finding.get("resource_type", INSTANCE), "Other"),
                "Id": f"AWS::::Account:{account_id}" if finding.get("resource_type") == ACCOUNT else arn,
                "Partition": partition_of(region),
                "Region": region,
                **({"Tags": dict(finding["tags"])} if finding.get("tags") else {}),
            }
        ],
        "Compliance": {
            "Status": "PASSED" if resolved else "FAILED",
            **({"RelatedRequirements": related_requirements(finding["mappings"])} if finding.get("mappings") else {}),
        },
        "RecordState": "ARCHIVED" if resolved else "ACTIVE",
        "Workflow": {"Status": "RESOLVED" if resolved else "SUPPRESSED" if suppressed else "NEW"},
        "ProductFields": {
            "ec2-compliance/RuleId": finding["rule_id"],
            "ec2-compliance/ResourceId": resource_id,
            **({"ec2-compliance/SeverityReason": finding["severity_reason"]} if finding.get("severity_reason") else {}),
        },
    }
    if finding.get("remediation"):
        recommendation = {"Text": _clip(str(finding["remediation"]), TEXT_LIMIT)}
        document["Remediation"] = {"Recommendation": recommendation}
    if suppressed:
        document["Note"] = {
            "Text": _clip(f"suppressed: {finding.get('suppression_reason') or 'no reason given'}", TEXT_LIMIT),
            "UpdatedBy": PRODUCT_NAME,
            "UpdatedAt": generated_at,
        }
    return document


def to_asff(report: Report, hub_region: str) -> Iterator[dict[str, Any]]:
    """Every FAIL of the report as an ACTIVE finding, then its resolved findings (failures of the
    previous report gone now, where the scan could vouch for it) as ARCHIVED ones, streamed."""
    account_id = report.index["account_id"]
    if not account_id:
        raise ValueError("ASFF needs the report's account_id (an AWS account id)")
    return findings_to_asff(
        report.failures(), report.resolved_findings(), account_id, hub_region, report.index["generated_at"]
    )


def findings_to_asff(
    failures: Iterable[Mapping[str, Any]],
    resolved: Iterable[Mapping[str, Any]],
    account_id: str,
    hub_region: str,
    generated_at: str,
) -> Iterator[dict[str, Any]]:
    """Failures as ACTIVE findings, then resolved ones as ARCHIVED: a full report's, or a change
    record's (the failures of the resources it re-evaluated, and those it saw fixed)."""
    for finding in failures:
        yield to_asff_finding(finding, account_id=account_id, hub_region=hub_region, generated_at=generated_at)
    for finding in resolved:
        yield to_asff_finding(
            finding, account_id=account_id, hub_region=hub_region, generated_at=generated_at, resolved=True
        )
