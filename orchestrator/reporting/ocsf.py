"""OCSF view of a scan report: one OCSF 1.5.0 Detection Finding event per failure.

Why: security data lakes and SIEMs (Amazon Security Lake, Splunk, Sentinel, ...) ingest OCSF
natively, so emitting it lets them take our findings without a custom parser. Like the CSV and
ASFF outputs this works from a `ec2c.scanner.reports.reader.Report` alone (any schema `load_report`
reads), so a report loaded back from S3 converts exactly like a fresh one. The events are yielded
one at a time as the report's failures stream from its shards: a writer puts each in the output
and drops it, so no list of every event (or finding) is ever built.

Version: OCSF **1.5.0**, the schema version py-ocsf-models 0.10 targets (`OCSF_VERSION`); the tests
validate every event against its `DetectionFinding` model. py-ocsf-models is a dev-only dependency,
so this module builds plain dicts and does not import it.

What is converted: every failure of the report (`Report.failures`), i.e. the
instance, launch template and security group findings, then the account guardrail results that
FAIL (suppressed ones included, as for findings). An account guardrail that passes or was skipped
is no finding.

Mapping decisions (class 2004 Detection Finding, category 2 Findings, cloud profile):

- `activity_id`: 1 Create when the finding is first seen in this report (`first_seen` equals the
  report's `generated_at`, or is missing), 2 Update when an earlier report already listed it
  (`first_seen` < `generated_at`). `finding_info.uid` (the report's stable `finding_id`) is the
  same across runs, so a consumer sees one finding created once and updated by later scans.
  `type_uid` = 2004 * 100 + `activity_id`.
- `time` is the report's `generated_at` (epoch milliseconds); `finding_info.first_seen_time` and
  `created_time` are `first_seen`, `last_seen_time` is `generated_at`.
- `status_id`: 3 Suppressed (reason in `status_detail`) for suppressed findings, else 1 New: the
  scanner does not track triage, which OCSF leaves to the consumer. `status_code` keeps the
  report's own status (`FAIL`).
- `severity_id`: critical 5, high 4, medium 3, low 2, informational 1; anything else is 99 Other
  with the source value kept in `severity`.
- `finding_info.analytic` is the rule (type Rule, uid = name = rule id); `finding_info.types` is the
  rule id too.
- `resources[0]`: uid = the ARN, type the CloudFormation/ASFF name of the report's `resource_type`
  (`AWS::EC2::Instance`, `AWS::EC2::LaunchTemplate`, `AWS::EC2::SecurityGroup`, or `AWS::::Account`
  for an account guardrail, whose ARN is the account's `arn:<partition>:iam::<account>:root`),
  name = the resource id (the instance id, the launch template id, the group id, the account id), region, partition (from the ARN), tags as
  `key=value` `labels` and, lossless, as a mapping in `data.tags`.
- `cloud`: provider `AWS`, the finding's region and account (type AWS Account).
- `remediation.desc` is the rule's remediation text; `risk_details` is its risk.
- Detection Finding 1.5.0 has no `compliance` object (that belongs to class 2003 Compliance
  Finding), so the control mappings go to `unmapped.compliance` as {standard: [control ids]}, next
  to `severity_reason`, `remediation_cli` and `remediation_pulumi`, which OCSF has no place for.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ec2c.scanner.documents import ReportIndex
from ec2c.scanner.registry import INSTANCE, RESOURCE_TYPES, SEVERITIES, Severity
from ec2c.scanner.reports.reader import Report
from ec2c.scanner.rules.mappings import compliance_controls

OCSF_VERSION = "1.5.0"
"""The OCSF schema version these events follow (the one py-ocsf-models targets)."""

PRODUCT_NAME = "ec2-compliance"
VENDOR_NAME = "ec2-compliance"

CLASS_UID = 2004
CLASS_NAME = "Detection Finding"
CATEGORY_UID = 2
CATEGORY_NAME = "Findings"
ACTIVITY_CREATE = 1
ACTIVITY_UPDATE = 2
_ACTIVITY_NAMES = {ACTIVITY_CREATE: "Create", ACTIVITY_UPDATE: "Update"}

SEVERITY_IDS: dict[str, int] = {severity.value: severity.ocsf_id for severity in SEVERITIES}
_SEVERITY_OTHER = 99

STATUS_NEW = 1
STATUS_SUPPRESSED = 3

ANALYTIC_TYPE_RULE = 1
ACCOUNT_TYPE_AWS = 10
OCSF_RESOURCE_TYPES: dict[str, str] = {kind.key: kind.ocsf_type for kind in RESOURCE_TYPES}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ocsf(report: Report) -> Iterator[dict[str, Any]]:
    """One OCSF Detection Finding event (a JSON-ready dict) per failure of the report, findings
    then failing account findings, yielded as they stream. A schema 1 finding (no `finding_id`)
    is a ValueError when it is reached."""
    index = report.index
    generated_ms = _epoch_ms(index["generated_at"])
    product_version = _product_version()
    for finding in report.failures():
        yield _event(index, finding, generated_ms, product_version)


def _event(index: ReportIndex, finding: Mapping[str, Any], generated_ms: int, product_version: str) -> dict[str, Any]:
    if "finding_id" not in finding:
        raise ValueError("OCSF output needs a schema 2 or later report (its findings have no finding_id)")
    first_seen_ms = _epoch_ms(finding["first_seen"]) if finding.get("first_seen") else generated_ms
    activity_id = ACTIVITY_UPDATE if first_seen_ms < generated_ms else ACTIVITY_CREATE
    severity = Severity.lookup(finding.get("severity"))
    rule_id = finding["rule_id"]
    region = finding.get("region")
    account_id = finding.get("account_id") or index["account_id"]

    event: dict[str, Any] = {
        "category_uid": CATEGORY_UID,
        "category_name": CATEGORY_NAME,
        "class_uid": CLASS_UID,
        "class_name": CLASS_NAME,
        "activity_id": activity_id,
        "activity_name": _ACTIVITY_NAMES[activity_id],
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": f"{CLASS_NAME}: {_ACTIVITY_NAMES[activity_id]}",
        "time": generated_ms,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": f"{index['run_id']}/{finding['finding_id']}",
            "event_code": rule_id,
            "profiles": ["cloud"],
            "product": {
                "name": PRODUCT_NAME,
                "vendor_name": VENDOR_NAME,
                "version": product_version,
            },
        },
        "message": finding.get("message"),
        "finding_info": {
            "uid": finding["finding_id"],
            "title": finding.get("title") or rule_id,
            "desc": finding.get("message"),
            "types": [rule_id],
            "analytic": {
                "uid": rule_id,
                "name": rule_id,
                "desc": finding.get("title"),
                "type": "Rule",
                "type_id": ANALYTIC_TYPE_RULE,
            },
            "created_time": first_seen_ms,
            "first_seen_time": first_seen_ms,
            "last_seen_time": generated_ms,
        },
        "severity_id": severity.ocsf_id if severity is not None else _SEVERITY_OTHER,
        "severity": severity.value.capitalize() if severity is not None else finding.get("severity"),
        "status_code": finding.get("status"),
        "resources": [_resource(finding)],
        "cloud": _cloud(region, account_id),
    }
    if finding.get("suppressed"):
        event["status_id"] = STATUS_SUPPRESSED
        event["status"] = "Suppressed"
        event["status_detail"] = finding.get("suppression_reason") or "suppressed by the compliance policy"
    else:
        event["status_id"] = STATUS_NEW
        event["status"] = "New"
    if finding.get("remediation"):
        event["remediation"] = {"desc": finding["remediation"], "references": []}
    if finding.get("risk"):
        event["risk_details"] = finding["risk"]
    unmapped = _unmapped(finding)
    if unmapped:
        event["unmapped"] = unmapped
    return _drop_none(event)


def _resource(finding: Mapping[str, Any]) -> dict[str, Any]:
    arn = finding.get("resource_arn")
    tags = {str(k): str(v) for k, v in (finding.get("tags") or {}).items()}
    resource_type = finding.get("resource_type") or INSTANCE
    return {
        "uid": arn,
        "name": finding.get("resource_id") or finding.get("instance_id"),
        "type": OCSF_RESOURCE_TYPES.get(resource_type, resource_type),
        "region": finding.get("region"),
        "cloud_partition": arn.split(":")[1] if arn and arn.count(":") >= 5 else None,
        "labels": [f"{key}={value}" for key, value in tags.items()],
        "data": {"tags": tags},
    }


def _cloud(region: str | None, account_id: str | None) -> dict[str, Any]:
    cloud: dict[str, Any] = {"provider": "AWS", "region": region}
    if account_id:
        cloud["account"] = {
            "uid": account_id,
            "name": account_id,
            "type": "AWS Account",
            "type_id": ACCOUNT_TYPE_AWS,
        }
    return cloud


def _unmapped(finding: Mapping[str, Any]) -> dict[str, Any]:
    unmapped: dict[str, Any] = {}
    compliance = compliance_controls(finding.get("mappings") or {})
    if compliance:
        unmapped["compliance"] = compliance
    for key in ("severity_reason", "remediation_cli", "remediation_pulumi"):
        if finding.get(key):
            unmapped[key] = finding[key]
    return unmapped


def _epoch_ms(value: str | datetime) -> int:
    """ISO 8601 (a trailing `Z` included; naive means UTC) to epoch milliseconds."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _product_version() -> str:
    try:
        return importlib.metadata.version(PRODUCT_NAME)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _drop_none(value: Any) -> Any:
    """Leave out attributes without a value rather than writing nulls."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
