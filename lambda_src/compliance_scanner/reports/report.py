"""The report's pure parts: a finding's document, the summary counted page by page, what a
report cannot vouch for, the CSV cells and the S3 keys of a run.

Each finding carries what a triager needs without the catalogue at hand: a `finding_id` stable
across runs, the resource ARN, account and region, `first_seen` (carried over from the previous
report), and the rule's risk, remediation (text, AWS CLI, Pulumi) and compliance mappings.
`docs/report-schema.md` documents every field.

Findings are only FAIL results (suppressed ones included, marked `suppressed`); passes are
only counted in `summary.by_rule`. In `by_rule`, `failed` counts every FAIL and `suppressed` the
part of them that a suppression covers; `by_severity` and `non_compliant_instances` count only
unsuppressed FAILs. `skipped` counts rules that could not be evaluated because their data was not
collected (see `errors`) or that do not apply. An instance without an active FAIL but with a rule
left unevaluated for lack of data is neither compliant nor not: it is counted in
`unevaluated_instances`, and `compliance_rate` is taken over evaluated instances only (null when
there are none, e.g. every region failed).

A failure is only ever called resolved on evidence: `cannot_tell` says which (region, resource,
rule) a report cannot vouch for, so neither the diff nor a Security Hub archive mistakes "not
looked at" for "fixed".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Literal

from ..assessment.evaluation import Outcome
from ..assessment.policy import Policy
from ..contract import REPORT_PREFIX, WORK_PREFIX
from ..documents import Finding, PolicyDocument, RuleCounts, Shards, Summary, Unevaluated
from ..identity import finding_id, resource_arn
from ..model import FAIL, PASS, SKIPPED
from ..registry import INSTANCE, RESOURCE_TYPE_KEYS, SEVERITY_NAMES, Severity
from ..rules import CATALOGUE

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
CountName = Literal["failed", "passed", "suppressed", "skipped"]
_COUNT_NAMES: tuple[CountName, ...] = ("failed", "passed", "suppressed", "skipped")
_COUNTERS: dict[str, CountName] = {PASS: "passed", FAIL: "failed", SKIPPED: "skipped"}
_FORMULA_PREFIXES = ("=", "+", "-", "@")


def finding_document(outcome: Outcome, account_id: str | None, seen_at: str) -> Finding:
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
        "severity": str(outcome.severity),
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


class SummaryCounter:
    """The summary, counted a page at a time and merged across regions (additive: a region's
    instances are its own). Rule and severity counts cover every resource type; the instance
    counts and the compliance rate cover instances only (a guardrail is not an instance), the
    other types counted apart in `by_resource_type`. Only the non-instance resources are
    remembered (to count each once), and those are bounded by their own numbers."""

    def __init__(self, rule_ids: Iterable[str]) -> None:
        self.by_rule: dict[str, RuleCounts] = {
            rule_id: {"failed": 0, "passed": 0, "suppressed": 0, "skipped": 0} for rule_id in rule_ids
        }
        self.by_severity = dict.fromkeys(SEVERITY_NAMES, 0)
        self.instances = 0
        self.non_compliant = 0
        self.unevaluated = 0
        self.evaluated: dict[str, set[tuple[str, str]]] = {
            kind: set() for kind in RESOURCE_TYPE_KEYS if kind != INSTANCE
        }
        self.failing: dict[str, set[tuple[str, str]]] = {kind: set() for kind in RESOURCE_TYPE_KEYS if kind != INSTANCE}

    def add(self, outcomes: Sequence[Outcome], instances: int = 0) -> None:
        """One page (or a region's other resources): its outcomes and how many instances it had."""
        self.instances += instances
        failing: set[tuple[str, str]] = set()
        unknown: set[tuple[str, str]] = set()
        for outcome in outcomes:
            counts = self.by_rule[outcome.rule_id]
            counts[_COUNTERS[outcome.result.status]] += 1
            kind = outcome.resource.resource_type
            key = (outcome.resource.region, outcome.resource.resource_id)
            if kind != INSTANCE:
                self.evaluated[kind].add(key)
            if outcome.suppression is not None:
                counts["suppressed"] += 1
            if outcome.active_failure:
                self.by_severity[outcome.severity] += 1
                (failing if kind == INSTANCE else self.failing[kind]).add(key)
            elif outcome.result.status == SKIPPED and outcome.result.applicable and kind == INSTANCE:
                unknown.add(key)
        self.non_compliant += len(failing)
        self.unevaluated += len(unknown - failing)

    def merge(self, other: SummaryCounter) -> None:
        for rule_id, counts in other.by_rule.items():
            mine = self.by_rule.setdefault(rule_id, {"failed": 0, "passed": 0, "suppressed": 0, "skipped": 0})
            for name in _COUNT_NAMES:
                mine[name] += counts[name]
        for severity, count in other.by_severity.items():
            self.by_severity[severity] += count
        self.instances += other.instances
        self.non_compliant += other.non_compliant
        self.unevaluated += other.unevaluated
        for kind in self.evaluated:
            self.evaluated[kind] |= other.evaluated[kind]
            self.failing[kind] |= other.failing[kind]

    def to_document(self) -> dict[str, Any]:
        """The counts as JSON, for a worker handing its region to a later invocation or to the
        aggregate step; `from_document` reads it back."""
        return {
            "by_rule": self.by_rule,
            "by_severity": self.by_severity,
            "instances": self.instances,
            "non_compliant": self.non_compliant,
            "unevaluated": self.unevaluated,
            "evaluated": {kind: sorted(map(list, keys)) for kind, keys in self.evaluated.items()},
            "failing": {kind: sorted(map(list, keys)) for kind, keys in self.failing.items()},
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> SummaryCounter:
        counter = cls(())
        counter.by_rule = {
            rule: RuleCounts(
                failed=counts["failed"],
                passed=counts["passed"],
                suppressed=counts["suppressed"],
                skipped=counts["skipped"],
            )
            for rule, counts in document["by_rule"].items()
        }
        counter.by_severity.update(document["by_severity"])
        counter.instances = document["instances"]
        counter.non_compliant = document["non_compliant"]
        counter.unevaluated = document["unevaluated"]
        for kind in counter.evaluated:
            counter.evaluated[kind] = {(region, rid) for region, rid in document["evaluated"].get(kind, [])}
            counter.failing[kind] = {(region, rid) for region, rid in document["failing"].get(kind, [])}
        return counter

    def summary(self) -> Summary:
        compliant = self.instances - self.non_compliant - self.unevaluated
        rated = compliant + self.non_compliant
        return {
            "total_instances": self.instances,
            "compliant_instances": compliant,
            "non_compliant_instances": self.non_compliant,
            "unevaluated_instances": self.unevaluated,
            "compliance_rate": round(100.0 * compliant / rated, 2) if rated else None,
            "by_rule": self.by_rule,
            "by_severity": self.by_severity,
            "by_resource_type": {
                kind: (
                    {"evaluated": self.instances, "non_compliant": self.non_compliant}
                    if kind == INSTANCE
                    else {"evaluated": len(self.evaluated[kind]), "non_compliant": len(self.failing[kind])}
                )
                for kind in RESOURCE_TYPE_KEYS
            },
        }


def severity_order(finding: Mapping[str, Any]) -> tuple[Any, ...]:
    """Most severe first, then by rule, region and resource: the order people read findings in."""
    return (
        Severity.rank_of(finding.get("severity")),
        finding["rule_id"],
        finding["region"],
        finding.get("resource_id") or finding.get("instance_id") or "",
    )


def account_order(finding: Mapping[str, Any]) -> tuple[Any, ...]:
    """Failures first, by severity; then the rest, by rule and region."""
    return (finding["status"] != FAIL, Severity.parse(finding["severity"]).rank, finding["rule_id"], finding["region"])


def policy_document(policy: Policy) -> PolicyDocument:
    return {
        "enabled_rules": policy.enabled_rule_ids(),
        "alert_threshold": policy.alert_threshold,
        "alert_on_new_findings": policy.alert_on_new_findings,
        "reachability_grading": policy.reachability_grading,
        "suppressions": len(policy.suppressions),
    }


def partial_reason(stopped: str | None, incomplete_regions: Sequence[str], unscanned: Sequence[str] = ()) -> str | None:
    """Why a report is partial, or None: any incomplete region makes it so (a region that could
    not be read must never pass for a clean one)."""
    if stopped is not None:
        return f"{stopped}; regions not scanned: {', '.join(unscanned)}" if unscanned else stopped
    if incomplete_regions:
        return f"regions not fully scanned: {', '.join(incomplete_regions)} (see errors)"
    return None


FindingKey = tuple[str, str, str]


def finding_key(finding: Mapping[str, Any]) -> FindingKey:
    """(region, resource, rule): what identifies a finding in every schema (a v1 finding has no
    `resource_id`, and a report covers a single account)."""
    resource = finding.get("resource_id") or finding["instance_id"]
    return finding["region"], resource, finding["rule_id"]


def unevaluated_document(outcome: Outcome) -> Unevaluated:
    resource = outcome.resource
    return {
        "region": resource.region,
        "resource_type": resource.resource_type,
        "resource_id": resource.resource_id,
        "rule_id": outcome.rule_id,
        "message": outcome.result.message,
    }


def unread_actions(errors: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(region, IAM action) of every read that failed."""
    return {(str(error.get("region")), str(error.get("operation"))) for error in errors}


def rule_unread(unread: set[tuple[str, str]], region: str, rule_id: str) -> bool:
    """A read the rule needs failed for the whole region (the report's `errors` say so)."""
    rule = CATALOGUE.get(rule_id)
    return rule is not None and any((region, action) in unread for action in rule.iam_actions)


def cannot_tell(
    scanned: Collection[str],
    errors: Iterable[Mapping[str, Any]],
    unevaluated: Iterable[Mapping[str, Any]],
    account_findings: Iterable[Mapping[str, Any]],
) -> Callable[[FindingKey], bool]:
    """Whether a report cannot tell that a failure (region, resource, rule) was fixed.

    True when the region was not read completely (not in `scanned`); when a read the rule needs
    failed there (an instance whose volumes could not be listed has not been fixed); or when the
    rule was left unevaluated on that one resource (a security group deleted between two calls,
    an account guardrail SKIPPED). Only outside those cases does a missing failure mean a fix.
    """
    regions = set(scanned)
    unread = unread_actions(errors)
    unknown = {(u.get("region"), u.get("resource_id"), u.get("rule_id")) for u in unevaluated} | {
        finding_key(f) for f in account_findings if f.get("status") == SKIPPED
    }

    def unproven(key: FindingKey) -> bool:
        region, _, rule_id = key
        return region not in regions or rule_unread(unread, region, rule_id) or key in unknown

    return unproven


def csv_cell(value: Any) -> str:
    """Neutralize spreadsheet formulas: tag values are user input and CSVs get opened in Excel."""
    if isinstance(value, Mapping):
        value = ";".join(f"{key}={val}" for key, val in sorted(value.items()))
    elif isinstance(value, bool):
        value = str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def csv_row(finding: Mapping[str, Any], columns: Sequence[str] = CSV_COLUMNS) -> list[str]:
    return [csv_cell(finding.get(column)) for column in columns]


def run_prefix(generated_at: str, run_id: str) -> str:
    """`reports/<yyyy>/<mm>/<dd>/<run_id>`, dated by the report's generation time."""
    return f"{REPORT_PREFIX}{generated_at[:10].replace('-', '/')}/{run_id}"


def report_key(index: Mapping[str, Any]) -> str:
    """The dated copy of a run's index: `reports/<yyyy>/<mm>/<dd>/<run_id>.json`."""
    return run_prefix(index["generated_at"], index["run_id"]) + ".json"


PART_SHARDS = ("findings", "csv", "new", "unevaluated")
"""The shards a region writes a page at a time, hence in parts when it takes several
invocations; `resolved` is only known at the region's end and is never in parts."""


def work_prefix(run_id: str, region: str) -> str:
    """`reports/work/<run_id>/<region>/`: a region's parts, continuation state and result."""
    return f"{WORK_PREFIX}{run_id}/{region}/"


def part_keys(run_id: str, region: str, part: int) -> dict[str, str]:
    """The keys of part `part` of a region's shards, by shard name (see `PART_SHARDS`)."""
    base = f"{work_prefix(run_id, region)}part-{part:04d}/"
    return {name: base + SHARD_FILES[name] for name in PART_SHARDS}


SHARD_FILES = {
    "findings": "findings.jsonl.gz",
    "csv": "findings.csv.gz",
    "new": "new.jsonl.gz",
    "resolved": "resolved.jsonl.gz",
    "unevaluated": "unevaluated.jsonl.gz",
}
"""Each shard's file name inside its region's folder."""


def shard_keys(generated_at: str, run_id: str, region: str) -> Shards:
    """`reports/<yyyy>/<mm>/<dd>/<run_id>/<region>/<shard>`, one per shard name."""
    base = f"{run_prefix(generated_at, run_id)}/{region}/"
    return {
        "findings": base + SHARD_FILES["findings"],
        "csv": base + SHARD_FILES["csv"],
        "new": base + SHARD_FILES["new"],
        "resolved": base + SHARD_FILES["resolved"],
        "unevaluated": base + SHARD_FILES["unevaluated"],
    }
