"""Reading a stored report: `load_report()` at the boundary, streaming iterators after it.

Every reader (the diff, `ec2c report`, the estate, HTML, CSV, ASFF, OCSF, Security Hub) goes
through `Report`: the typed index plus iterators over its findings that stream the region shards
one line at a time. Schema 1 and 2 reports (one JSON document with every finding inline) and the
single-file export of schema 3 (`ec2c scan --format json`) load into the same `Report`, their
findings served from the document instead of shards, so no reader checks versions itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from ..contract import LATEST_REPORT_KEY, SCHEMA_VERSION
from ..documents import Finding, RegionEntry, ReportIndex, Summary, Unevaluated
from ..model import FAIL
from ..registry import ACCOUNT, RESOURCE_TYPE_KEYS, SEVERITY_NAMES
from ..storage import MissingObject, ReportReadError, Store, get_json, read_lines
from .report import CSV_COLUMNS, FindingKey, cannot_tell, csv_cell, csv_row

_SHARD_OF = {
    "findings": "findings",
    "new_findings": "new",
    "resolved_findings": "resolved",
    "unevaluated_resources": "unevaluated",
}
"""Each list a one-document report holds inline -> the shard (and count) of a schema 3 index."""
INLINE_LISTS = tuple(_SHARD_OF)
"""The lists a one-document report (schema 1 and 2, or schema 3's single-file export) holds inline."""
_REQUIRED = ("run_id", "generated_at", "summary")


class Report:
    """A report's index and its findings, streamed from the shards (or from the inline lists of
    a one-document report)."""

    def __init__(self, index: ReportIndex, store: Store | None, inline: Mapping[str, list[Any]] | None = None) -> None:
        self.index = index
        self.store = store
        self._inline = inline

    @property
    def summary(self) -> Summary:
        return self.index["summary"]

    @property
    def sharded(self) -> bool:
        return self._inline is None

    def _stream(self, name: str, region: str | None = None) -> Iterator[dict[str, Any]]:
        if self._inline is not None:
            for item in self._inline.get(name, []):
                if region is None or item.get("region") == region:
                    yield item
            return
        for entry in self.index["region_shards"]:
            if (
                (region is None or entry["region"] == region)
                and entry["shards"] is not None
                and cast(Mapping[str, int], entry)[_SHARD_OF[name]]
            ):
                assert self.store is not None, "a sharded report needs its store"
                yield from read_lines(self.store, cast(Mapping[str, str], entry["shards"])[_SHARD_OF[name]])

    def findings(self, region: str | None = None) -> Iterator[Finding]:
        """Every FAIL of an instance, launch template or default security group (suppressed ones
        included), region by region."""
        return cast(Iterator[Finding], self._stream("findings", region))

    def failures(self) -> Iterator[Finding]:
        """Findings, then failing account findings: what the gate, the alert and the exported
        formats act on."""
        yield from self.findings()
        yield from (f for f in self.index["account_findings"] if f["status"] == FAIL)

    def new_findings(self) -> Iterator[Finding]:
        return cast(Iterator[Finding], self._stream("new_findings"))

    def resolved_findings(self, region: str | None = None) -> Iterator[Finding]:
        return cast(Iterator[Finding], self._stream("resolved_findings", region))

    def unevaluated(self, region: str | None = None) -> Iterator[Unevaluated]:
        return cast(Iterator[Unevaluated], self._stream("unevaluated_resources", region))

    def region_entry(self, region: str) -> RegionEntry | None:
        return next((e for e in self.index["region_shards"] if e["region"] == region), None)

    def scanned_regions(self) -> set[str]:
        """Regions read completely: the only ones where a missing finding means fixed."""
        return set(self.index["regions"]) - set(self.index["incomplete_regions"])

    def unproven(self) -> Callable[[FindingKey], bool]:
        """`report.cannot_tell` for this whole report (its unevaluated resources streamed once)."""
        return cannot_tell(
            self.scanned_regions(), self.index["errors"], self.unevaluated(), self.index["account_findings"]
        )

    def csv_lines(self, leading: Mapping[str, str] | None = None) -> Iterator[list[str]]:
        """The CSV rows, header first: one per failure, in the report's order; `leading` puts
        columns with fixed values first (the estate's `target`)."""
        extra = dict(leading or {})
        prefix = [csv_cell(value) for value in extra.values()]
        yield [*extra, *CSV_COLUMNS]
        for finding in self.failures():
            yield [*prefix, *csv_row(finding)]


def load_report(document: Any, store: Store | None, where: str) -> Report:
    """The one boundary: a parsed report document of any schema as a `Report`.

    A schema 3 index reads its shards from `store`; a one-document report (schema 1 or 2, or a
    schema 3 single-file export) is upgraded to the schema 3 index in memory, its lists inline.
    An unknown schema or a document that is no report is a ReportReadError naming `where`.
    """
    if not isinstance(document, Mapping) or any(key not in document for key in _REQUIRED):
        raise ReportReadError(where, "not a compliance report (no run_id, generated_at and summary)")
    version = document.get("schema_version", 1)
    if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise ReportReadError(where, f"unknown schema_version {version!r} (this version reads 1 to {SCHEMA_VERSION})")
    if version == SCHEMA_VERSION and "region_shards" in document and "findings" not in document:
        return Report(_index(document, document["region_shards"]), store)
    inline = {name: [] if isinstance(value := document.get(name), int) else list(value or []) for name in INLINE_LISTS}
    return Report(_index(document, _upgraded_regions(document, inline)), store, inline)


def _upgraded_regions(document: Mapping[str, Any], inline: Mapping[str, list[Any]]) -> list[RegionEntry]:
    counts: dict[str, dict[str, int]] = {}
    for name, key in _SHARD_OF.items():
        for item in inline[name]:
            region_counts = counts.setdefault(str(item.get("region")), {})
            region_counts[key] = region_counts.get(key, 0) + 1
    incomplete = set(document.get("incomplete_regions") or [])
    return [
        {
            "region": region,
            "complete": region not in incomplete,
            "instances": 0,
            "findings": counts.get(region, {}).get("findings", 0),
            "new": counts.get(region, {}).get("new", 0),
            "resolved": counts.get(region, {}).get("resolved", 0),
            "unevaluated": counts.get(region, {}).get("unevaluated", 0),
            "bytes": 0,
            "shards": None,
        }
        for region in dict.fromkeys([*(document.get("regions") or []), *counts])
    ]


def _index(document: Mapping[str, Any], regions: list[RegionEntry]) -> ReportIndex:
    """The schema 3 index of any report: fields a schema 1 or 2 report lacks get their neutral
    value, counts of the inline lists replace them."""
    summary = dict(document["summary"])
    summary.setdefault("unevaluated_instances", 0)
    summary.setdefault("by_severity", dict.fromkeys(SEVERITY_NAMES, 0))
    summary.setdefault("by_rule", {})
    summary.setdefault("by_resource_type", {kind: {"evaluated": 0, "non_compliant": 0} for kind in RESOURCE_TYPE_KEYS})
    account_findings = [
        dict(f, resource_type=f.get("resource_type", ACCOUNT)) for f in document.get("account_findings") or []
    ]

    def count(name: str) -> int:
        value = document.get(name)
        return value if isinstance(value, int) else len(value or [])

    return cast(
        ReportIndex,
        {
            "schema_version": SCHEMA_VERSION,
            "run_id": str(document["run_id"]),
            "generated_at": str(document["generated_at"]),
            "finished_at": str(document.get("finished_at") or document["generated_at"]),
            "account_id": document.get("account_id"),
            "regions": list(document.get("regions") or []),
            "incomplete_regions": list(document.get("incomplete_regions") or []),
            "partial": bool(document.get("partial")),
            "partial_reason": document.get("partial_reason"),
            "policy": document.get("policy") or {},
            "summary": summary,
            "account_findings": account_findings,
            "errors": list(document.get("errors") or []),
            "expired_suppressions": list(document.get("expired_suppressions") or []),
            "previous_run_id": document.get("previous_run_id"),
            "previous_generated_at": document.get("previous_generated_at"),
            "new_findings": count("new_findings"),
            "resolved_findings": count("resolved_findings"),
            "region_shards": regions,
        },
    )


def read_report(store: Store, key: str) -> Report:
    """The report whose index (or one document) is stored at `key`."""
    return load_report(get_json(store, key), store, store.uri(key))


def load_latest(store: Store) -> Report | None:
    """The last stored report, or None when there is none yet."""
    try:
        return read_report(store, LATEST_REPORT_KEY)
    except MissingObject:
        return None
