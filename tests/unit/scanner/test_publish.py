"""Storing the index (S3 on moto), CloudWatch metrics and the SNS alert, read back from moto;
alert text and truncation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.contract import LATEST_REPORT_KEY
from ec2c.scanner.reports.alerts import (
    MESSAGE_LIMIT_BYTES,
    alert_message,
    alert_subject,
    below_threshold,
    compose_alert,
    should_alert,
)
from ec2c.scanner.reports.publish import metric_data, put_metrics, send_alert
from ec2c.scanner.reports.reader import Report, load_latest
from ec2c.scanner.reports.report import SummaryCounter
from ec2c.scanner.run.scanner import scan
from ec2c.scanner.storage import MissingObject, ReportReadError, S3Store

from .conftest import NOW, REGION, inline_report, launch, record, report_from_records
from .test_scan import DEFAULT

BUCKET = "compliance-reports"
POLICY = load_policy(None)


@pytest.fixture
def s3(session):
    client = session.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


def read_json(s3, key: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_the_scan_stores_shards_then_the_dated_index_then_latest(session, ec2, s3) -> None:
    launch(ec2)
    written: list[str] = []
    s3.meta.events.register("before-parameter-build.s3.PutObject", lambda params, **_: written.append(params["Key"]))
    report = scan(session, [REGION], DEFAULT, S3Store(s3, BUCKET), now=NOW, run_id="run-1")

    dated = "reports/2025/06/01/run-1.json"
    assert written[-2:] == [dated, LATEST_REPORT_KEY]
    assert set(written[:-2]) == {
        "reports/2025/06/01/run-1/us-east-1/findings.jsonl.gz",
        "reports/2025/06/01/run-1/us-east-1/findings.csv.gz",
        "reports/2025/06/01/run-1/us-east-1/new.jsonl.gz",
    }  # nothing resolved or unevaluated: those shards are not stored
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == set(written)
    assert read_json(s3, dated) == read_json(s3, LATEST_REPORT_KEY) == json.loads(json.dumps(report.index))
    assert s3.head_object(Bucket=BUCKET, Key=dated)["ContentType"] == "application/json"
    assert report.index["previous_run_id"] is None
    assert report.index["new_findings"] == report.region_entry(REGION)["findings"] > 0  # type: ignore[index]


def test_the_latest_report_reads_back_from_the_bucket(session, ec2, s3) -> None:
    launch(ec2)
    store = S3Store(s3, BUCKET)
    assert load_latest(store) is None
    first = scan(session, [REGION], DEFAULT, store, now=NOW)
    latest = load_latest(store)
    assert latest is not None and latest.index["run_id"] == first.index["run_id"]
    assert [f["finding_id"] for f in latest.findings()] == [f["finding_id"] for f in first.findings()]


def test_an_unreadable_latest_is_an_error_not_an_empty_history(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key=LATEST_REPORT_KEY, Body=b"{not json")
    with pytest.raises(ReportReadError) as caught:
        load_latest(S3Store(s3, BUCKET))
    assert str(caught.value) == f"s3://{BUCKET}/{LATEST_REPORT_KEY}: not JSON"


def test_other_s3_errors_are_raised(s3) -> None:
    with pytest.raises(ReportReadError, match="NoSuchBucket") as caught:
        load_latest(S3Store(s3, "no-such-bucket"))
    assert not isinstance(caught.value, MissingObject)


def test_put_metrics_publishes_totals_and_per_rule_failures(session) -> None:
    cloudwatch = session.client("cloudwatch", region_name=REGION)
    report = report_from_records([record(instance_id="i-1"), record(instance_id="i-2", public_ip="1.2.3.4")], POLICY)
    put_metrics(cloudwatch, "EC2Compliance", report.index)
    metrics = cloudwatch.list_metrics(Namespace="EC2Compliance")["Metrics"]
    names = {m["MetricName"] for m in metrics}
    assert names == {
        "CompliantInstances",
        "NonCompliantInstances",
        "ComplianceRate",
        "RuleFailures",
    }
    rules = {m["Dimensions"][0]["Value"] for m in metrics if m["MetricName"] == "RuleFailures"}
    assert rules == set(report.summary["by_rule"])

    def maximum(name: str, **dimension: str) -> float:
        stats = cloudwatch.get_metric_statistics(
            Namespace="EC2Compliance",
            MetricName=name,
            Dimensions=[{"Name": key, "Value": value} for key, value in dimension.items()],
            StartTime=NOW.replace(hour=0),
            EndTime=NOW.replace(hour=23),
            Period=86400,
            Statistics=["Maximum"],
        )
        return stats["Datapoints"][0]["Maximum"]

    assert maximum("RuleFailures", Rule="no_public_ip") == 1.0
    assert maximum("NonCompliantInstances") == 2.0


def test_rule_failures_leave_out_suppressed_ones_and_no_rate_means_no_rate_metric() -> None:
    summary = SummaryCounter(["no_public_ip"]).summary()
    summary["by_rule"]["no_public_ip"] = {"failed": 3, "passed": 0, "suppressed": 2, "skipped": 0}
    data = metric_data(inline_report(summary=summary).index)
    assert [d["MetricName"] for d in data] == ["CompliantInstances", "NonCompliantInstances", "RuleFailures"]
    assert data[-1]["Value"] == 1
    assert {d["Timestamp"] for d in data} == {NOW}


def test_send_alert_publishes_summary_and_new_findings(topic) -> None:
    sns, arn, received = topic
    report = report_from_records([record(instance_id="i-1", public_ip="54.1.2.3")], POLICY)
    assert send_alert(sns, arn, report, "s3://bucket/reports/x.json") is True
    [message] = received()
    assert message["Subject"] == f"EC2 compliance 0.0%: 9 new finding(s) in account {report.index['account_id']}"
    body = message["Message"]
    assert "Compliance rate: 0.0% (alert threshold 90.0%): BELOW THRESHOLD" in body
    assert "- [HIGH] i-1 (us-east-1) no_public_ip: instance has public addresses: 54.1.2.3" in body
    assert "New findings: 9" in body
    assert body.endswith("Full report: s3://bucket/reports/x.json")


def test_no_alert_when_compliant_and_nothing_new(topic) -> None:
    sns, arn, received = topic
    report = report_from_records([], POLICY)
    assert should_alert(report.index) is False
    assert send_alert(sns, arn, report, "s3://b/k") is False
    assert received() == []


def index_with(rate: float | None, new: int, partial: bool = False, **policy: Any) -> Any:
    summary = SummaryCounter([]).summary()
    summary["compliance_rate"] = rate
    document = {
        "summary": summary,
        "new_findings": [{}] * new,
        "partial": partial,
        "policy": {"alert_threshold": 90, "alert_on_new_findings": True, **policy},
    }
    return inline_report(**document).index


def test_alert_conditions() -> None:
    assert should_alert(index_with(95.0, new=1)) is True
    assert should_alert(index_with(95.0, new=0)) is False
    assert should_alert(index_with(95.0, new=1, alert_on_new_findings=False)) is False
    assert should_alert(index_with(95.0, new=0, alert_threshold=99)) is True


def test_an_unknown_rate_alerts_only_when_the_scan_was_partial() -> None:
    """A broken scan is news; an empty account, fully scanned, is not."""
    assert below_threshold(index_with(None, new=0, partial=True)) is True
    assert below_threshold(index_with(None, new=0)) is False


def test_subject_is_ascii_and_at_most_100_characters() -> None:
    index = report_from_records([], POLICY).index
    subject = alert_subject({**index, "account_id": "ç" * 50 + "x" * 200})
    assert len(subject) == 100
    assert subject.isascii() and "\n" not in subject
    assert alert_subject({**index, "account_id": None}).endswith("account unknown")
    assert alert_subject(index).startswith("EC2 compliance n/a: 0 new finding(s)")


def huge(count: int) -> Report:
    instances = [record(instance_id=f"i-{n:017d}", public_ip="54.1.2.3") for n in range(count)]
    return report_from_records(instances, POLICY, partial=True, partial_reason="time budget exhausted")


def test_huge_alerts_are_truncated_below_the_sns_limit(topic) -> None:
    sns, arn, received = topic
    report = huge(3000)
    assert report.index["new_findings"] == 27000  # about 2.7 MB of finding lines
    message = alert_message(report, "s3://bucket/reports/big.json")
    assert len(message.encode("utf-8")) <= MESSAGE_LIMIT_BYTES
    assert "PARTIAL SCAN: time budget exhausted" in message
    shown = message.count("\n- [")
    assert 0 < shown < 27000
    assert f"... and {27000 - shown} more new findings: see the full report." in message
    assert message.endswith("Full report: s3://bucket/reports/big.json")
    assert send_alert(sns, arn, report, "s3://bucket/reports/big.json") is True
    assert received()[0]["Message"] == message


def test_the_alert_reads_only_the_new_findings_it_shows() -> None:
    """The new findings are streamed: the message stops pulling them once one does not fit."""
    report = huge(100)
    pulled = 0

    def counting() -> Any:
        nonlocal pulled
        for finding in report.new_findings():
            pulled += 1
            yield finding

    message = compose_alert(report.index, counting(), "s3://b/k", limit_bytes=4096)
    assert pulled == message.count("\n- [") + 1 < 900
    assert message == alert_message(report, "s3://b/k", limit_bytes=4096)


def test_truncation_counts_what_was_left_out() -> None:
    report = report_from_records([record(instance_id="i-1", public_ip="54.1.2.3")], POLICY)
    full = alert_message(report, "s3://b/k")
    shown = full.count("\n- [")
    assert "more new findings" not in full
    cut = alert_message(report, "s3://b/k", limit_bytes=len(full.encode()) - 1)
    assert cut.count("\n- [") == shown - 1
    assert "... and 1 more new findings: see the full report." in cut
