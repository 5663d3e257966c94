"""The I/O edges after a scan: metrics to CloudWatch and the alert to SNS, from the index.

Clients are passed in, so the Lambda, the CLI and tests (with moto) decide where they point. The
report itself is stored by `scanner.store_index` and the workers' shards.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..contract import (
    METRIC_COMPLIANCE_RATE,
    METRIC_COMPLIANT,
    METRIC_NON_COMPLIANT,
    METRIC_RULE_DIMENSION,
    METRIC_RULE_FAILURES,
)
from ..documents import ReportIndex, parse_iso_utc
from .alerts import alert_message, alert_subject, should_alert
from .reader import Report

if TYPE_CHECKING:
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_sns import SNSClient

METRICS_PER_CALL = 20


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def metric_data(index: ReportIndex) -> list[dict[str, Any]]:
    """Totals plus one RuleFailures datum per enabled rule (unsuppressed failures)."""
    summary = index["summary"]
    timestamp = parse_iso_utc(index["generated_at"])
    data = [
        {"MetricName": METRIC_COMPLIANT, "Value": summary["compliant_instances"], "Unit": "Count"},
        {
            "MetricName": METRIC_NON_COMPLIANT,
            "Value": summary["non_compliant_instances"],
            "Unit": "Count",
        },
    ]
    if summary["compliance_rate"] is not None:
        data.append({"MetricName": METRIC_COMPLIANCE_RATE, "Value": summary["compliance_rate"], "Unit": "Percent"})
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


def put_metrics(cloudwatch_client: CloudWatchClient, namespace: str, index: ReportIndex) -> None:
    """Publish in chunks of 20, the PutMetricData limit every partition accepts."""
    for chunk in _chunks(metric_data(index), METRICS_PER_CALL):
        cloudwatch_client.put_metric_data(Namespace=namespace, MetricData=list(chunk))


def send_alert(
    sns_client: SNSClient, topic_arn: str, report: Report, report_uri: str, alerted: Collection[str] = frozenset()
) -> bool:
    """Publish the alert if the report calls for one; returns whether it was sent. `alerted` are
    the finding ids alerted already after a change: new findings among them are no news, so
    they neither call for the alert nor are listed in it again."""
    repeated = sum(1 for f in report.new_findings() if f.get("finding_id") in alerted) if alerted else 0
    if not should_alert(report.index, repeated):
        return False
    sns_client.publish(
        TopicArn=topic_arn,
        Subject=alert_subject(report.index, repeated),
        Message=alert_message(report, report_uri, alerted=alerted, repeated=repeated),
    )
    return True
