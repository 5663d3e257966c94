"""`ec2c report --env`: the stack's outputs (real engine) name a bucket on a moto server, and the
latest report is read from it with the caller's credentials: a schema 3 index whose findings
stream from the run's shards, or a schema 2 document. Every way the report is unusable is one
line naming the object and why, exit 1."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from ec2c.scanner.contract import LATEST_REPORT_KEY
from ec2c.scanner.documents import format_time
from ec2c.scanner.reports.reader import Report, load_report, read_report

from .conftest import MOTO_CREDENTIALS as CREDENTIALS

BUCKET = "acme-compliance-reports-eng"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo scanned into a folder with the bucket's layout (index, dated copy, shards)."""
    from ec2c.orchestrator import demo
    from ec2c.scanner.assessment.policy import load_policy
    from ec2c.scanner.run.scanner import scan
    from ec2c.scanner.storage import DirStore

    root = tmp_path_factory.mktemp("store")
    with demo.demo_session() as (session, _fleet):
        scan(
            session,
            list(demo.DEMO_REGIONS),
            load_policy(demo.demo_policy()),
            DirStore(root),
            account_id=demo.DEMO_ACCOUNT_ID,
        )
    return root


@pytest.fixture(scope="module")
def demo_report(demo_store: Path) -> Report:
    from ec2c.scanner.storage import DirStore

    return read_report(DirStore(demo_store), LATEST_REPORT_KEY)


def upload(s3, root: Path) -> dict[str, bytes]:
    """Every object of the folder store into the bucket, under the same keys; returns them."""
    objects = {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}
    for key, body in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return objects


def schema2_document(report: Report) -> dict:
    """The report as the previous version stored it: one document, schema 2, every list inline."""
    document = {key: value for key, value in report.index.items() if key != "region_shards"}
    document.update(
        schema_version=2,
        findings=list(report.findings()),
        new_findings=list(report.new_findings()),
        resolved_findings=list(report.resolved_findings()),
    )
    return document


def one_error(result, *parts: str) -> str:
    """The command failed (exit 1) with exactly one error line, holding every one of `parts`."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for part in parts:
        assert part in errors[0], (part, errors[0])
    return errors[0]


@pytest.fixture
def reports_bucket(project, moto_s3):
    endpoint, s3 = moto_s3
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "EC2C_TEST_BUCKET": BUCKET, "COLUMNS": "400"}
    up = project.ec2c("up", "--env", "eng", "--json", **env)
    assert up.returncode == 0, up.stderr
    return s3, env


def test_report_reads_the_latest_report_of_the_deployed_bucket(project, reports_bucket, demo_store, demo_report):
    s3, env = reports_bucket
    empty = project.ec2c("report", "--env", "eng", **env)
    one_error(empty, f"s3://{BUCKET}/reports/latest.json: no report yet")

    upload(s3, demo_store)
    table = project.ec2c("report", "--env", "eng", "--limit", "3", **env)
    assert table.returncode == 0, table.stderr
    assert f"Latest report of eng: s3://{BUCKET}/reports/latest.json" in table.stderr
    assert format_time(demo_report.index["generated_at"]) in table.stderr and "user_data_secrets" in table.stderr
    assert "53 more findings" in table.stderr  # counted over every shard: 56 failures, 3 shown

    as_json = project.ec2c("report", "--env", "eng", "--format", "json", **env)
    assert as_json.returncode == 0, as_json.stderr
    exported = load_report(json.loads(as_json.stdout), None, "stdout")
    assert exported.index["run_id"] == demo_report.index["run_id"]
    assert list(exported.failures()) == list(demo_report.failures())  # streamed from the bucket's shards

    page = project.root / "eng.html"
    html = project.ec2c("report", "--env", "eng", "--format", "html", "--output", str(page), **env)
    assert html.returncode == 0 and demo_report.index["run_id"] in page.read_text()

    asff = json.loads(project.ec2c("report", "--env", "eng", "--format", "asff", **env).stdout)
    assert {f["ProductArn"] for f in asff} == {
        "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
    }
    assert len(asff) == sum(1 for _ in demo_report.failures())

    csv_text = project.ec2c("report", "--env", "eng", "--format", "csv", **env).stdout
    assert len(csv_text.splitlines()) == 1 + sum(1 for _ in demo_report.failures())


def test_a_schema_2_report_still_reads(project, reports_bucket, demo_report):
    s3, env = reports_bucket
    document = schema2_document(demo_report)
    s3.put_object(Bucket=BUCKET, Key=LATEST_REPORT_KEY, Body=json.dumps(document).encode())
    table = project.ec2c("report", "--env", "eng", "--limit", "0", **env)
    assert table.returncode == 0, table.stderr
    assert "user_data_secrets" in table.stderr and "more finding" not in table.stderr
    as_json = project.ec2c("report", "--env", "eng", "--format", "json", **env)
    assert as_json.returncode == 0, as_json.stderr
    exported = json.loads(as_json.stdout)
    assert exported["schema_version"] == 3 and exported["findings"] == document["findings"]
    assert exported["new_findings"] == document["new_findings"]


def test_unusable_shards_are_one_line_naming_the_object(project, reports_bucket, demo_store, demo_report):
    s3, env = reports_bucket
    objects = upload(s3, demo_store)
    (entry, *_) = [e for e in demo_report.index["region_shards"] if e["findings"]]
    shard = entry["shards"]["findings"]
    where = f"s3://{BUCKET}/{shard}"

    s3.delete_object(Bucket=BUCKET, Key=shard)
    for fmt in ("table", "csv", "json", "html"):
        one_error(project.ec2c("report", "--env", "eng", "--format", fmt, **env), where, "no such object")

    body = objects[shard]
    assert gzip.decompress(body)  # a sound shard, cut in half below
    s3.put_object(Bucket=BUCKET, Key=shard, Body=body[: len(body) // 2])
    one_error(project.ec2c("report", "--env", "eng", "--format", "csv", **env), where, "truncated or corrupt")

    s3.put_object(Bucket=BUCKET, Key=shard, Body=b'{"not": "gzip"}\n')
    page = project.root / "eng.html"
    one_error(
        project.ec2c("report", "--env", "eng", "--format", "html", "--output", str(page), **env),
        where,
        "not a gzip file",
    )
    assert not page.exists()  # no half page left behind


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>not json</html>", "not JSON"),
        (json.dumps({"hello": "world"}).encode(), "not a compliance report"),
        (
            json.dumps(
                {"schema_version": 99, "run_id": "r", "generated_at": "2030-01-01T00:00:00Z", "summary": {}}
            ).encode(),
            "unknown schema_version 99 (this version reads 1 to 3)",
        ),
    ],
    ids=["not-json", "not-a-report", "unknown-schema"],
)
def test_an_unusable_index_is_one_line_naming_it(project, reports_bucket, body, why):
    s3, env = reports_bucket
    s3.put_object(Bucket=BUCKET, Key=LATEST_REPORT_KEY, Body=body)
    one_error(project.ec2c("report", "--env", "eng", **env), f"s3://{BUCKET}/{LATEST_REPORT_KEY}: {why}")


def test_missing_buckets_and_stacks_say_why(project, reports_bucket):
    s3, env = reports_bucket
    s3.delete_bucket(Bucket=BUCKET)
    one_error(project.ec2c("report", "--env", "eng", **env), f"s3://{BUCKET}/{LATEST_REPORT_KEY}", "NoSuchBucket")

    project.write_env("other", {"aws": {"region": "eu-west-1"}})
    no_stack = project.ec2c("report", "--env", "other", **env)
    assert no_stack.returncode == 1 and "Traceback" not in no_stack.stderr
    assert "other" in no_stack.stderr
