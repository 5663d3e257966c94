"""The latest full report with the change records written since laid over it (`ec2c report --env`).

A full scan rewrites its report a few times a day; between two, event-driven evaluations write
change records (`records`), each with the complete current failures of the resources it
re-evaluated. Laying them over the report gives "the estate as of the last change" without
rewriting the shards: a resource some record names takes its findings from the latest such
record (none for a resource gone since), and every other resource keeps the scan's.

What a record cannot tell is left as the scan counted it:

* Instance totals (`total_instances`, `unevaluated_instances`, `by_resource_type` evaluated
  counts) stay the full scan's. A record lists failures, not passes, so a resource it names that
  the scan never saw (an instance launched since) cannot be told from one the scan knew as
  compliant: the failure counts (`by_severity`, `by_rule` failed and suppressed,
  `non_compliant_instances` and the other types' `non_compliant`) are recomputed, and
  `compliant_instances` (never below 0) and `compliance_rate` follow from them over the scan's
  total. `passed` and `skipped` in `by_rule` stay the scan's; each region's `findings` count in
  `region_shards` follows the overlaid findings.
* The new and resolved lists stay the full scan's (new since the previous full run): a record's
  own new and resolved findings are relative to the state its evaluation started from, and
  merging the two would list as new a failure that a later record fixed.
* An account guardrail a record re-evaluated keeps the scan's PASS and SKIPPED results for the
  rules that do not fail now; its failures are the record's.

Memory stays flat: the base findings stream past twice (once here to count what the records
replace, in the regions they name only, then once for whichever view reads the report) and only
the records' findings are held, which are bounded by the records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from ..documents import Finding, OverlayDocument, RegionEntry, ReportIndex, RuleCounts, Summary, Unevaluated
from ..model import FAIL
from ..registry import ACCOUNT, INSTANCE
from ..reports.history import is_active
from ..reports.reader import Report
from ..reports.report import account_order
from ..storage import ReportReadError
from .records import ChangeRecord
from .verdicts import ResourceKey, key_of

_STATES = ("evaluated", "gone")
_FINDING_TEXT = ("resource_id", "region", "rule_id", "severity", "status")


@dataclass
class _Override:
    """A resource's findings as the latest record naming it left them (marked with it)."""

    gone: bool
    findings: list[Finding] = field(default_factory=list)


class OverlaidReport(Report):
    """A report whose findings are its base report's with the records' laid over them: every
    reader and writer of a `Report` takes it as it is (the index is a new one; the base report's
    new, resolved and unevaluated lists stream from its own store)."""

    def __init__(self, base: Report, index: ReportIndex, overrides: Mapping[ResourceKey, _Override]) -> None:
        super().__init__(index, base.store)
        self.base = base
        self._overrides = overrides

    @property
    def sharded(self) -> bool:
        return self.base.sharded

    def findings(self, region: str | None = None) -> Iterator[Finding]:
        """The base findings of every resource no record names, then the records' findings
        (of `region` only, when given)."""
        for finding in self.base.findings(region):
            if key_of(finding) not in self._overrides:
                yield finding
        for (where, kind, _), override in sorted(self._overrides.items(), key=_by_kind):
            if kind != ACCOUNT and (region is None or where == region):
                yield from override.findings

    def new_findings(self) -> Iterator[Finding]:
        return self.base.new_findings()

    def resolved_findings(self, region: str | None = None) -> Iterator[Finding]:
        return self.base.resolved_findings(region)

    def unevaluated(self, region: str | None = None) -> Iterator[Unevaluated]:
        return self.base.unevaluated(region)


def overlay(report: Report, records: Iterable[tuple[str, ChangeRecord]]) -> Report:
    """`report` with `records` (key, record; oldest first, as `records_since` lists them) laid
    over it; `report` itself when there are none. A record whose resources or findings cannot
    be read is a ReportReadError naming it: the overlay never silently leaves a record out."""
    overrides: dict[ResourceKey, _Override] = {}
    count, through = 0, ""
    for key, record in records:
        _apply(overrides, key, record, report.store.uri(key) if report.store is not None else key)
        count, through = count + 1, record["generated_at"]
    if not count:
        return report
    counts = _Counts(report.summary)
    regions = _Regions(report.index["region_shards"])
    failing_before: set[ResourceKey] = set()
    for finding in _replaced(report, overrides):
        counts.add(finding, -1)
        regions.add(finding, -1)
        if is_active(finding):
            failing_before.add(key_of(finding))
    for resource, override in overrides.items():
        for finding in override.findings:
            counts.add(finding, 1)
            regions.add(finding, 1)
        now = any(is_active(finding) for finding in override.findings)
        counts.non_compliant_by(resource[1], int(now) - int(resource in failing_before))
    index = cast(ReportIndex, dict(report.index))
    index["summary"] = counts.summary()
    index["account_findings"] = _account_findings(report.index["account_findings"], overrides)
    index["region_shards"] = regions.entries()
    index["overlay"] = OverlayDocument(records=count, through=through, resources=len(overrides))
    return OverlaidReport(report, index, overrides)


def _apply(overrides: dict[ResourceKey, _Override], key: str, record: ChangeRecord, where: str) -> None:
    """The record's resources replace whatever an earlier record said of them."""
    changed_at = record.get("generated_at")
    if not isinstance(changed_at, str) or not changed_at:
        raise ReportReadError(where, "change record without a generated_at time")
    named: dict[ResourceKey, _Override] = {}
    for number, resource in enumerate(record["resources"], start=1):
        if not isinstance(resource, Mapping) or not all(
            isinstance(resource.get(name), str) and resource.get(name)
            for name in ("resource_type", "resource_id", "region")
        ):
            raise ReportReadError(where, f"resources entry {number} has no resource_type, resource_id and region")
        if resource.get("state") not in _STATES:
            raise ReportReadError(
                where, f"resources entry {number}: state {resource.get('state')!r} is not 'evaluated' or 'gone'"
            )
        resource_id = (str(resource["region"]), str(resource["resource_type"]), str(resource["resource_id"]))
        named[resource_id] = _Override(gone=resource["state"] == "gone")
    for number, finding in enumerate(record["findings"], start=1):
        if not isinstance(finding, Mapping) or not all(isinstance(finding.get(name), str) for name in _FINDING_TEXT):
            raise ReportReadError(where, f"findings entry {number} is not a finding (no {', '.join(_FINDING_TEXT)})")
        if finding["status"] != FAIL:
            raise ReportReadError(where, f"findings entry {number} has status {finding['status']!r}, not FAIL")
        target = named.get(key_of(finding))
        if target is None or target.gone:
            raise ReportReadError(
                where, f"findings entry {number} is of {finding['resource_id']}, which the record did not evaluate"
            )
        target.findings.append(cast(Finding, {**finding, "changed_at": changed_at, "change_record": key}))
    overrides.update(named)


def _replaced(report: Report, overrides: Mapping[ResourceKey, _Override]) -> Iterator[Finding]:
    """The base failures the records replace: findings streamed from the regions the records
    name (those only), then the account guardrails' failures."""
    for region in sorted({region for region, kind, _ in overrides if kind != ACCOUNT}):
        for finding in report.findings(region):
            if key_of(finding) in overrides:
                yield finding
    for finding in report.index["account_findings"]:
        if finding["status"] == FAIL and key_of(finding) in overrides:
            yield finding


def _account_findings(base: list[Finding], overrides: Mapping[ResourceKey, _Override]) -> list[Finding]:
    """The base account results, a re-evaluated guardrail's failures replaced by the record's
    (its results that are not failures kept for the rules that do not fail now; none of a gone
    one), failures first."""
    kept: list[Finding] = []
    for finding in base:
        override = overrides.get(key_of(finding))
        if override is None:
            kept.append(finding)
        elif (
            not override.gone
            and finding["status"] != FAIL
            and not any(f["rule_id"] == finding["rule_id"] for f in override.findings)
        ):
            kept.append(finding)
    added = [f for (_, kind, _), o in overrides.items() if kind == ACCOUNT for f in o.findings]
    return sorted([*kept, *added], key=account_order)


class _Regions:
    """Each region's count of findings (account guardrails apart, as in the index), moved as the
    overlay changes them, in a new list: the base report's entries are left as they are."""

    def __init__(self, entries: list[RegionEntry]) -> None:
        self._entries = [cast(RegionEntry, dict(entry)) for entry in entries]
        self._by_region = {entry["region"]: entry for entry in self._entries}

    def add(self, finding: Mapping[str, Any], step: int) -> None:
        entry = self._by_region.get(str(finding.get("region")))
        if entry is not None and key_of(finding)[1] != ACCOUNT:
            entry["findings"] = max(entry["findings"] + step, 0)

    def entries(self) -> list[RegionEntry]:
        return self._entries


class _Counts:
    """The summary's failure counts, taken from the base summary and moved finding by finding
    (as `report.SummaryCounter` counts them: `failed` every FAIL, `suppressed` the part a
    suppression covers, `by_severity` the rest), and resource by resource."""

    def __init__(self, summary: Summary) -> None:
        self._summary = summary
        self.by_rule = {rule: RuleCounts(**counts) for rule, counts in summary["by_rule"].items()}
        self.by_severity = dict(summary["by_severity"])
        self.non_compliant = {kind: counts["non_compliant"] for kind, counts in summary["by_resource_type"].items()}
        self.non_compliant[INSTANCE] = summary["non_compliant_instances"]

    def add(self, finding: Mapping[str, Any], step: int) -> None:
        counts = self.by_rule.setdefault(
            str(finding["rule_id"]), RuleCounts(failed=0, passed=0, suppressed=0, skipped=0)
        )
        counts["failed"] = max(counts["failed"] + step, 0)
        if finding.get("suppressed"):
            counts["suppressed"] = max(counts["suppressed"] + step, 0)
        else:
            severity = str(finding["severity"])
            self.by_severity[severity] = max(self.by_severity.get(severity, 0) + step, 0)

    def non_compliant_by(self, kind: str, step: int) -> None:
        """One resource of `kind` became non-compliant (1), compliant (-1) or neither (0)."""
        self.non_compliant[kind] = max(self.non_compliant.get(kind, 0) + step, 0)

    def summary(self) -> Summary:
        """The base summary with these counts; the instance totals are the full scan's."""
        base = self._summary
        non_compliant = self.non_compliant[INSTANCE]
        compliant = max(base["total_instances"] - non_compliant - base["unevaluated_instances"], 0)
        rated = compliant + non_compliant
        return {
            **base,
            "compliant_instances": compliant,
            "non_compliant_instances": non_compliant,
            "compliance_rate": round(100.0 * compliant / rated, 2) if rated else None,
            "by_rule": self.by_rule,
            "by_severity": self.by_severity,
            "by_resource_type": {
                kind: {"evaluated": counts["evaluated"], "non_compliant": self.non_compliant.get(kind, 0)}
                for kind, counts in base["by_resource_type"].items()
            },
        }


def _by_kind(item: tuple[ResourceKey, _Override]) -> tuple[str, str, str]:
    """The records' findings by resource type, then region and id."""
    region, kind, resource_id = item[0]
    return kind, region, resource_id
