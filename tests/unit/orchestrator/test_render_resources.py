"""The terminal table with every resource type: instances, launch templates and account guardrails.

Built from hand-made schema 2 reports (the fields docs/report-schema.md lists) read through the
reader's boundary (`load_report`, which serves their findings as it streams a schema 3 report's
shards), so each test controls exactly which types fail and how severely. The renderer's older
behaviour (instances only) is covered in test_scan_command.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from rich.console import Console

from ec2c.orchestrator.reporting import render
from ec2c.scanner.reports.reader import Report, load_report

ACCOUNT_ID = "123456789012"
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


def _finding(
    resource_type: str,
    resource_id: str,
    rule: str,
    severity: str,
    *,
    region: str = "us-east-1",
    status: str = "FAIL",
    suppressed: bool = False,
    tags: dict[str, str] | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    return {
        "finding_id": f"{resource_id}-{region}-{rule}",
        "resource_type": resource_type,
        "resource_id": resource_id,
        "resource_arn": f"arn:aws:iam::{ACCOUNT_ID}:root"
        if resource_type == "account"
        else f"arn:aws:ec2:{region}:{ACCOUNT_ID}:{resource_type.replace('_', '-')}/{resource_id}",
        "account_id": ACCOUNT_ID,
        "instance_id": resource_id if resource_type == "instance" else None,
        "region": region,
        "rule_id": rule,
        "title": rule,
        "severity": severity,
        "status": status,
        "suppressed": suppressed,
        "suppression_reason": "accepted risk" if suppressed else None,
        "message": message or f"{rule} {status.lower()} on {resource_id} in {region}",
        "tags": tags or {},
    }


def instance(resource_id: str, rule: str, severity: str, name: str = "web", **kw: Any) -> dict[str, Any]:
    return _finding("instance", resource_id, rule, severity, tags={"Name": name}, **kw)


def template(resource_id: str, rule: str, severity: str, name: str | None = None, **kw: Any) -> dict[str, Any]:
    return _finding(
        "launch_template",
        resource_id,
        rule,
        severity,
        tags={"Name": name} if name else {},
        message=f"launch template tpl-{resource_id}: {rule} failed",
        **kw,
    )


def guardrail(rule: str, severity: str, region: str, status: str = "FAIL", **kw: Any) -> dict[str, Any]:
    return _finding("account", ACCOUNT_ID, rule, severity, region=region, status=status, **kw)


def typed_report(
    findings: list[dict[str, Any]] | None = None, account_findings: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    if findings is None:
        findings = [
            instance("i-0aaa", "imdsv2_required", "high", name="web-1"),
            instance("i-0bbb", "no_key_pair", "low", name="batch-1"),
            template("lt-0named", "launch_template_imdsv2", "high", name="golden-web"),
            template("lt-0plain", "launch_template_ebs_encrypted", "medium"),
        ]
    if account_findings is None:
        account_findings = [
            guardrail("ebs_default_encryption", "medium", "us-east-1"),
            guardrail("ebs_default_encryption", "medium", "eu-west-1"),
            guardrail(
                "ebs_default_encryption",
                "medium",
                "ap-southeast-2",
                status="PASS",
                message="PASS-MESSAGE EBS encryption by default is enabled",
            ),
            guardrail("serial_console_access_disabled", "low", "us-east-1", status="PASS"),
            guardrail(
                "serial_console_access_disabled",
                "low",
                "eu-west-1",
                status="SKIPPED",
                message="SKIP-MESSAGE could not read the setting",
            ),
            guardrail("serial_console_access_disabled", "low", "ap-southeast-2", status="PASS"),
        ]
    return {
        "schema_version": 2,
        "run_id": "run-1",
        "account_id": ACCOUNT_ID,
        "regions": REGIONS,
        "generated_at": "2026-01-01T00:00:00Z",
        "partial": False,
        "errors": [],
        "findings": findings,
        "account_findings": account_findings,
        "summary": {
            "total_instances": 4,
            "compliant_instances": 2,
            "non_compliant_instances": 2,
            "unevaluated_instances": 0,
            "compliance_rate": 50.0,
            "by_rule": {},
            "by_severity": {},
            "by_resource_type": {
                "instance": {"evaluated": 4, "non_compliant": 2},
                "launch_template": {"evaluated": 3, "non_compliant": 2},
                "account": {"evaluated": 3, "non_compliant": 2},
            },
        },
    }


def loaded(document: dict[str, Any]) -> Report:
    return load_report(document, None, "test")


def rendered(report: dict[str, Any], width: int, limit: int = 40) -> str:
    console = Console(record=True, width=width, force_terminal=False)
    render.render_report(console, loaded(report), limit=limit)
    return console.export_text()


def findings_part(text: str) -> str:
    """The findings table alone (up to the guardrails grid, the rules table or the summary)."""
    return re.split(r"\nAccount guardrails by region|\nRules\b|\n\d+ instances ·", text)[0]


def flat(text: str) -> str:
    return " ".join(text.split())


def test_narrow_layout_has_one_section_per_type_in_order():
    text = rendered(typed_report(), 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    table = findings_part(text)
    assert table.index("Instances (2)") < table.index("Launch templates (2)") < table.index("Account guardrails (2)")
    instances, rest = table.split("Launch templates (2)")
    templates, accounts = rest.split("Account guardrails (2)")
    assert "web-1  i-0aaa  us-east-1" in instances and "imdsv2_required" in instances
    # A launch template: its Name tag and id when tagged, its id alone when not.
    assert "golden-web  lt-0named  us-east-1" in templates
    assert re.search(r"^lt-0plain  us-east-1", templates, re.M)
    assert "launch_template_ebs_encrypted" in templates and "i-0aaa" not in templates
    # An account guardrail: "account <id>" and its region, one heading per failing region.
    assert re.findall(r"^account 123456789012  (\S+)", accounts, re.M) == ["eu-west-1", "us-east-1"]
    assert len(re.findall(r"^  MEDIUM +ebs_default_encryption ", accounts, re.M)) == 2
    assert "None" not in table


def test_wide_layout_labels_the_resource_column_by_type():
    text = rendered(typed_report(), 170)
    table = findings_part(text)
    headers = [line.split() for line in table.splitlines() if line.startswith("Severity")]
    assert [h[1] for h in headers] == ["Instance", "Launch", "Account"]  # "Launch template"
    assert table.index("Instances (2)") < table.index("Launch templates (2)") < table.index("Account guardrails (2)")
    accounts = table.split("Account guardrails (2)")[1]
    assert (
        len(re.findall(r"^MEDIUM\s+123456789012\s+(?:us-east-1|eu-west-1)\s+ebs_default_encryption", accounts, re.M))
        == 2
    )
    # Every section's table has the same column layout: the Region column starts at one offset.
    assert len({line.index("Region") for line in table.splitlines() if line.startswith("Severity")}) == 1


def test_passing_and_skipped_guardrails_are_not_findings_but_are_in_the_grid():
    text = rendered(typed_report(), 100)
    table = findings_part(text)
    assert "PASS-MESSAGE" not in text and "SKIP-MESSAGE" not in text
    assert "serial_console_access_disabled" not in table
    grid = text.split("Account guardrails by region", 1)[1].split("\n\n", 1)[0]
    header, _, *rows = [line for line in grid.splitlines() if line.strip()]
    assert header.split() == ["Rule", *REGIONS]  # the report's region order
    cells = {row.split()[0]: row.split()[1:] for row in rows}
    assert cells == {
        "ebs_default_encryption": ["FAIL", "FAIL", "pass"],
        "serial_console_access_disabled": ["pass", "skipped", "pass"],
    }
    assert list(cells) == ["ebs_default_encryption", "serial_console_access_disabled"]  # failing first


def test_the_grid_folds_into_one_result_column_when_the_regions_do_not_fit():
    doc = typed_report()
    doc["account_findings"].append(guardrail("imds_defaults_v2", "medium", "eu-west-1", suppressed=True))
    grid = render.guardrails_table(doc["account_findings"], width=70, regions=REGIONS)  # the grid needs 71
    console = Console(record=True, width=70, force_terminal=False)
    console.print(grid)
    text = flat(console.export_text())
    assert "Result" in text and "us-east-1 eu-west-1 ap-southeast-2" not in text
    assert "ebs_default_encryption FAIL us-east-1, eu-west-1 · pass 1 region" in text
    assert "skipped eu-west-1 · pass 2 regions" in text
    assert "imds_defaults_v2 suppressed eu-west-1" in text
    assert render.guardrails_table([], width=80) is None


def test_the_limit_takes_the_most_severe_failures_whatever_their_type():
    findings = [instance(f"i-{n}", "no_key_pair", "low", name=f"box-{n}") for n in range(6)]
    findings.append(template("lt-0crit", "launch_template_user_data_secrets", "critical", name="leaky"))
    accounts = [guardrail("default_security_group_closed", "high", region) for region in ("us-east-1", "eu-west-1")]
    text = rendered(typed_report(findings, accounts), 80, limit=4)
    table = findings_part(text)
    # The critical template and both high guardrails beat six low instance findings.
    assert "leaky  lt-0crit" in table and table.count("default_security_group_closed") == 2
    assert "Instances (1 of 6)" in table
    assert "Launch templates (1)" in table and "Account guardrails (2)" in table
    assert table.index("Instances") < table.index("Launch templates") < table.index("Account guardrails")
    assert "... 5 more findings (5 low): see --format json or csv, or --limit 0" in flat(text)  # instances only

    # The other way round: hidden rows of several types are counted by type.
    text = rendered(typed_report(findings, accounts), 80, limit=1)
    table = findings_part(text)
    assert "Launch templates (1)" in table and "Instances" not in table and "Account guardrails (" not in table
    assert "... 8 more findings (2 high, 6 low) · 6 instance, 2 account:" in flat(text)

    assert "more finding" not in rendered(typed_report(findings, accounts), 80, limit=0)


def test_a_report_of_instances_only_has_no_type_headings():
    doc = typed_report([instance("i-1", "imdsv2_required", "high")], [])
    doc["summary"].pop("by_resource_type")
    text = rendered(doc, 80)
    assert "Findings" in text and "web  i-1  us-east-1" in text
    assert "Instances (" not in text and "Account guardrails" not in text
    assert "launch template" not in text


def test_a_schema_1_report_still_renders():
    doc = {
        "run_id": "old",
        "generated_at": "2024-01-01T00:00:00Z",
        "regions": ["us-east-1"],
        "summary": {
            "total_instances": 1,
            "compliant_instances": 0,
            "non_compliant_instances": 1,
            "compliance_rate": 0.0,
            "by_rule": {},
        },
        "findings": [
            {
                "instance_id": "i-1",
                "region": "us-east-1",
                "rule_id": "imdsv2_required",
                "severity": "high",
                "status": "FAIL",
                "suppressed": False,
                "message": "IMDSv1 is allowed",
                "tags": {"Name": "old"},
            }
        ],
    }
    for width in (80, 160):
        text = rendered(doc, width)
        assert "old" in text and "i-1" in text and "IMDSv1 is allowed" in text and "Instances (" not in text
    assert "1 findings · 0 errors" in flat(rendered(doc, 80))


def test_summary_line_counts_the_other_types_and_every_failure():
    line = flat(rendered(typed_report(), 200).splitlines()[-1])
    assert "4 instances · 2 compliant · 2 non-compliant · compliance 50.0% · " in line
    assert "2 of 3 launch templates, 2 of 3 account regions non-compliant" in line
    assert "6 findings · 0 errors" in line  # 4 findings + 2 failing guardrails

    # The summary line alone (under JSON or CSV) counts from the index: the regions' counts of
    # findings, the failing guardrails, and the suppressed ones as `summary.by_rule` has them.
    doc = typed_report()
    doc["summary"]["by_resource_type"]["launch_template"] = {"evaluated": 0, "non_compliant": 0}
    doc["account_findings"][0]["suppressed"] = True
    doc["summary"]["by_rule"] = {"ebs_default_encryption": {"failed": 2, "passed": 1, "suppressed": 1, "skipped": 0}}
    console = Console(record=True, width=300, force_terminal=False)
    render.render_summary_line(console, loaded(doc))
    line = flat(console.export_text())
    assert "launch template" not in line and "2 of 3 account regions non-compliant" in line
    assert "5 findings (+1 suppressed)" in line
    assert "5 findings (+1 suppressed)" in flat(rendered(doc, 300).splitlines()[-1])  # the table's count agrees

    doc["summary"]["by_resource_type"]["account"] = {"evaluated": 1, "non_compliant": 0}
    console = Console(record=True, width=300, force_terminal=False)
    render.render_summary_line(console, loaded(doc))
    assert "0 of 1 account region non-compliant" in flat(console.export_text())


def test_no_failures_of_any_type_says_so():
    passing = [guardrail("ebs_default_encryption", "medium", region, status="PASS") for region in REGIONS]
    text = rendered(typed_report([], passing), 80)
    assert "No findings: every scanned resource passed every enabled rule." in flat(text)
    assert "Account guardrails by region" in text


def test_text_of_every_type_is_printed_literally():
    findings = [template("lt-[b]x[/b]", "launch_template_imdsv2", "high", name="[red]tpl[/red]")]
    accounts = [guardrail("ebs_default_encryption", "medium", "[bold]r[/bold]", message="m [/x] [i]y[/i]")]
    for width in (80, 170):
        text = rendered(typed_report(findings, accounts), width)
        assert "[red]tpl[/red]" in text and "lt-[b]x[/b]" in text
        assert "[bold]r[/bold]" in text and "m [/x] [i]y[/i]" in text


def test_limit_0_is_capped_and_says_so(monkeypatch):
    monkeypatch.setattr(render, "MAX_ROWS", 3)
    findings = [instance(f"i-{n}", "no_key_pair", "low", name=f"box-{n}") for n in range(5)]
    text = flat(rendered(typed_report(findings, []), 80, limit=0))
    assert "... 2 more findings (2 low): the table shows at most 3 rows; see --format json or csv" in text
    assert "box-0" in text and "box-2" in text and "box-3" not in text
    assert "... 2 more findings (2 low): the table shows at most 3 rows" in flat(
        rendered(typed_report(findings, []), 80, limit=9)
    )
    assert "... 3 more findings (3 low): see --format json or csv, or --limit 0" in flat(
        rendered(typed_report(findings, []), 80, limit=2)
    )  # below the cap: --limit decided


def test_the_failures_are_read_once_and_the_rest_counted(monkeypatch):
    """One pass over the stream picks the rows and counts the others (no second read, no list)."""
    findings = [instance(f"i-{n}", "no_key_pair", "low", name=f"box-{n}") for n in range(6)]
    findings.append(template("lt-0crit", "launch_template_user_data_secrets", "critical", name="leaky"))
    report = loaded(typed_report(findings, []))
    passes = []
    real = Report.failures

    def counted(self: Report):
        passes.append(1)
        yield from real(self)

    monkeypatch.setattr(Report, "failures", counted)
    console = Console(record=True, width=80, force_terminal=False)
    render.render_report(console, report, limit=2)
    text = flat(console.export_text())
    assert passes == [1]
    assert "leaky" in text and "... 5 more findings (5 low): see --format json" in text
    assert "7 findings · 0 errors" in text


@pytest.mark.parametrize("count", [0, 1, 4])
def test_top_failures_keeps_count_rows_and_tallies_all(count):
    findings = [
        instance(f"i-{n}", "no_key_pair", sev, name=f"b{n}")
        for n, sev in enumerate(["low", "high", "medium", "critical", "low"])
    ]
    shown, tally = render.top_failures(iter(findings), count)
    assert [f["severity"] for f in shown] == ["critical", "high", "medium", "low"][:count]
    assert tally.total == 5 and tally.suppressed == 0 and tally.by_type() == {"instance": 5}
