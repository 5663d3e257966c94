"""`ec2c report --env`: the stack's outputs (real engine) name a bucket on a moto server, and the
latest report is read from it with the caller's credentials."""

from __future__ import annotations

import json

import pytest

from compliance_scanner.contract import LATEST_REPORT_KEY

from .conftest import MOTO_CREDENTIALS as CREDENTIALS

BUCKET = "acme-compliance-reports-eng"


@pytest.fixture(scope="module")
def demo_report() -> dict:
    from compliance_scanner.policy import load_policy
    from compliance_scanner.scanner import scan
    from orchestrator.scan import demo

    with demo.demo_session() as (session, _fleet):
        return scan(session, list(demo.DEMO_REGIONS), load_policy(demo.demo_policy()), account_id=demo.DEMO_ACCOUNT_ID)


@pytest.fixture
def reports_bucket(project, moto_s3):
    endpoint, s3 = moto_s3
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "EC2C_TEST_BUCKET": BUCKET}
    up = project.ec2c("up", "--env", "eng", "--json", **env)
    assert up.returncode == 0, up.stderr
    return s3, env


def test_report_reads_the_latest_report_of_the_deployed_bucket(project, reports_bucket, demo_report):
    s3, env = reports_bucket
    empty = project.ec2c("report", "--env", "eng", **env)
    assert empty.returncode == 1
    assert f"s3://{BUCKET}/reports/latest.json: no report yet" in " ".join(empty.stderr.split())

    s3.put_object(Bucket=BUCKET, Key=LATEST_REPORT_KEY, Body=json.dumps(demo_report).encode())
    table = project.ec2c("report", "--env", "eng", "--limit", "3", **env)
    assert table.returncode == 0, table.stderr
    assert f"Latest report of eng: s3://{BUCKET}/reports/latest.json" in table.stderr
    assert demo_report["generated_at"] in table.stderr and "user_data_secrets" in table.stderr

    as_json = project.ec2c("report", "--env", "eng", "--format", "json", **env)
    assert json.loads(as_json.stdout) == demo_report

    page = project.root / "eng.html"
    html = project.ec2c("report", "--env", "eng", "--format", "html", "--output", str(page), **env)
    assert html.returncode == 0 and demo_report["run_id"] in page.read_text()

    asff = json.loads(project.ec2c("report", "--env", "eng", "--format", "asff", **env).stdout)
    assert {f["ProductArn"] for f in asff} == {
        "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
    }


def test_unreadable_buckets_and_missing_stacks_say_why(project, reports_bucket):
    s3, env = reports_bucket
    s3.put_object(Bucket=BUCKET, Key=LATEST_REPORT_KEY, Body=b"<html>not json</html>")
    broken = project.ec2c("report", "--env", "eng", **env)
    assert broken.returncode == 1 and "not a JSON report" in broken.stderr

    s3.delete_object(Bucket=BUCKET, Key=LATEST_REPORT_KEY)
    s3.delete_bucket(Bucket=BUCKET)
    missing_bucket = project.ec2c("report", "--env", "eng", **env)
    assert missing_bucket.returncode == 1 and "NoSuchBucket" in missing_bucket.stderr
    assert "Traceback" not in missing_bucket.stderr

    project.write_env("other", {"aws": {"region": "eu-west-1"}})
    no_stack = project.ec2c("report", "--env", "other", **env)
    assert no_stack.returncode == 1 and "Traceback" not in no_stack.stderr
    assert "other" in no_stack.stderr
