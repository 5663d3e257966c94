"""`ec2c scan --format html|asff|ocsf` and `--security-hub`, against moto."""

from __future__ import annotations

import json

import boto3
import pytest
from compliance_scanner.report import failures

from test_scan_command import clean_env, dummy_creds, flat, mocked, run, seed_instance  # noqa: F401 (fixtures)

REGION = "us-east-1"


def test_asff_on_stdout_belongs_to_the_sdk_region(mocked) -> None:
    instance = seed_instance()
    result = run("--format", "asff")
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)
    assert findings and {f["ProductArn"] for f in findings} == {
        "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    }
    (default_group,) = boto3.client("ec2", region_name=REGION).describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]  # fmt: skip
    assert {f["Resources"][0]["Id"] for f in findings} == {
        f"arn:aws:ec2:us-east-1:123456789012:instance/{instance}",
        # the default VPC's default group allows all outbound traffic, as AWS creates it
        f"arn:aws:ec2:us-east-1:123456789012:security-group/{default_group['GroupId']}",
        "AWS::::Account:123456789012",  # the region's guardrails (EBS encryption by default is off)
    }
    assert {f["Resources"][0]["Type"] for f in findings} == {"AwsEc2Instance", "AwsEc2SecurityGroup", "AwsAccount"}
    assert {f["RecordState"] for f in findings} == {"ACTIVE"}


def test_ocsf_and_html_files_by_format_and_by_suffix(mocked) -> None:
    seed_instance()
    folder = mocked / "out"
    assert run("--format", "ocsf", "--output", f"{folder}/").exit_code == 0
    events = json.loads((folder / "ec2-compliance-report.ocsf.json").read_text())
    assert events and {e["class_uid"] for e in events} == {2004}
    table = run("--output", str(mocked / "report.html"))  # --format table: the suffix decides
    assert table.exit_code == 0
    page = (mocked / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "imdsv2_required" in page
    assert "Report written to" in flat(table.stderr) and "(html)" in table.stderr


def test_security_hub_import_then_archive_what_was_fixed(mocked) -> None:
    hub = boto3.client("securityhub", region_name=REGION)
    hub.enable_security_hub()
    instance = seed_instance()
    first = run("--security-hub", "--format", "json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    imported = failures(report)
    assert f"Security Hub: {len(imported)} finding(s) imported" in flat(first.stderr)
    imds_id = next(f["finding_id"] for f in report["findings"] if f["rule_id"] == "imdsv2_required")

    boto3.client("ec2", region_name=REGION).modify_instance_metadata_options(
        InstanceId=instance, HttpTokens="required", HttpEndpoint="enabled"
    )
    second = run("--security-hub", "--format", "json")
    assert second.exit_code == 0
    assert "(1 resolved, archived)" in flat(second.stderr)
    states = {f["Id"]: (f["RecordState"], f["Workflow"]["Status"]) for f in hub.get_findings()["Findings"]}
    assert states[imds_id] == ("ARCHIVED", "RESOLVED")
    assert sum(1 for state in states.values() if state == ("ACTIVE", "NEW")) == len(imported) - 1


def test_security_hub_keeps_findings_of_regions_that_were_not_read(mocked) -> None:
    """A finding about eu-west-1 stays ACTIVE when this run scans us-east-1 only."""
    hub = boto3.client("securityhub", region_name=REGION)
    hub.enable_security_hub()
    seed_instance("eu-west-1")
    assert run("--security-hub", "--regions", "eu-west-1,us-east-1").exit_code == 0
    result = run("--security-hub", "--regions", "us-east-1")
    assert result.exit_code == 0 and "archived" not in result.stderr
    assert {f["RecordState"] for f in hub.get_findings()["Findings"]} == {"ACTIVE"}


def test_a_failed_import_exits_1_after_the_report(mocked, monkeypatch) -> None:
    """Security Hub unreachable (its own endpoint variable points at a closed port): the report
    is still written, every batch's failure is named, and the exit is 1."""
    seed_instance()
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECURITYHUB", "http://127.0.0.1:9")
    result = run("--security-hub", "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["findings"]  # the report was still written
    assert "GetFindings: Could not connect" in flat(result.stderr)
    assert "--security-hub: not every finding was imported into us-east-1" in flat(result.stderr)


def test_demo_imports_into_its_own_hub() -> None:
    result = run("--demo", "--security-hub", "--limit", "1")
    assert result.exit_code == 0
    assert "Security Hub: 53 finding(s) imported" in flat(result.stderr)  # 41 findings, 12 failing guardrails


@pytest.mark.parametrize("fmt", ["asff"])
def test_asff_needs_an_account(mocked, fmt, monkeypatch) -> None:
    from orchestrator.errors import OperationFailed
    from orchestrator.scan.command import OutputFormat, format_report

    with pytest.raises(OperationFailed, match="no account id"):
        format_report({"findings": [], "regions": [REGION]}, OutputFormat(fmt))


def test_report_of_a_stack_without_a_bucket_output_says_to_deploy(monkeypatch) -> None:
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from orchestrator.cli import app
    from orchestrator.deploy import commands

    environment = SimpleNamespace(stack_name="dev", aws=SimpleNamespace(region="eu-west-1"))
    monkeypatch.setattr(commands, "stack_outputs", lambda env, stack, config_dir: ({}, environment))
    result = CliRunner().invoke(app, ["report", "--env", "dev"])
    assert result.exit_code == 1
    assert "stack dev: no `compliance_bucket_name` output; deploy it first (`ec2c up --env dev`)" in flat(result.stderr)
