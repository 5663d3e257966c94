"""The Lambda entry point end to end: `index.handler` against moto S3, CloudWatch and SNS."""

from __future__ import annotations

import json
import logging
import re

import index
import pytest

from ec2c.scanner.assessment.policy import PolicyError
from ec2c.scanner.identity import finding_id
from ec2c.scanner.reports.reader import Report, read_report
from ec2c.scanner.run.handler import account_from_context
from ec2c.scanner.settings import ConfigError, load_settings
from ec2c.scanner.storage import S3Store

from .conftest import ACCOUNT, BUCKET, OTHER_REGION, REGION, LambdaContext, launch


def test_handler_scans_stores_publishes_and_alerts(session, deployed, caplog) -> None:
    launch(session.client("ec2", region_name=REGION), count=2)
    launch(session.client("ec2", region_name=OTHER_REGION))
    with caplog.at_level(logging.INFO, logger="ec2c.scanner"):
        result = index.handler({"source": "aws.events"}, LambdaContext())
    assert result["status"] == "ok"
    assert result["summary"]["total_instances"] == 3
    assert re.fullmatch(rf"reports/\d{{4}}/\d\d/\d\d/{result['run_id']}\.json", result["report_key"])
    assert result["errors"] == 2  # moto lacks SSM inventory, once per region
    assert result["alerted"] is True

    s3 = session.client("s3", region_name=REGION)
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=result["report_key"])["Body"].read())
    assert stored["account_id"] == "210987654321"
    assert stored["regions"] == [REGION, OTHER_REGION]
    assert stored["policy"]["alert_threshold"] == 0.0
    latest = json.loads(s3.get_object(Bucket=BUCKET, Key="reports/latest.json")["Body"].read())
    assert latest["run_id"] == result["run_id"]

    cloudwatch = session.client("cloudwatch", region_name=REGION)
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="Test/Compliance")["Metrics"]}
    assert "ComplianceRate" in names and "RuleFailures" in names

    [alert] = deployed()
    assert result["run_id"] in alert["Message"]
    assert f"s3://{BUCKET}/{result['report_key']}" in alert["Message"]
    assert "scanning us-east-1: 2 instances listed" in caplog.text
    assert "scan finished" in caplog.text

    again = index.handler({}, LambdaContext())
    assert again["alerted"] is False  # nothing new, and no rate is below a 0 % threshold
    assert deployed() == []


HOME_ACCOUNT = "210987654321"
"""The account of LambdaContext's function ARN."""


def stored_report(session, key: str) -> Report:
    return read_report(S3Store(session.client("s3", region_name=REGION), BUCKET), key)


def put_latest(session, document: dict) -> None:
    s3 = session.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="reports/latest.json", Body=json.dumps(document).encode())


def v2_failure(resource_id: str, rule_id: str = "imdsv2_required") -> dict:
    """A schema 2 finding of an instance, in the account moto's reservations name."""
    return {
        "finding_id": finding_id(ACCOUNT, REGION, resource_id, rule_id),
        "resource_type": "instance",
        "resource_id": resource_id,
        "instance_id": resource_id,
        "region": REGION,
        "rule_id": rule_id,
        "status": "FAIL",
        "suppressed": False,
        "severity": "high",
        "first_seen": "2025-01-01T00:00:00Z",
    }


def test_a_schema_2_latest_still_feeds_the_diff(session, deployed) -> None:
    [instance] = launch(session.client("ec2", region_name=REGION))
    put_latest(
        session,
        {
            "schema_version": 2,
            "run_id": "v2-run",
            "generated_at": "2025-05-01T00:00:00Z",
            "account_id": HOME_ACCOUNT,
            "regions": [REGION, OTHER_REGION],
            "summary": {"total_instances": 2},
            "account_findings": [],
            "findings": [v2_failure(instance), v2_failure("i-gone")],
            "new_findings": [],
            "resolved_findings": [],
        },
    )

    result = index.handler({}, LambdaContext())

    report = stored_report(session, result["report_key"])
    assert report.index["previous_run_id"] == "v2-run"
    assert [(f["resource_id"], f["rule_id"]) for f in report.resolved_findings()] == [("i-gone", "imdsv2_required")]
    carried = next(f for f in report.findings() if f["rule_id"] == "imdsv2_required")
    assert carried["first_seen"] == "2025-01-01T00:00:00Z"
    new = {f["rule_id"] for f in report.new_findings()}
    assert new and "imdsv2_required" not in new
    assert not [e for e in report.index["errors"] if e["operation"] == "history"]


def test_an_unknown_schema_latest_is_recorded_and_nothing_is_new_or_resolved(session, deployed, caplog) -> None:
    launch(session.client("ec2", region_name=REGION))
    future = {"schema_version": 99, "run_id": "future", "generated_at": "2030-01-01T00:00:00Z", "summary": {}}
    put_latest(session, future)
    s3 = session.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="reports/2030/01/01/future.json", Body=json.dumps(future).encode())

    with caplog.at_level(logging.ERROR, logger="ec2c.scanner"):
        result = index.handler({}, LambdaContext())

    why = f"s3://{BUCKET}/reports/latest.json: unknown schema_version 99 (this version reads 1 to 3)"
    assert f"previous report unusable: {why}" in caplog.text
    report = stored_report(session, result["report_key"])
    assert [e for e in report.index["errors"] if e["operation"] == "history"] == [
        {"region": REGION, "operation": "history", "code": "UnreadablePreviousReport", "message": why}
    ]
    assert list(report.findings())
    assert (report.index["new_findings"], report.index["resolved_findings"]) == (0, 0)
    assert report.index["previous_run_id"] is None
    assert result["alerted"] is False and deployed() == []
    s3.head_object(Bucket=BUCKET, Key="reports/2030/01/01/future.json")  # the old dated index is kept


def test_a_missing_shard_of_the_previous_run_is_an_error_of_its_region(session, deployed) -> None:
    launch(session.client("ec2", region_name=REGION))
    launch(session.client("ec2", region_name=OTHER_REGION))
    first = index.handler({}, LambdaContext())
    lost = stored_report(session, first["report_key"]).region_entry(REGION)["shards"]["findings"]  # type: ignore[index]
    session.client("s3", region_name=REGION).delete_object(Bucket=BUCKET, Key=lost)

    second = index.handler({}, LambdaContext())

    report = stored_report(session, second["report_key"])
    assert [e for e in report.index["errors"] if e["operation"] == "history"] == [
        {
            "region": REGION,
            "operation": "history",
            "code": "UnreadablePreviousReport",
            "message": f"s3://{BUCKET}/{lost}: no such object",
        },
    ]
    assert report.index["new_findings"] == 0 and report.index["resolved_findings"] == 0
    assert second["errors"] == first["errors"] + 1
    assert report.index["previous_run_id"] == first["run_id"]


def test_event_regions_override_and_no_topic_means_no_alert(session, deployed, monkeypatch) -> None:
    monkeypatch.delenv("SNS_TOPIC_ARN")
    launch(session.client("ec2", region_name=OTHER_REGION))
    result = index.handler({"regions": [OTHER_REGION]}, None)
    assert result["alerted"] is False
    assert result["summary"]["total_instances"] == 1
    assert result["errors"] == 1
    assert deployed() == []


def test_a_short_deadline_yields_a_partial_report(session, deployed) -> None:
    result = index.handler({}, LambdaContext(remaining_ms=10_000))
    assert result["status"] == "partial"
    assert result["summary"]["total_instances"] == 0


def test_bad_configuration_is_logged_and_raised(deployed, monkeypatch, caplog) -> None:
    monkeypatch.setenv("COMPLIANCE_POLICY", '{"rules": {"nope": {}}}')
    with pytest.raises(PolicyError, match="environment variable COMPLIANCE_POLICY: policy.rules.nope"):
        index.handler({}, LambdaContext())
    assert "invalid configuration: environment variable COMPLIANCE_POLICY" in caplog.text


ENV = {"AWS_REGION": REGION, "REPORT_BUCKET": "b"}


@pytest.mark.parametrize(
    ("env", "event", "message"),
    [
        ({"AWS_REGION": REGION}, None, "REPORT_BUCKET is not set"),
        ({**ENV, "SNS_TOPIC_ARN": "alerts"}, None, "SNS_TOPIC_ARN is not an ARN"),
        (
            {**ENV, "SCAN_REGIONS": "us-east-1,mars"},
            None,
            "SCAN_REGIONS: 'mars' is not an AWS region",
        ),
        ({"REPORT_BUCKET": "b"}, None, "AWS_REGION is not set"),
        (ENV, {"regions": "us-east-1"}, "event.regions: expected a non-empty list"),
        (ENV, {"regions": []}, "event.regions: expected a non-empty list"),
        (ENV, {"regions": [7]}, "event.regions: 7 is not an AWS region name"),
        ({**ENV, "SECURITY_HUB_IMPORT": "yes"}, None, "SECURITY_HUB_IMPORT: expected true or false, got 'yes'"),
    ],
)
def test_settings_errors_name_the_variable(env, event, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env, event)


def test_settings_defaults() -> None:
    settings = load_settings(ENV, ["not", "a", "mapping"])
    assert settings.regions == (REGION,)
    assert settings.namespace == "EC2Compliance"
    assert settings.topic_arn is None
    assert settings.policy.alert_threshold == 90.0
    gov = load_settings({**ENV, "SCAN_REGIONS": "us-gov-west-1,,us-gov-west-1"})
    assert gov.regions == ("us-gov-west-1",)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (LambdaContext(), "210987654321"),
        (None, None),
        (LambdaContext(invoked_function_arn="arn:aws:lambda:us-east-1::function:x"), None),
    ],
)
def test_account_from_context(context, expected) -> None:
    assert account_from_context(context) == expected
