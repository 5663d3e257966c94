"""`ec2c rules`: the catalogue as JSON, Markdown and a table; the README's table is its output."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ec2c.orchestrator.cli import app
from ec2c.orchestrator.reporting.catalogue import README_BEGIN, README_END, rule_documents, to_markdown

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_rule_table_is_the_generated_one() -> None:
    """Regenerate with `ec2c rules --markdown` when a rule changes."""
    text = README.read_text(encoding="utf-8")
    table = text.split(README_BEGIN + "\n", 1)[1].split(README_END, 1)[0]
    assert table == to_markdown(rule_documents())


def test_json_lists_every_rule_with_metadata() -> None:
    result = CliRunner().invoke(app, ["rules", "--json"])
    assert result.exit_code == 0, result.output
    documents = json.loads(result.stdout)
    by_id = {doc["id"]: doc for doc in documents}
    assert len(documents) == 35
    assert by_id["ebs_default_encryption"]["resource_type"] == "account"
    assert by_id["launch_template_imdsv2"]["mappings"]["security_hub"] == "EC2.170"
    assert by_id["ssh_open_to_internet"]["mappings"]["security_hub"] == "EC2.13"
    assert by_id["ssh_open_to_internet"]["severity_graded_by_reachability"] is True
    assert by_id["user_data_secrets"]["enabled_by_default"] is False
    assert by_id["instance_age"]["parameters"] == {"max_age_days": 365}
    assert by_id["ssm_managed"]["iam_actions"] == ["ssm:DescribeInstanceInformation"]
    assert by_id["imdsv2_required"]["remediation_cli"].startswith("aws ec2 modify-instance-metadata-options")


def test_markdown_has_one_row_per_rule() -> None:
    result = CliRunner().invoke(app, ["rules", "--markdown"])
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) == 35
    assert rows[0].startswith("| `imdsv2_required` | instance | Instance requires IMDSv2 | high | on | `EC2.8` |")


def test_table_names_rules_and_severities() -> None:
    result = CliRunner().invoke(app, ["rules"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "35 rules" in result.output and "all_ports_open" in result.output and "opt-in" in result.output
