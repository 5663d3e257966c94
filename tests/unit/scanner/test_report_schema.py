"""docs/report-schema.md lists exactly the fields real reports hold."""

from __future__ import annotations

import re
from pathlib import Path

from .test_report import build, fleet

from compliance_scanner.report import apply_history

DOC = Path(__file__).resolve().parents[3] / "docs" / "report-schema.md"


def documented(section: str) -> set[str]:
    """The backticked names in the first column of the table under `## <section>`."""
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `([a-z_]+)` \|", body, re.MULTILINE)}


def a_report() -> dict:
    report = build(fleet())
    apply_history(report, build(fleet()))
    return report


def test_top_level_fields_are_documented() -> None:
    assert set(a_report()) == documented("Top level")


def test_summary_fields_are_documented() -> None:
    assert set(a_report()["summary"]) == documented("`summary`")


def test_finding_fields_are_documented() -> None:
    findings = a_report()["findings"]
    assert findings
    assert {key for finding in findings for key in finding} == documented("Findings")


def test_csv_section_names_every_column() -> None:
    from compliance_scanner.report import CSV_COLUMNS

    csv_section = DOC.read_text(encoding="utf-8").split("## CSV\n", 1)[1]
    assert all(f"`{column}`" in csv_section for column in CSV_COLUMNS)
