"""The I/O edges after a scan: the report to S3, metrics to CloudWatch, the alert to SNS.

Clients are passed in, so the Lambda, the CLI and tests (with moto) decide where they point.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from .alerts import alert_message, alert_subject, should_alert
from .contract import (
    LATEST_REPORT_KEY,
    METRIC_COMPLIANCE_RATE,
    METRIC_COMPLIANT,
    METRIC_NON_COMPLIANT,
    METRIC_RULE_DIMENSION,
    METRIC_RULE_FAILURES,
)
from .report import apply_history, report_key, to_csv

LOG = logging.getLogger(__name__)
METRICS_PER_CALL = 20
_MISSING_KEY_CODES = ("NoSuchKey", "404")


def load_latest(s3_client: Any, bucket: str) -> dict[str, Any] | None:
    """The last stored report, or None if there is none yet (or it is unreadable)."""
    try:
        body = s3_client.get_object(Bucket=bucket, Key=LATEST_REPORT_KEY)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_KEY_CODES:
            return None
        raise
    try:
        return json.loads(body)
    except ValueError:
        LOG.warning("ignoring unreadable %s in %s", LATEST_REPORT_KEY, bucket)
        return None


def _put(s3_client: Any, bucket: str, key: str, body: str, content_type: str) -> None:
    s3_client.put_object(
        Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType=content_type
    )


def store_report(s3_client: Any, bucket: str, report: dict[str, Any]) -> str:
    """Write the report under its dated key, its CSV beside it, then `reports/latest.json`.

    The previous `latest.json` is read first and the history recomputed against it, updating
    `report` in place (`first_seen`, `new_findings`, `resolved_findings`, `previous_run_id`): the bucket, not
    the caller, knows what was reported last. latest.json is written last so it only ever points
    at a report whose files all exist. Returns the dated JSON key.
    """
    previous = load_latest(s3_client, bucket)
    if previous is not None:
        apply_history(report, previous)
    key = report_key(report)
    document = json.dumps(report, indent=1, sort_keys=True)
    _put(s3_client, bucket, key, document, "application/json")
    _put(s3_client, bucket, key.removesuffix(".json") + ".csv", to_csv(report), "text/csv")
    _put(s3_client, bucket, LATEST_REPORT_KEY, document, "application/json")
    return key


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def metric_data(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Totals plus one RuleFailures datum per enabled rule (unsuppressed failures)."""
    summary = report["summary"]
    timestamp = datetime.fromisoformat(report["generated_at"])
    data = [
        {"MetricName": METRIC_COMPLIANT, "Value": summary["compliant_instances"], "Unit": "Count"},
        {
            "MetricName": METRIC_NON_COMPLIANT,
            "Value": summary["non_compliant_instances"],
            "Unit": "Count",
        },
    ]
    if summary["compliance_rate"] is not None:
        data.append(
            {"MetricName": METRIC_COMPLIANCE_RATE, "Value": summary["compliance_rate"], "Unit": "Percent"}
        )
    data += [
        {
            "MetricName": METRIC_RULE_FAILURES,
            "Dimensions": [{"Name": METRIC_RULE_DIMENSION, "Value": rule_id}],
            "Value": counts["failed"] - counts["suppressed"],
            "Unit": "Count",
        }
        for rule_id, counts in summary["by_rule"].items()
    ]
    return [dict(datum, Timestamp=timestamp) for datum in data]


def put_metrics(cloudwatch_client: Any, namespace: str, report: Mapping[str, Any]) -> None:
    """Publish in chunks of 20, the PutMetricData limit every partition accepts."""
    for chunk in _chunks(metric_data(report), METRICS_PER_CALL):
        cloudwatch_client.put_metric_data(Namespace=namespace, MetricData=list(chunk))


def send_alert(sns_client: Any, topic_arn: str, report: Mapping[str, Any], report_uri: str) -> bool:
    """Publish the alert if the report calls for one; returns whether it was sent."""
    if not should_alert(report):
        return False
    sns_client.publish(
        TopicArn=topic_arn,
        Subject=alert_subject(report),
        Message=alert_message(report, report_uri),
    )
    return True
