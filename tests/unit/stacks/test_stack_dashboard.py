"""The dashboard body: valid JSON naming the right function, namespace and log group."""

from __future__ import annotations

import json

from ec2c.scanner import contract
from ec2c.stacks.dashboard import PERIOD_S, dashboard_body

STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:compliance-scan-dev-1a2b3c4"


def _widgets(change_events: bool = False) -> list[dict]:
    body = dashboard_body(
        region="eu-west-1",
        function_name="ec2-compliance-dev",
        log_group_name="/aws/lambda/ec2-compliance-dev",
        metric_namespace="Acme/EC2",
        alert_threshold=85.0,
        dead_letter_queue_name="compliance-scanner-dlq-dev-1a2b3c4",
        state_machine_arn=STATE_MACHINE_ARN,
        change_events=change_events,
    )
    return json.loads(body)["widgets"]


def _by_title(title_start: str) -> dict:
    return next(w["properties"] for w in _widgets() if w["properties"]["title"].startswith(title_start))


def test_every_widget_is_placed_in_the_region_and_on_the_grid() -> None:
    widgets = _widgets()
    assert [w["type"] for w in widgets] == ["metric"] * 6 + ["log"]
    for widget in widgets:
        assert widget["properties"]["region"] == "eu-west-1"
        assert widget["x"] + widget["width"] <= 24
    positions = [(w["x"], w["y"]) for w in widgets]
    assert len(set(positions)) == len(positions)


def test_compliance_rate_shows_the_alert_threshold() -> None:
    rate = _by_title("Compliance rate")
    assert rate["metrics"] == [["Acme/EC2", contract.METRIC_COMPLIANCE_RATE, {"stat": "Minimum"}]]
    assert rate["annotations"]["horizontal"] == [{"label": "Alert threshold", "value": 85.0}]
    assert rate["yAxis"]["left"] == {"min": 0, "max": 100}
    assert rate["period"] == PERIOD_S


def test_compliant_and_non_compliant_are_stacked() -> None:
    counts = _by_title("Compliant vs")
    assert [m[:2] for m in counts["metrics"]] == [
        ["Acme/EC2", contract.METRIC_COMPLIANT],
        ["Acme/EC2", contract.METRIC_NON_COMPLIANT],
    ]
    assert counts["stacked"] is True


def test_failures_per_rule_search_every_rule_dimension() -> None:
    [[expression]] = _by_title("Failures per rule")["metrics"]
    assert expression["expression"] == ("SEARCH('{Acme/EC2,Rule} MetricName=\"RuleFailures\"', 'Maximum', 3600)")


def test_lambda_health_names_the_function() -> None:
    metrics = _by_title("Scanner Lambda")["metrics"]
    assert [m[:4] for m in metrics] == [
        ["AWS/Lambda", "Errors", "FunctionName", "ec2-compliance-dev"],
        ["AWS/Lambda", "Duration", "FunctionName", "ec2-compliance-dev"],
    ]


def test_logs_insights_widget_reads_the_log_group() -> None:
    query = _by_title("Recent scanner errors")["query"]
    assert query.startswith("SOURCE '/aws/lambda/ec2-compliance-dev' |")
    assert "sort @timestamp desc" in query


def test_failed_scans_waiting_in_the_dead_letter_queue_are_shown() -> None:
    widget = _by_title("Failed scans waiting in compliance-scanner-dlq-dev-1a2b3c4")
    assert widget["metrics"] == [
        [
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            "compliance-scanner-dlq-dev-1a2b3c4",
            {"stat": "Maximum"},
        ]
    ]


def test_the_scan_executions_of_the_state_machine_are_shown() -> None:
    widget = _by_title("Scan executions")
    assert widget["metrics"] == [
        ["AWS/States", metric, "StateMachineArn", STATE_MACHINE_ARN, {"stat": "Sum"}]
        for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut")
    ]


def test_the_change_event_path_adds_its_counts_and_time_to_verdict_above_the_logs() -> None:
    widgets = _widgets(change_events=True)
    assert [w["type"] for w in widgets] == ["metric"] * 8 + ["log"]
    positions = [(w["x"], w["y"]) for w in widgets]
    assert len(set(positions)) == len(positions)
    by_title = {w["properties"]["title"]: w for w in widgets}
    assert [m[1] for m in by_title["Change events"]["properties"]["metrics"]] == [
        "ChangeEventsReceived",
        "ChangeEventsSkipped",
        "ChangeEventsRetried",
        "ChangeNewFailures",
    ]
    latency = by_title["Time from a change to its verdict (s)"]["properties"]["metrics"]
    assert latency == [
        ["Acme/EC2", "ChangeTimeToVerdict", {"stat": "Average"}],
        ["Acme/EC2", "ChangeTimeToVerdict", {"stat": "Maximum"}],
    ]
    assert by_title["Recent scanner errors"]["y"] == 24
    assert "Change events" not in {w["properties"]["title"] for w in _widgets()}
