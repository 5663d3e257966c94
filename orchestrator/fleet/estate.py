"""One estate report from the latest reports of many targets (pure functions).

Rates are computed from instance counts, never averaged: a 10-instance account at 50% and a
1,000-instance account at 100% make an estate at 99.5%, not 75%. A target whose report could not
be read is listed with its reason and makes the estate partial; it is never counted compliant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from compliance_scanner.report import failures

ESTATE_SCHEMA = "ec2-compliance-estate/1"
_COUNTS = ("total_instances", "compliant_instances", "non_compliant_instances", "unevaluated_instances")


@dataclass(frozen=True)
class TargetReport:
    """One target of the plan: where it deploys, and its latest report or why there is none."""

    env: str
    stack: str
    account_id: str | None
    region: str
    report: Mapping[str, Any] | None = None
    reason: str | None = None

    def label(self) -> str:
        return f"{self.env}/{self.stack}"


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))

    def add(self, summary: Mapping[str, Any]) -> None:
        for key in _COUNTS:
            self.counts[key] += int(summary.get(key, 0) or 0)

    def document(self) -> dict[str, Any]:
        compliant, failing = self.counts["compliant_instances"], self.counts["non_compliant_instances"]
        rated = compliant + failing
        return {**self.counts, "compliance_rate": round(100.0 * compliant / rated, 2) if rated else None}


def merge(targets: Sequence[TargetReport], generated_at: str) -> dict[str, Any]:
    """The estate report: totals, rates by account, region, rule and severity, every finding tagged
    with its target, and the targets that could not be read."""
    estate, by_account, by_region = _Tally(), {}, {}
    by_cell: dict[tuple[str, str], _Tally] = {}
    by_rule: dict[str, dict[str, int]] = {}
    by_severity: dict[str, int] = {}
    findings: list[dict[str, Any]] = []
    rows = []
    for target in targets:
        report = target.report
        row = {"env": target.env, "stack": target.stack, "account_id": target.account_id, "region": target.region,
               "readable": report is not None, "reason": target.reason}  # fmt: skip
        if report is None:
            rows.append(row)
            continue
        summary = report.get("summary", {})
        account = report.get("account_id") or target.account_id or "unknown"
        row.update(account_id=account, run_id=report.get("run_id"), generated_at=report.get("generated_at"),
                   partial=bool(report.get("partial")), errors=len(report.get("errors", [])),
                   compliance_rate=summary.get("compliance_rate"))  # fmt: skip
        rows.append(row)
        estate.add(summary)
        by_account.setdefault(account, _Tally()).add(summary)
        for region, counts in _per_region(report).items():
            by_region.setdefault(region, _Tally()).add(counts)
            by_cell.setdefault((account, region), _Tally()).add(counts)
        for rule_id, counts in summary.get("by_rule", {}).items():
            merged = by_rule.setdefault(rule_id, {})
            for key, value in counts.items():
                merged[key] = merged.get(key, 0) + int(value)
        for severity, count in summary.get("by_severity", {}).items():
            by_severity[severity] = by_severity.get(severity, 0) + int(count)
        findings += [{**finding, "account_id": finding.get("account_id") or account, "target": target.label()}
                     for finding in failures(report)]  # fmt: skip
    unread = [row for row in rows if not row["readable"]]
    partial = [row for row in rows if row["readable"] and row.get("partial")]
    return {
        "schema": ESTATE_SCHEMA,
        "generated_at": generated_at,
        "partial": bool(unread or partial),
        "unread_targets": [{"target": f"{r['env']}/{r['stack']}", "reason": r["reason"]} for r in unread],
        "targets": rows,
        "summary": {
            **estate.document(),
            "by_account": {key: tally.document() for key, tally in sorted(by_account.items())},
            "by_region": {key: tally.document() for key, tally in sorted(by_region.items())},
            "by_account_region": [
                {"account_id": account, "region": region, **tally.document()}
                for (account, region), tally in sorted(by_cell.items())
            ],
            "by_rule": by_rule,
            "by_severity": by_severity,
        },
        "findings": findings,
    }


def _per_region(report: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """A report's instance counts under its region; a report that scanned several regions goes
    under their joined names (`eu-west-1+us-east-1`): its summary does not split instances by
    region, and a guess would misstate the heat map."""
    regions = list(report.get("regions") or [])
    summary = report.get("summary", {})
    label = "+".join(regions) or "unknown"
    return {label: {key: int(summary.get(key, 0) or 0) for key in _COUNTS}}
