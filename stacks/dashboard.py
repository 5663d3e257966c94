"""The CloudWatch dashboard body, as a pure function of resolved names.

The dashboard is where an operator first looks after an alarm, so it shows the scanner's own
metrics (names shared with the scanner through `contract`) next to the Lambda's health, the
state machine's executions (a scheduled scan is one execution) and recent errors from the log
group.
"""

from __future__ import annotations

import json
from typing import Any

from ec2c.scanner import contract

PERIOD_S = 3600
"""One point per hour: scans run at most every few minutes and usually daily."""
EXECUTION_METRICS = ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut")
"""The state machine's execution counts (namespace `AWS/States`); the last two raise alarms."""


def _metric_widget(
    title: str, region: str, metrics: list[list[Any]], *, x: int, y: int, **properties: Any
) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": region,
            "metrics": metrics,
            "period": PERIOD_S,
            "view": "timeSeries",
            **properties,
        },
    }


def dashboard_body(
    *,
    region: str,
    function_name: str,
    log_group_name: str,
    metric_namespace: str,
    alert_threshold: float,
    dead_letter_queue_name: str,
    state_machine_arn: str,
) -> str:
    """JSON body of the dashboard: compliance, per-rule failures, Lambda health, scans that
    failed for good (the dead-letter queue), the scan executions, recent errors."""
    ns = metric_namespace
    rule_search = (
        f"SEARCH('{{{ns},{contract.METRIC_RULE_DIMENSION}}} "
        f"MetricName=\"{contract.METRIC_RULE_FAILURES}\"', 'Maximum', {PERIOD_S})"
    )
    widgets = [
        _metric_widget(
            "Compliance rate (%)",
            region,
            [[ns, contract.METRIC_COMPLIANCE_RATE, {"stat": "Minimum"}]],
            x=0,
            y=0,
            yAxis={"left": {"min": 0, "max": 100}},
            annotations={"horizontal": [{"label": "Alert threshold", "value": alert_threshold}]},
        ),
        _metric_widget(
            "Compliant vs non-compliant instances",
            region,
            [
                [ns, contract.METRIC_COMPLIANT, {"stat": "Maximum"}],
                [ns, contract.METRIC_NON_COMPLIANT, {"stat": "Maximum"}],
            ],
            x=12,
            y=0,
            stacked=True,
        ),
        _metric_widget(
            "Failures per rule",
            region,
            [[{"expression": rule_search, "id": "rules", "label": ""}]],
            x=0,
            y=6,
        ),
        _metric_widget(
            f"Scanner Lambda {function_name}: errors and duration",
            region,
            [
                ["AWS/Lambda", "Errors", "FunctionName", function_name, {"stat": "Sum"}],
                [
                    "AWS/Lambda",
                    "Duration",
                    "FunctionName",
                    function_name,
                    {"stat": "Maximum", "yAxis": "right"},
                ],
            ],
            x=12,
            y=6,
        ),
        _metric_widget(
            f"Failed scans waiting in {dead_letter_queue_name}",
            region,
            [
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    dead_letter_queue_name,
                    {"stat": "Maximum"},
                ]
            ],
            x=0,
            y=12,
        ),
        _metric_widget(
            "Scan executions",
            region,
            [
                ["AWS/States", metric, "StateMachineArn", state_machine_arn, {"stat": "Sum"}]
                for metric in EXECUTION_METRICS
            ],
            x=12,
            y=12,
        ),
        {
            "type": "log",
            "x": 0,
            "y": 18,
            "width": 24,
            "height": 6,
            "properties": {
                "title": "Recent scanner errors",
                "region": region,
                "view": "table",
                "query": (
                    f"SOURCE '{log_group_name}' | fields @timestamp, @message "
                    "| filter @message like /(?i)(error|exception|traceback)/ "
                    "| sort @timestamp desc | limit 50"
                ),
            },
        },
    ]
    return json.dumps({"widgets": widgets})
