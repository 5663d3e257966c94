"""The Lambda entry point end to end: `index.handler` against moto S3, CloudWatch and SNS."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

import index
import pytest
from compliance_scanner.handler import account_from_context
from compliance_scanner.policy import PolicyError
from compliance_scanner.settings import ConfigError, load_settings

from .conftest import OTHER_REGION, REGION, instance_rules_only, launch

BUCKET = "reports-bucket"


@dataclass
class LambdaContext:
    """The two attributes of the Lambda context object that the handler reads."""

    remaining_ms: int = 300_000
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:210987654321:function:scanner"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def deployed(session, topic, monkeypatch):
    """What the stack creates: bucket, topic (read through SQS) and the environment."""
    session.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    _, topic_arn, received = topic
    env = {
        "AWS_REGION": REGION,
        "REPORT_BUCKET": BUCKET,
        "SNS_TOPIC_ARN": topic_arn,
        "METRIC_NAMESPACE": "Test/Compliance",
        "COMPLIANCE_POLICY": json.dumps(instance_rules_only({"alert_threshold": 0})),
        "SCAN_REGIONS": f"{REGION}, {OTHER_REGION}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    return received


def test_handler_scans_stores_publishes_and_alerts(session, deployed, caplog) -> None:
    launch(session.client("ec2", region_name=REGION), count=2)
    launch(session.client("ec2", region_name=OTHER_REGION))
    with caplog.at_level(logging.INFO, logger="compliance_scanner"):
        result = index.handler({"source": "aws.events"}, LambdaContext())
    assert result["status"] == "ok"
    assert result["summary"]["total_instances"] == 3
    assert re.fullmatch(
        rf"reports/\d{{4}}/\d\d/\d\d/{result['run_id']}\.json", result["report_key"]
    )
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
    names = {
        m["MetricName"] for m in cloudwatch.list_metrics(Namespace="Test/Compliance")["Metrics"]
    }
    assert "ComplianceRate" in names and "RuleFailures" in names

    [alert] = deployed()
    assert result["run_id"] in alert["Message"]
    assert f"s3://{BUCKET}/{result['report_key']}" in alert["Message"]
    assert "scanning us-east-1: 2 instances listed" in caplog.text
    assert "scan finished" in caplog.text

    again = index.handler({}, LambdaContext())
    assert again["alerted"] is False  # nothing new, and no rate is below a 0 % threshold
    assert deployed() == []


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
    with pytest.raises(
        PolicyError, match="environment variable COMPLIANCE_POLICY: policy.rules.nope"
    ):
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
