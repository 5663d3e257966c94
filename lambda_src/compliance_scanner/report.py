"""The report document (schema_version 2), its CSV form, its S3 key and the run-to-run diff.

All pure functions over plain dicts, so the orchestrator, the Lambda and tests share them and a
report loaded back from S3 works exactly like a fresh one.

Each finding carries what a triager needs without the catalogue at hand: a `finding_id` stable
across runs, the resource ARN, account and region, `first_seen` (carried over from the previous
report), and the rule's risk, remediation (text, AWS CLI, Pulumi) and compliance mappings.
`docs/report-schema.md` documents every field.

`findings` lists only FAIL results (suppressed ones included, marked `suppressed`); passes are
only counted in `summary.by_rule`, which keeps a report of thousands of instances small. In
`by_rule`, `failed` counts every FAIL and `suppressed` the part of them that a suppression covers;
`by_severity` and `non_compliant_instances` count only unsuppressed FAILs. `skipped` counts rules
that could not be evaluated because their data was not collected (see `errors`) or that do not
apply. An instance without an active FAIL but with a rule left unevaluated for lack of data is
neither compliant nor not: it is counted in `unevaluated_instances`, and `compliance_rate` is
taken over evaluated instances only (null when there are none, e.g. every region failed).

A failure is only ever called resolved on evidence: `unproven` says which (region, resource, rule)
a report cannot vouch for, so neither the diff nor a Security Hub archive mistakes "not looked
at" for "fixed".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .contract import REPORT_PREFIX, SCHEMA_VERSION
from .evaluation import Outcome
from .identity import ACCOUNT, INSTANCE, RESOURCE_TYPES, finding_id, resource_arn
from .model import FAIL, PASS, SEVERITIES, SKIPPED, InstanceRecord, ScanError
from .policy import Policy
from .rules import CATALOGUE

CSV_COLUMNS = (
    "instance_id",
    "region",
    "rule_id",
    "title",
    "severity",
    "status",
    "suppressed",
    "suppression_reason",
    "message",
    "tags",
    "finding_id",
    "resource_type",
    "resource_arn",
    "account_id",
    "first_seen",
    "severity_reason",
    "risk",
    "remediation",
    "remediation_cli",
    "mappings",
)
"""Schema 1's columns first, in their order, so existing spreadsheets and parsers keep working."""
_COUNTERS = {PASS: "passed", FAIL: "failed", SKIPPED: "skipped"}
_FORMULA_PREFIXES = ("=", "+", "-", "@")


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _finding(outcome: Outcome, account_id: str | None, seen_at: str) -> dict[str, Any]:
    resource = outcome.resource
    rule = CATALOGUE[outcome.rule_id]
    account = resource.account_id or account_id
    kind, resource_id = resource.resource_type, resource.resource_id
    return {
        "finding_id": finding_id(account, resource.region, resource_id, outcome.rule_id),
        "resource_type": kind,
        "resource_id": resource_id,
        "resource_arn": resource_arn(resource.region, account, kind, resource_id),
        "account_id": account,
        "instance_id": resource_id if kind == INSTANCE else None,
        "region": resource.region,
        "rule_id": outcome.rule_id,
        "title": outcome.title,
        "severity": outcome.severity,
        "severity_reason": outcome.severity_reason,
        "status": outcome.result.status,
        "suppressed": outcome.suppression is not None,
        "suppression_reason": outcome.suppression.reason if outcome.suppression else None,
        "message": outcome.result.message,
        "tags": dict(resource.tags),
        "first_seen": seen_at,
        "risk": rule.risk,
        "remediation": rule.remediation,
        "remediation_cli": rule.remediation_cli.format(resource_id=resource_id, region=resource.region),
        "remediation_pulumi": rule.remediation_pulumi,
        "mappings": dict(rule.mapping),
    }


def _summary(
    instances: Sequence[InstanceRecord], outcomes: Sequence[Outcome], rule_ids: Iterable[str]
) -> dict[str, Any]:
    """Rule and severity counts over every resource type; the instance counts and the compliance
    rate over instances only (a guardrail is not an instance), the other types counted apart in
    `by_resource_type`."""
    by_rule = {
        rule_id: {"failed": 0, "passed": 0, "suppressed": 0, "skipped": 0} for rule_id in rule_ids
    }
    by_severity = dict.fromkeys(SEVERITIES, 0)
    evaluated: dict[str, set[tuple[str, str]]] = {kind: set() for kind in RESOURCE_TYPES}
    failing: dict[str, set[tuple[str, str]]] = {kind: set() for kind in RESOURCE_TYPES}
    unknown: set[tuple[str, str]] = set()
    for outcome in outcomes:
        counts = by_rule[outcome.rule_id]
        counts[_COUNTERS[outcome.result.status]] += 1
        kind = outcome.resource.resource_type
        key = (outcome.resource.region, outcome.resource.resource_id)
        evaluated[kind].add(key)
        if outcome.suppression is not None:
            counts["suppressed"] += 1
        if outcome.active_failure:
            by_severity[outcome.severity] += 1
            failing[kind].add(key)
        elif outcome.result.status == SKIPPED and outcome.result.applicable and kind == INSTANCE:
            unknown.add(key)
    non_compliant = failing[INSTANCE]
    total = len(instances)
    unevaluated = len(unknown - non_compliant)
    compliant = total - len(non_compliant) - unevaluated
    rated = compliant + len(non_compliant)
    return {
        "total_instances": total,
        "compliant_instances": compliant,
        "non_compliant_instances": len(non_compliant),
        "unevaluated_instances": unevaluated,
        "compliance_rate": round(100.0 * compliant / rated, 2) if rated else None,
        "by_rule": by_rule,
        "by_severity": by_severity,
        "by_resource_type": {
            kind: {
                "evaluated": total if kind == INSTANCE else len(evaluated[kind]),
                "non_compliant": len(failing[kind]),
            }
            for kind in RESOURCE_TYPES
        },
    }


def _severity_order(finding: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        SEVERITIES.index(finding["severity"]),
        finding["rule_id"],
        finding["region"],
        finding["resource_id"],
    )


def _account_order(finding: Mapping[str, Any]) -> tuple[Any, ...]:
    """Failures first, by severity; then the rest, by rule and region."""
    return (finding["status"] != FAIL, SEVERITIES.index(finding["severity"]), finding["rule_id"], finding["region"])


def failures(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every FAIL of a report, instance and launch template findings then account guardrails:
    what the gate, the alert and the exported formats (CSV, ASFF, OCSF, HTML) act on."""
    return [*report.get("findings", []), *(f for f in report.get("account_findings", []) if f.get("status") == FAIL)]


def build_report(
    *,
    run_id: str,
    generated_at: datetime,
    account_id: str | None,
    regions: Sequence[str],
    policy: Policy,
    instances: Sequence[InstanceRecord],
    outcomes: Sequence[Outcome],
    errors: Sequence[ScanError],
    partial_reason: str | None = None,
    incomplete_regions: Sequence[str] = (),
) -> dict[str, Any]:
    """The report document without a diff (`new_findings`/`resolved_findings` come from `diff`).

    Any incomplete region makes the report partial: a region that could not be read must never
    pass for a clean one.
    """
    generated = iso_utc(generated_at)
    findings = [
        _finding(outcome, account_id, generated)
        for outcome in outcomes
        if outcome.result.status == FAIL and outcome.resource.resource_type != ACCOUNT
    ]
    account_findings = [
        _finding(outcome, account_id, generated)
        for outcome in outcomes
        if outcome.resource.resource_type == ACCOUNT
    ]
    error_documents = [error.to_document() for error in errors]
    unread = _unread_actions(error_documents)
    unevaluated = [
        _unevaluated(outcome)
        for outcome in outcomes
        if outcome.result.status == SKIPPED
        and outcome.result.applicable
        and outcome.resource.resource_type != ACCOUNT
        and not _rule_unread(unread, outcome.resource.region, outcome.rule_id)
    ]
    if partial_reason is None and incomplete_regions:
        partial_reason = f"regions not fully scanned: {', '.join(incomplete_regions)} (see errors)"
    today = generated_at.astimezone(UTC).date()
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "generated_at": generated,
        "account_id": account_id,
        "regions": list(regions),
        "incomplete_regions": list(incomplete_regions),
        "partial": partial_reason is not None,
        "partial_reason": partial_reason,
        "policy": {
            "enabled_rules": policy.enabled_rule_ids(),
            "alert_threshold": policy.alert_threshold,
            "alert_on_new_findings": policy.alert_on_new_findings,
            "reachability_grading": policy.reachability_grading,
            "suppressions": len(policy.suppressions),
        },
        "summary": _summary(instances, outcomes, policy.enabled_rule_ids()),
        "findings": sorted(findings, key=_severity_order),
        "account_findings": sorted(account_findings, key=_account_order),
        "errors": error_documents,
        "unevaluated_resources": sorted(unevaluated, key=lambda u: (u["region"], u["resource_id"], u["rule_id"])),
        "expired_suppressions": [
            s.to_document() for s in policy.suppressions if s.expired(today)
        ],
        "new_findings": [],
        "resolved_findings": [],
    }


FindingKey = tuple[str, str, str]


def finding_key(finding: Mapping[str, Any]) -> FindingKey:
    """(region, resource, rule): what identifies a finding in schema 1 and 2 reports alike (a v1
    finding has no `resource_id`, and a report covers a single account)."""
    resource = finding.get("resource_id") or finding["instance_id"]
    return finding["region"], resource, finding["rule_id"]


def _active(report: Mapping[str, Any]) -> dict[FindingKey, Mapping[str, Any]]:
    return {finding_key(f): f for f in failures(report) if f.get("status") == FAIL and not f.get("suppressed")}


def scanned_regions(report: Mapping[str, Any]) -> set[str]:
    """Regions the report read completely: the only ones where a missing finding means fixed."""
    return set(report.get("regions", [])) - set(report.get("incomplete_regions", []))


def _unevaluated(outcome: Outcome) -> dict[str, str]:
    resource = outcome.resource
    return {"region": resource.region, "resource_type": resource.resource_type,
            "resource_id": resource.resource_id, "rule_id": outcome.rule_id, "message": outcome.result.message}


def _unread_actions(errors: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    return {(str(error.get("region")), str(error.get("operation"))) for error in errors}


def _rule_unread(unread: set[tuple[str, str]], region: str, rule_id: str) -> bool:
    """A read the rule needs failed for the whole region (the report's `errors` say so)."""
    rule = CATALOGUE.get(rule_id)
    return rule is not None and any((region, action) in unread for action in rule.iam_actions)


def unproven(report: Mapping[str, Any]) -> Callable[[FindingKey], bool]:
    """Whether `report` cannot tell that a failure (region, resource, rule) was fixed.

    True when the region was not read completely; when a read the rule needs failed there (an
    instance whose volumes could not be listed has not been fixed); or when the rule was left
    unevaluated on that one resource (a security group deleted between two calls, an account
    guardrail SKIPPED). Only outside those cases does a missing failure mean a fix.
    """
    scanned = scanned_regions(report)
    unread = _unread_actions(report.get("errors", []))
    unevaluated = {
        (u.get("region"), u.get("resource_id"), u.get("rule_id")) for u in report.get("unevaluated_resources", [])
    } | {finding_key(f) for f in report.get("account_findings", []) if f.get("status") == SKIPPED}

    def cannot_tell(key: FindingKey) -> bool:
        region, _, rule_id = key
        return region not in scanned or _rule_unread(unread, region, rule_id) or key in unevaluated

    return cannot_tell


def diff(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, list[Any]]:
    """New and resolved unsuppressed FAILs, keyed by `finding_key`.

    Without a previous report every current failure is new. A previous failure is resolved only
    when the current report could tell (`unproven`): an instance that simply was not looked at
    has not been fixed, and must not be archived in Security Hub as if it had.
    """
    now = _active(current)
    before = _active(previous or {})
    cannot_tell = unproven(current)
    return {
        "new_findings": [dict(f) for key, f in now.items() if key not in before],
        "resolved_findings": [dict(f) for key, f in before.items() if key not in now and not cannot_tell(key)],
    }


def apply_history(report: dict[str, Any], previous: Mapping[str, Any] | None) -> None:
    """Carry `first_seen` over from the previous report and set the diff, in place.

    A finding the previous report already listed keeps that report's `first_seen`; one from a
    schema 1 report (which had no such field) was first seen no later than that report.
    """
    if previous is not None:
        earlier = {
            finding_key(f): f.get("first_seen") or previous.get("generated_at")
            for f in failures(previous)
        }
        for finding in failures(report):
            finding["first_seen"] = earlier.get(finding_key(finding)) or finding["first_seen"]
        report["previous_run_id"] = previous.get("run_id")
    report.update(diff(previous, report))


def _cell(value: Any) -> str:
    """Neutralize spreadsheet formulas: tag values are user input and CSVs get opened in Excel."""
    if isinstance(value, Mapping):
        value = ";".join(f"{key}={val}" for key, val in sorted(value.items()))
    elif isinstance(value, bool):
        value = str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def to_csv(report: Mapping[str, Any], leading: Sequence[str] = ()) -> str:
    """The findings as CSV, one row per finding, in the report's order; `leading` names extra
    finding fields to put first (the estate report's `target`)."""
    columns = (*leading, *CSV_COLUMNS)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for finding in failures(report):
        writer.writerow([_cell(finding.get(column)) for column in columns])
    return buffer.getvalue()


def report_key(report: Mapping[str, Any]) -> str:
    """`reports/<yyyy>/<mm>/<dd>/<run_id>.json`, dated by the report's generation time."""
    day = report["generated_at"][:10].replace("-", "/")
    return f"{REPORT_PREFIX}{day}/{report['run_id']}.json"
