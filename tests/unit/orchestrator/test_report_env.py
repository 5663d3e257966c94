"""`ec2c report --env E` on moto's S3, the stack's outputs stubbed (tests/engine/test_report_command.py
runs the same through the real engine): the bucket's report is read through the scanner's reader
and every way it is unusable is one line naming the object, exit 1."""

from __future__ import annotations

import gzip
import json
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from ec2c.orchestrator.cli import app
from ec2c.orchestrator.deploy.rollouts import operations
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.contract import LATEST_REPORT_KEY
from ec2c.scanner.reports.reader import Report, load_report
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.run.scanner import scan
from ec2c.scanner.storage import S3Store

BUCKET = "reports-dev"
REGION = "us-east-1"


@pytest.fixture
def bucket(mocked, monkeypatch) -> Any:
    """The stack `dev` names BUCKET in REGION; returns an S3 client."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    environment = SimpleNamespace(stack_name="dev", aws=SimpleNamespace(region=REGION))
    outputs = {"compliance_bucket_name": BUCKET, "region": REGION}
    monkeypatch.setattr(operations, "stack_outputs", lambda env, stack, config_dir: (outputs, environment))
    return s3


def stored_scan(instances: int = 2) -> Report:
    """A scan of moto's EC2 into the bucket, as the Lambda stores it (index and shards)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.run_instances(
        ImageId=image,
        MinCount=instances,
        MaxCount=instances,
        InstanceType="t3.micro",
        MetadataOptions={"HttpTokens": "optional"},
    )
    policy = load_policy(
        {"rules": {rule: {"enabled": rule in ("imdsv2_required", "no_key_pair")} for rule in CATALOGUE}}
    )
    session = boto3.session.Session(region_name=REGION)
    return scan(session, [REGION], policy, S3Store(session.client("s3"), BUCKET))


def report(*args: str):
    result = CliRunner().invoke(app, ["report", "--env", "dev", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return line


def test_every_format_streams_from_the_shards(bucket):
    stored = stored_scan(instances=3)
    assert stored.sharded
    failures = list(stored.failures())
    table = report("--limit", "1")
    assert table.exit_code == 0, table.stderr
    assert f"Latest report of dev: s3://{BUCKET}/{LATEST_REPORT_KEY}" in table.stderr
    assert f"... {len(failures) - 1} more findings" in " ".join(table.stderr.split())
    exported = load_report(json.loads(report("--format", "json").stdout), None, "stdout")
    assert list(exported.failures()) == failures
    csv_lines = report("--format", "csv").stdout.splitlines()
    assert len(csv_lines) == 1 + len(failures)
    assert len(json.loads(report("--format", "asff").stdout)) == len(failures)
    assert len(json.loads(report("--format", "ocsf").stdout)) == len(failures)
    page = report("--format", "html").stdout
    assert page.startswith("<!DOCTYPE html>") and stored.index["run_id"] in page


def test_a_schema_2_latest_json_still_reads(bucket):
    stored = stored_scan()
    document = {key: value for key, value in stored.index.items() if key != "region_shards"}
    document.update(
        schema_version=2,
        findings=list(stored.findings()),
        new_findings=list(stored.new_findings()),
        resolved_findings=[],
    )
    bucket.put_object(Bucket=BUCKET, Key=LATEST_REPORT_KEY, Body=json.dumps(document).encode())
    table = report()
    assert table.exit_code == 0, table.stderr
    assert "imdsv2_required" in table.stderr
    exported = json.loads(report("--format", "json").stdout)
    assert exported["findings"] == document["findings"] and exported["new_findings"] == document["new_findings"]


def test_no_report_yet(bucket):
    assert error_line(report()) == (
        f"error: s3://{BUCKET}/{LATEST_REPORT_KEY}: no report yet; the analyzer has not "
        "completed a scan (its schedule runs it, or `ec2c run --env <env>` "
        "starts one now)"
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a compliance report (no run_id, generated_at and summary)"),
        (
            json.dumps(
                {"schema_version": 4, "run_id": "r", "generated_at": "2030-01-01T00:00:00Z", "summary": {}}
            ).encode(),
            "unknown schema_version 4 (this version reads 1 to 3)",
        ),
    ],
)
def test_an_unusable_index(bucket, body, why):
    bucket.put_object(Bucket=BUCKET, Key=LATEST_REPORT_KEY, Body=body)
    assert error_line(report()) == f"error: s3://{BUCKET}/{LATEST_REPORT_KEY}: {why}"


def _findings_shard(stored: Report) -> str:
    entry = stored.region_entry(REGION)
    assert entry is not None and entry["shards"] is not None and entry["findings"]
    return entry["shards"]["findings"]


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "html", "asff", "ocsf"])
def test_a_missing_shard(bucket, fmt):
    shard = _findings_shard(stored_scan())
    bucket.delete_object(Bucket=BUCKET, Key=shard)
    assert error_line(report("--format", fmt)) == f"error: s3://{BUCKET}/{shard}: no such object"


def test_a_truncated_or_foreign_shard(bucket, tmp_path):
    shard = _findings_shard(stored_scan(instances=40))
    body = bucket.get_object(Bucket=BUCKET, Key=shard)["Body"].read()
    assert len(gzip.decompress(body).splitlines()) == 40
    bucket.put_object(Bucket=BUCKET, Key=shard, Body=body[: len(body) // 2])
    line = error_line(report("--format", "csv"))
    assert line.startswith(f"error: s3://{BUCKET}/{shard}: truncated or corrupt after ")

    bucket.put_object(Bucket=BUCKET, Key=shard, Body=b"plain text, not gzip\n")
    target = tmp_path / "report.json"
    target.write_text("the previous export")
    assert error_line(report("--format", "json", "--output", str(target))) == (
        f"error: s3://{BUCKET}/{shard}: not a gzip file"
    )
    assert target.read_text() == "the previous export"  # the half-written export was never renamed over it


def test_a_connection_cut_while_reading_is_one_line(bucket, monkeypatch):
    """A body cut off after GetObject succeeded: botocore's error, named, not a traceback."""
    from botocore.exceptions import ResponseStreamingError

    from ec2c.orchestrator.reporting import writers
    from ec2c.orchestrator.scan import latest

    def cut(*args: Any, **kwargs: Any) -> Any:
        raise ResponseStreamingError(error="Connection broken: IncompleteRead(10 bytes read)")

    stored_scan()
    monkeypatch.setattr(writers, "emit", cut)
    line = error_line(report("--format", "csv"))
    assert line.startswith(f"error: s3://{BUCKET}: reading the report's shards failed: ") and "IncompleteRead" in line

    monkeypatch.setattr(latest, "load_latest", cut)
    line = error_line(report())
    assert line.startswith(f"error: s3://{BUCKET}/{LATEST_REPORT_KEY}: ") and "IncompleteRead" in line


def test_security_hub_needs_the_reports_account():
    from ec2c.orchestrator.errors import OperationFailed
    from ec2c.orchestrator.scan.hub import import_report

    anonymous = load_report({"run_id": "r", "generated_at": "2026-01-01T00:00:00Z", "summary": {}}, None, "test")
    with pytest.raises(OperationFailed, match="no account id"):
        import_report(None, anonymous, REGION)


def write_change(stored: Report, minutes: int, resources: list[dict[str, str]], findings: list[Any]) -> str:
    """A change record in the bucket, written `minutes` after the report's scan started, as the
    event path stores it; returns its key."""
    from datetime import datetime, timedelta

    from ec2c.scanner.changes.records import record_key
    from ec2c.scanner.storage import put_json

    moment = datetime.fromisoformat(stored.index["generated_at"].replace("Z", "+00:00")) + timedelta(minutes=minutes)
    key = record_key(moment, f"batch-{minutes}")
    record = {
        "kind": "change",
        "schema_version": 1,
        "record_id": f"batch-{minutes}",
        "generated_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "account_id": stored.index["account_id"],
        "base_run_id": stored.index["run_id"],
        "event_ids": ["e-1"],
        "events": {"received": 1, "evaluated": 1, "skipped": 0, "retried": 0},
        "earliest_event": None,
        "latest_event": None,
        "resources": [{"region": REGION, "state": "evaluated", **resource} for resource in resources],
        "findings": findings,
        "new_findings": [],
        "resolved_findings": [],
        "errors": [],
        "skipped": [],
    }
    put_json(S3Store(boto3.client("s3", region_name=REGION), BUCKET), key, record)
    return key


def instance(resource_id: str, state: str = "evaluated") -> dict[str, str]:
    return {"resource_type": "instance", "resource_id": resource_id, "state": state}


def test_the_change_records_since_the_scan_are_laid_over_it(bucket):
    stored = stored_scan(instances=3)
    findings = list(stored.findings())
    gone, kept, untouched = sorted(f["resource_id"] for f in findings)
    [kept_finding] = [f for f in findings if f["resource_id"] == kept]
    write_change(stored, 1, [instance(gone, "gone")], [])
    key = write_change(stored, 2, [instance(kept)], [kept_finding])
    through = write_change(stored, 3, [instance("i-0notscanned")], [])  # a resource the scan never saw

    table = report("--limit", "0")

    assert table.exit_code == 0, table.stderr
    assert (
        "Includes 3 change record(s) through "
        f"{json.loads(bucket.get_object(Bucket=BUCKET, Key=through)['Body'].read())['generated_at']} "
        "(3 resource(s) re-evaluated since the full scan)"
    ) in table.stderr
    assert gone not in table.stderr and untouched in table.stderr
    assert "changed: re-evaluated" in table.stderr
    exported = json.loads(report("--format", "json").stdout)
    assert sorted(f["resource_id"] for f in exported["findings"]) == [kept, untouched]
    [marked] = [f for f in exported["findings"] if f["resource_id"] == kept]
    assert marked["change_record"] == key
    assert exported["summary"]["non_compliant_instances"] == 2
    assert exported["overlay"]["records"] == 3
    assert len(report("--format", "csv").stdout.splitlines()) == 1 + 2
    page = report("--format", "html").stdout
    assert 'data-field="change_records"' in page and page.count('data-hook="changed"') == 1


def test_no_changes_shows_the_full_scan_alone(bucket):
    stored = stored_scan(instances=2)
    write_change(stored, 1, [instance(f["resource_id"], "gone") for f in stored.findings()], [])
    alone = report("--no-changes", "--format", "json")
    assert alone.exit_code == 0, alone.stderr
    assert "change record" not in alone.stderr
    exported = json.loads(alone.stdout)
    assert "overlay" not in exported and len(exported["findings"]) == 2
    assert json.loads(report("--format", "json").stdout)["findings"] == []


def test_without_records_nothing_is_said(bucket):
    stored = stored_scan()
    write_change(stored, -5, [instance(next(stored.findings())["resource_id"], "gone")], [])  # older than the scan
    table = report()
    assert table.exit_code == 0, table.stderr
    assert "change record" not in table.stderr


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_record_that_cannot_be_read_is_one_line(bucket, fmt):
    stored = stored_scan()
    key = write_change(stored, 1, [], [])
    bucket.put_object(Bucket=BUCKET, Key=key, Body=b"{not json")
    assert error_line(report("--format", fmt)) == f"error: s3://{BUCKET}/{key}: not JSON"
    assert report("--no-changes", "--format", fmt).exit_code == 0


def test_no_changes_is_for_an_environment_only(tmp_path):
    result = CliRunner().invoke(app, ["report", "--plan", str(tmp_path / "plan.yaml"), "--no-changes"])
    assert result.exit_code == 2
    assert "--no-changes: only with --env" in result.stderr


def test_a_record_cut_off_while_reading_is_one_line(bucket, monkeypatch):
    """A record's body cut off after GetObject succeeded: botocore's error, named, no traceback."""
    from botocore.exceptions import ResponseStreamingError

    from ec2c.orchestrator.scan import latest

    def cut(*args: Any, **kwargs: Any) -> Any:
        raise ResponseStreamingError(error="Connection broken: IncompleteRead(3 bytes read)")
        yield  # a generator, as records_since is

    stored_scan()
    monkeypatch.setattr(latest, "records_since", cut)
    line = error_line(report())
    assert line.startswith(f"error: s3://{BUCKET}/reports/changes/: ") and "IncompleteRead" in line


def test_a_report_time_that_is_no_time_cannot_be_overlaid(bucket):
    document = {"schema_version": 2, "run_id": "r1", "generated_at": "yesterday", "summary": {}, "findings": []}
    bucket.put_object(Bucket=BUCKET, Key=LATEST_REPORT_KEY, Body=json.dumps(document).encode())
    line = error_line(report("--format", "json"))
    assert line == (
        f"error: s3://{BUCKET}/{LATEST_REPORT_KEY}: generated_at 'yesterday' is not an ISO 8601 time, so the "
        "change records newer than the report cannot be told; --no-changes shows the report alone"
    )


def test_a_report_without_a_store_has_no_records_to_overlay():
    from ec2c.orchestrator.scan.latest import DeployedReport, with_changes

    alone = load_report({"run_id": "r", "generated_at": "2026-01-01T00:00:00Z", "summary": {}}, None, "test")
    latest = DeployedReport(alone, BUCKET, REGION)
    assert with_changes(latest) is latest
