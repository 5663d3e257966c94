"""docs/report-schema.md, documents.py and real reports agree field for field.

Both ways: each TypedDict of `documents.py` has exactly the fields of its table in the doc (and
a field may be null exactly when its type allows None), and the index and shard lines of a real
scan on moto hold exactly the fields of their type.
"""

from __future__ import annotations

import base64
import re
import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import pytest

from ec2c.scanner import documents
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.reports.reader import INLINE_LISTS, Report
from ec2c.scanner.reports.report import CSV_COLUMNS
from ec2c.scanner.storage import read_lines, read_text_lines

from .conftest import NOW, REGION, launch

DOC = Path(__file__).resolve().parents[3] / "docs" / "report-schema.md"
SECTIONS: dict[type, str] = {
    documents.ReportIndex: "Index",
    documents.PolicyDocument: "`policy`",
    documents.Summary: "`summary`",
    documents.RuleCounts: "`summary.by_rule` entries",
    documents.TypeCounts: "`summary.by_resource_type` entries",
    documents.ErrorDocument: "`errors` entries",
    documents.RegionEntry: "`region_shards` entries",
    documents.Shards: "`shards`",
    documents.Finding: "Findings",
    documents.Unevaluated: "Unevaluated resources",
    documents.OverlayDocument: "`overlay`",
}
"""Each type of documents.py and the heading of its table in the doc."""
DOC_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list", dict: "object"}


def section(heading: str) -> str:
    """The text under `## <heading>` (or `###`), up to the next heading."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^#{{2,3}} {re.escape(heading)}\n(.*?)(?=^#{{1,3}} |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match is not None, f"no section {heading!r} in {DOC.name}"
    return match.group(1)


def table(heading: str) -> dict[str, list[str]]:
    """The rows of the section's table: the backticked field name, then the other cells."""
    rows = {}
    for line in section(heading).splitlines():
        match = re.match(r"^\| `([a-z_]+)` \|(.*)\|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def documented_type(hint: Any) -> str:
    """The doc's words for a type: `string`, `list of ...`, `object or null` ..."""
    arguments = get_args(hint)
    if isinstance(hint, types.UnionType) or get_origin(hint) is typing.Union:
        [kind] = [argument for argument in arguments if argument is not type(None)]
        return documented_type(kind) + " or null"
    origin = get_origin(hint) or hint
    if typing.is_typeddict(origin):
        return "object"
    return DOC_TYPES[origin]


@pytest.mark.parametrize("kind", list(SECTIONS), ids=lambda kind: kind.__name__)
def test_each_type_is_its_table_field_for_field(kind: type) -> None:
    rows = table(SECTIONS[kind])
    hints = get_type_hints(kind)
    assert set(rows) == set(hints), f"{kind.__name__} vs the table under {SECTIONS[kind]}"
    for name, hint in hints.items():
        documented = rows[name][0]
        expected = documented_type(hint)
        assert documented == expected or documented.startswith(expected + " of "), (kind.__name__, name, documented)


def test_the_export_adds_exactly_the_inline_lists() -> None:
    assert list(table("Single-file export")) == list(INLINE_LISTS)


def test_the_documented_shard_keys_are_the_layout() -> None:
    rows = table("`shards`")
    assert set(rows) == set(documents.SHARD_NAMES)
    layout = section("Layout")
    for cells in rows.values():
        template = cells[1].strip("`")
        assert template in layout


def key_pattern(template: str) -> re.Pattern[str]:
    """A documented key (`reports/<yyyy>/.../findings.jsonl.gz`) as a regular expression."""
    parts = re.split(r"(<[a-z_]+>)", template.strip("`"))
    return re.compile("".join("[^/]+" if part.startswith("<") else re.escape(part) for part in parts))


DOCUMENTED_POLICY = load_policy({"rules": {"user_data_secrets": {"enabled": True}}})
"""The default policy (account guardrails moto lacks make errors and SKIPPED results) plus an
opt-in rule whose undecodable user data makes an unevaluated resource."""


@pytest.fixture
def reports(ec2, run) -> tuple[Report, Report]:
    """Two runs on moto into one store, an instance terminated between them, so every shard and
    every list of the index has entries."""
    [odd, gone] = launch(ec2, count=2)
    ec2.modify_instance_attribute(InstanceId=odd, UserData={"Value": base64.b64encode(b"\x1f\x8b\x08 no")})
    first = run([REGION], DOCUMENTED_POLICY, now=NOW)
    ec2.terminate_instances(InstanceIds=[gone])
    return first, run([REGION], DOCUMENTED_POLICY, now=NOW, previous=first)


OVERLAY_ONLY = {"overlay", "changed_at", "change_record"}
"""The NotRequired fields only a report with change records laid over it has (Python 3.11 counts
a NotRequired field of a module with postponed annotations as required, so they are named here)."""


def keys(kind: type) -> set[str]:
    """The fields a stored document of `kind` holds."""
    return set(get_type_hints(kind)) - OVERLAY_ONLY


def test_a_real_index_holds_exactly_the_documented_fields(reports) -> None:
    first, second = reports
    index = second.index
    assert set(index) == keys(documents.ReportIndex)
    assert set(index["policy"]) == keys(documents.PolicyDocument)
    assert set(index["summary"]) == keys(documents.Summary)
    assert all(set(counts) == keys(documents.RuleCounts) for counts in index["summary"]["by_rule"].values())
    assert all(set(counts) == keys(documents.TypeCounts) for counts in index["summary"]["by_resource_type"].values())
    assert index["errors"] and all(set(error) == keys(documents.ErrorDocument) for error in index["errors"])
    assert index["account_findings"] and all(set(f) == keys(documents.Finding) for f in index["account_findings"])
    [entry] = index["region_shards"]
    assert set(entry) == keys(documents.RegionEntry)
    assert entry["shards"] is not None and set(entry["shards"]) == keys(documents.Shards)
    assert index["schema_version"] == documents.SCHEMA_VERSION == 3
    assert (first.index["new_findings"], index["resolved_findings"]) > (0, 0)


def test_real_shard_lines_hold_exactly_the_documented_fields(reports) -> None:
    first, second = reports
    store = second.store
    assert store is not None
    [entry] = second.index["region_shards"]
    shards = entry["shards"]
    assert shards is not None
    rows = table("`shards`")
    for name, key in shards.items():
        assert key_pattern(rows[name][1]).fullmatch(key), (name, key)
    findings = [*read_lines(store, shards["findings"]), *read_lines(store, shards["resolved"])]
    new = list(first.new_findings())
    assert findings and new and all(set(f) == keys(documents.Finding) for f in [*findings, *new])
    unevaluated = list(read_lines(store, shards["unevaluated"]))
    assert unevaluated and all(set(u) == keys(documents.Unevaluated) for u in unevaluated)
    header = next(read_text_lines(store, shards["csv"]))
    assert header.rstrip("\r\n").split(",") == list(CSV_COLUMNS)


def test_csv_section_names_every_column() -> None:
    csv_section = section("CSV")
    assert all(f"`{column}`" in csv_section for column in CSV_COLUMNS)
