"""S3, CloudWatch and SNS side effects, read back from moto; alert text and truncation."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

import pytest
from botocore.exceptions import ClientError
from compliance_scanner.alerts import (
    MESSAGE_LIMIT_BYTES,
    alert_message,
    alert_subject,
    should_alert,
)
from compliance_scanner.contract import LATEST_REPORT_KEY
from compliance_scanner.evaluation import evaluate_resources
from compliance_scanner.policy import load_policy
from compliance_scanner.publish import load_latest, put_metrics, send_alert, store_report
from compliance_scanner.report import build_report, diff

from .conftest import NOW, REGION, record

BUCKET = "compliance-reports"


def make_report(instances=(), policy=None, run_id="run-1", **kwargs: Any) -> dict[str, Any]:
    policy = policy or load_policy(None)
    instances = list(instances)
    report = build_report(
        run_id=run_id,
        generated_at=NOW,
        account_id="123456789012",
        regions=[REGION],
        policy=policy,
        instances=instances,
        outcomes=evaluate_resources(instances, policy, date(2025, 6, 1)),
        errors=[],
        **kwargs,
    )
    report.update(diff(None, report))
    return report


@pytest.fixture
def s3(session):
    client = session.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


def read_json(s3, key: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_store_report_writes_dated_json_csv_and_latest(s3) -> None:
    report = make_report([record(instance_id="i-1")])
    key = store_report(s3, BUCKET, report)
    assert key == "reports/2025/06/01/run-1.json"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {key, "reports/2025/06/01/run-1.csv", LATEST_REPORT_KEY}
    assert read_json(s3, key) == read_json(s3, LATEST_REPORT_KEY) == report
    head = s3.head_object(Bucket=BUCKET, Key="reports/2025/06/01/run-1.csv")
    assert head["ContentType"] == "text/csv"
    csv_body = s3.get_object(Bucket=BUCKET, Key="reports/2025/06/01/run-1.csv")["Body"].read()
    assert csv_body.decode().startswith("instance_id,region,rule_id")
    assert "previous_run_id" not in report
    assert len(report["new_findings"]) == len(report["findings"])


def test_store_report_diffs_against_the_previous_latest(s3) -> None:
    store_report(s3, BUCKET, make_report([record(instance_id="i-1")], run_id="run-1"))
    second = make_report(
        [
            record(instance_id="i-1", tags={"Owner": "a", "Environment": "b"}),
            record(instance_id="i-2"),
        ],
        run_id="run-2",
    )
    store_report(s3, BUCKET, second)
    assert second["previous_run_id"] == "run-1"
    assert {f["instance_id"] for f in second["new_findings"]} == {"i-2"}
    assert [f["rule_id"] for f in second["resolved_findings"]] == ["required_tags"]
    assert read_json(s3, LATEST_REPORT_KEY)["run_id"] == "run-2"


def test_unreadable_latest_is_ignored_with_a_warning(s3, caplog) -> None:
    s3.put_object(Bucket=BUCKET, Key=LATEST_REPORT_KEY, Body=b"{not json")
    with caplog.at_level(logging.WARNING):
        assert load_latest(s3, BUCKET) is None
    assert "ignoring unreadable reports/latest.json" in caplog.text


def test_other_s3_errors_are_raised(s3) -> None:
    with pytest.raises(ClientError) as caught:
        load_latest(s3, "no-such-bucket")
    assert caught.value.response["Error"]["Code"] == "NoSuchBucket"


def test_put_metrics_publishes_totals_and_per_rule_failures(session) -> None:
    cloudwatch = session.client("cloudwatch", region_name=REGION)
    report = make_report(
        [record(instance_id="i-1"), record(instance_id="i-2", public_ip="1.2.3.4")]
    )
    put_metrics(cloudwatch, "EC2Compliance", report)
    metrics = cloudwatch.list_metrics(Namespace="EC2Compliance")["Metrics"]
    names = {m["MetricName"] for m in metrics}
    assert names == {
        "CompliantInstances",
        "NonCompliantInstances",
        "ComplianceRate",
        "RuleFailures",
    }
    rules = {m["Dimensions"][0]["Value"] for m in metrics if m["MetricName"] == "RuleFailures"}
    assert rules == set(report["summary"]["by_rule"])
    stats = cloudwatch.get_metric_statistics(
        Namespace="EC2Compliance",
        MetricName="RuleFailures",
        Dimensions=[{"Name": "Rule", "Value": "no_public_ip"}],
        StartTime=NOW.replace(hour=0),
        EndTime=NOW.replace(hour=23),
        Period=86400,
        Statistics=["Maximum"],
    )
    assert stats["Datapoints"][0]["Maximum"] == 1.0
    rate = cloudwatch.get_metric_statistics(
        Namespace="EC2Compliance",
        MetricName="NonCompliantInstances",
        StartTime=NOW.replace(hour=0),
        EndTime=NOW.replace(hour=23),
        Period=86400,
        Statistics=["Maximum"],
    )
    assert rate["Datapoints"][0]["Maximum"] == 2.0


def test_send_alert_publishes_summary_and_new_findings(topic) -> None:
    sns, arn, received = topic
    report = make_report([record(instance_id="i-1", public_ip="54.1.2.3")])
    assert send_alert(sns, arn, report, "s3://bucket/reports/x.json") is True
    [message] = received()
    assert message["Subject"] == f"EC2 compliance 0.0%: 9 new finding(s) in account {report['account_id']}"
    body = message["Message"]
    assert "Compliance rate: 0.0% (alert threshold 90.0%): BELOW THRESHOLD" in body
    assert "- [HIGH] i-1 (us-east-1) no_public_ip: instance has public addresses: 54.1.2.3" in body
    assert body.endswith("Full report: s3://bucket/reports/x.json")


def test_no_alert_when_compliant_and_nothing_new(topic) -> None:
    sns, arn, received = topic
    report = make_report([])
    assert should_alert(report) is False
    assert send_alert(sns, arn, report, "s3://b/k") is False
    assert received() == []


def test_alert_conditions() -> None:
    base = {"summary": {"compliance_rate": 95.0}, "new_findings": [{}]}
    on = {"alert_threshold": 90, "alert_on_new_findings": True}
    off = {"alert_threshold": 90, "alert_on_new_findings": False}
    assert should_alert({**base, "policy": on}) is True
    assert should_alert({**base, "policy": off}) is False
    assert should_alert({**base, "policy": {**off, "alert_threshold": 99}}) is True


def test_subject_is_ascii_and_at_most_100_characters() -> None:
    report = make_report([])
    report["account_id"] = "ç" * 50 + "x" * 200
    subject = alert_subject(report)
    assert len(subject) == 100
    assert subject.isascii() and "\n" not in subject
    assert alert_subject({**report, "account_id": None}).endswith("account unknown")


def test_huge_alerts_are_truncated_below_the_sns_limit(topic) -> None:
    sns, arn, received = topic
    instances = [record(instance_id=f"i-{n:017d}", public_ip="54.1.2.3") for n in range(3000)]
    report = make_report(instances, partial_reason="time budget exhausted")
    assert len(report["new_findings"]) == 27000  # about 2.7 MB of finding lines
    message = alert_message(report, "s3://bucket/reports/big.json")
    assert len(message.encode("utf-8")) <= MESSAGE_LIMIT_BYTES
    assert "PARTIAL SCAN: time budget exhausted" in message
    assert "more new findings: see the full report." in message
    assert message.endswith("Full report: s3://bucket/reports/big.json")
    assert send_alert(sns, arn, report, "s3://bucket/reports/big.json") is True
    assert received()[0]["Message"] == message


def test_truncation_counts_what_was_left_out() -> None:
    report = make_report([record(instance_id="i-1", public_ip="54.1.2.3")])
    full = alert_message(report, "s3://b/k")
    shown = full.count("\n- [")
    assert "more new findings" not in full
    cut = alert_message(report, "s3://b/k", limit_bytes=len(full.encode()) - 1)
    assert cut.count("\n- [") == shown - 1
    assert "... and 1 more new findings: see the full report." in cut
