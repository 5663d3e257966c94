"""`ec2c scan --format html|asff|ocsf` and `--security-hub`, against moto."""

from __future__ import annotations

import io
import json

import boto3
import pytest

from ec2c.scanner.reports.reader import load_report
from tests.unit.orchestrator.test_scan_command import flat, run, seed_instance

REGION = "us-east-1"


def failures(document: dict) -> list[dict]:
    """The failures of a `--format json` export, read back through the reader's boundary."""
    return list(load_report(document, None, "stdout").failures())


def test_asff_on_stdout_belongs_to_the_sdk_region(mocked) -> None:
    instance = seed_instance()
    result = run("--format", "asff")
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)
    assert findings and {f["ProductArn"] for f in findings} == {
        "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    }
    (default_group,) = boto3.client("ec2", region_name=REGION).describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
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
    assert "Security Hub: 56 finding(s) imported" in flat(result.stderr)  # 44 findings, 12 failing guardrails


def test_asff_needs_an_account() -> None:
    from ec2c.orchestrator.errors import OperationFailed
    from ec2c.orchestrator.reporting.formats import OutputFormat
    from ec2c.orchestrator.reporting.writers import write_report

    report = load_report(
        {"run_id": "r", "generated_at": "2026-01-01T00:00:00Z", "regions": [REGION], "summary": {}, "findings": []},
        None,
        "test",
    )
    out = io.StringIO()
    with pytest.raises(OperationFailed, match="no account id"):
        write_report(out, report, OutputFormat.asff)
    assert out.getvalue() == ""  # refused before anything was written


@pytest.mark.parametrize("fmt", ["asff", "ocsf"])
def test_asff_and_ocsf_files_hold_one_element_per_failure(mocked, fmt) -> None:
    seed_instance()
    target = mocked / f"findings.{fmt}.json"
    exported = mocked / "export.json"
    assert run("--format", fmt, "--output", str(target)).exit_code == 0
    assert run("--format", "json", "--output", str(exported)).exit_code == 0
    elements = json.loads(target.read_text())
    assert target.read_text().count("\n") == 1  # one compact line, as before the streaming
    expected = failures(json.loads(exported.read_text()))
    key = (lambda e: e["Id"]) if fmt == "asff" else (lambda e: e["finding_info"]["uid"])
    assert sorted(map(key, elements)) == sorted(f["finding_id"] for f in expected)


def test_a_schema_1_report_in_ocsf_is_one_line_error(mocked, tmp_path) -> None:
    from ec2c.orchestrator.errors import OperationFailed
    from ec2c.orchestrator.reporting.formats import OutputFormat
    from ec2c.orchestrator.reporting.writers import write_report

    old = load_report(
        {
            "run_id": "r",
            "generated_at": "2024-01-01T00:00:00Z",
            "summary": {},
            "findings": [
                {"instance_id": "i-1", "region": REGION, "rule_id": "no_key_pair", "severity": "low", "status": "FAIL"}
            ],
        },
        None,
        "test",
    )
    with pytest.raises(OperationFailed, match=r"^--format ocsf: OCSF output needs a schema 2 or later report"):
        write_report(io.StringIO(), old, OutputFormat.ocsf)


def test_report_of_a_stack_without_a_bucket_output_says_to_deploy(monkeypatch) -> None:
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from ec2c.orchestrator.cli import app
    from ec2c.orchestrator.deploy.rollouts import operations

    environment = SimpleNamespace(stack_name="dev", aws=SimpleNamespace(region="eu-west-1"))
    monkeypatch.setattr(operations, "stack_outputs", lambda env, stack, config_dir: ({}, environment))
    result = CliRunner().invoke(app, ["report", "--env", "dev"])
    assert result.exit_code == 1
    assert "stack dev: no `compliance_bucket_name` output; deploy it first (`ec2c up --env dev`)" in flat(result.stderr)


def test_security_hub_with_a_folder_archives_through_the_reports_own_diff(mocked) -> None:
    """Scans into one folder: the report's resolved findings go to the hub ARCHIVED (from
    `to_asff`), counted once, not also as findings the hub no longer sees."""
    hub = boto3.client("securityhub", region_name=REGION)
    hub.enable_security_hub()
    instance = seed_instance()
    folder = f"{mocked / 'store'}/"
    assert run("--security-hub", "--output", folder).exit_code == 0
    boto3.client("ec2", region_name=REGION).modify_instance_metadata_options(
        InstanceId=instance, HttpTokens="required", HttpEndpoint="enabled"
    )
    second = run("--security-hub", "--output", folder, "--format", "json")
    assert second.exit_code == 0, second.stderr
    assert "(1 resolved, archived)" in flat(second.stderr)
    exported = json.loads((mocked / "store" / "ec2-compliance-report.json").read_text())
    (resolved,) = exported["resolved_findings"]
    states = {f["Id"]: (f["RecordState"], f["Workflow"]["Status"]) for f in hub.get_findings()["Findings"]}
    assert states[resolved["finding_id"]] == ("ARCHIVED", "RESOLVED")


def test_finding_ids_are_kept_as_64_bit_digests() -> None:
    from ec2c.orchestrator.scan.hub import FindingIds, digest

    sha = "0123456789abcdef" + "0" * 48
    ids = FindingIds([sha, "not-hex"])
    assert len(ids) == 2 and digest(sha) == 0x0123456789ABCDEF
    assert sha in ids and "0123456789abcdef" + "f" * 48 in ids  # the same 64 bits
    assert "fedcba9876543210" + "0" * 48 not in ids and "not-hex" in ids and 42 not in ids
    with pytest.raises(TypeError):
        list(ids)


def test_the_export_is_written_finding_by_finding() -> None:
    """`write_export` never hands the whole document to one write: each finding is its own piece."""
    from ec2c.orchestrator.reporting.writers import write_export

    finding = {
        "finding_id": "f" * 64,
        "region": REGION,
        "rule_id": "no_key_pair",
        "status": "FAIL",
        "severity": "low",
        "instance_id": "i-1",
        "resource_id": "i-1",
        "message": "x" * 500,
    }
    report = load_report(
        {
            "run_id": "r",
            "generated_at": "2026-01-01T00:00:00Z",
            "summary": {},
            "findings": [dict(finding, resource_id=f"i-{n}") for n in range(20)],
        },
        None,
        "test",
    )

    class Pieces(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.sizes: list[int] = []

        def write(self, text: str) -> int:
            self.sizes.append(len(text))
            return super().write(text)

    out = Pieces()
    write_export(out, report)
    assert max(out.sizes) < 1_000 < sum(out.sizes)  # no piece holds more than one finding
    back = load_report(json.loads(out.getvalue()), None, "export")
    assert [f["resource_id"] for f in back.findings()] == [f"i-{n}" for n in range(20)]
