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
    change_events: bool = False,
) -> str:
    """JSON body of the dashboard: compliance, per-rule failures, Lambda health, scans that
    failed for good (the dead-letter queue), the scan executions, with `change_events` the
    change-event path's counts and its time from a change to the verdict, and recent errors."""
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
        *(_change_widgets(region, ns, y=18) if change_events else []),
        {
            "type": "log",
            "x": 0,
            "y": 24 if change_events else 18,
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


def _change_widgets(region: str, ns: str, *, y: int) -> list[dict[str, Any]]:
    """What the change-event path did (events in, skipped, handed back to the queue, new
    failures) and how fast: the time from a change to its verdict, on average and at worst."""
    counts = (
        contract.METRIC_CHANGE_EVENTS,
        contract.METRIC_CHANGE_EVENTS_SKIPPED,
        contract.METRIC_CHANGE_EVENTS_RETRIED,
        contract.METRIC_CHANGE_NEW_FAILURES,
    )
    return [
        _metric_widget(
            "Change events",
            region,
            [[ns, metric, {"stat": "Sum"}] for metric in counts],
            x=0,
            y=y,
        ),
        _metric_widget(
            "Time from a change to its verdict (s)",
            region,
            [
                [ns, contract.METRIC_TIME_TO_VERDICT, {"stat": "Average"}],
                [ns, contract.METRIC_TIME_TO_VERDICT, {"stat": "Maximum"}],
            ],
            x=12,
            y=y,
        ),
    ]
