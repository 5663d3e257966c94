"""A deployed stack works: the function is configured and runs, and every piece it needs exists."""

from __future__ import annotations

import json

EXPECTED_OUTPUTS = {
    "lambda_function_arn", "lambda_function_name", "sns_topic_arn", "compliance_bucket_name",
    "dashboard_name", "log_group_name", "schedule_rule_name", "region",
}


def test_every_output_is_exported(stack_outputs):
    assert EXPECTED_OUTPUTS <= set(stack_outputs)
    assert all(stack_outputs[name] for name in EXPECTED_OUTPUTS)


def test_function_configuration(aws, stack_outputs, environment):
    config = aws("lambda").get_function_configuration(FunctionName=stack_outputs["lambda_function_name"])
    assert config["Runtime"] == "python3.12"
    assert config["Handler"] == "index.handler"
    assert config["MemorySize"] == environment.lambda_.memory_mb
    assert config["Timeout"] == environment.lambda_.timeout_s
    variables = config["Environment"]["Variables"]
    assert variables["REPORT_BUCKET"] == stack_outputs["compliance_bucket_name"]
    assert variables["SNS_TOPIC_ARN"] == stack_outputs["sns_topic_arn"]
    assert variables["METRIC_NAMESPACE"] == environment.metric_namespace
    assert json.loads(variables["COMPLIANCE_POLICY"])["alert_threshold"] == environment.policy.get("alert_threshold", 90)


def test_invoke_returns_summary_and_stores_report(aws, stack_outputs):
    response = aws("lambda").invoke(FunctionName=stack_outputs["lambda_function_name"], Payload=b"{}")
    assert "FunctionError" not in response, response["Payload"].read()
    body = json.loads(response["Payload"].read())
    assert body["status"] in ("ok", "partial")
    assert {"total_instances", "compliant_instances", "non_compliant_instances", "compliance_rate"} <= set(body["summary"])
    s3 = aws("s3")
    bucket = stack_outputs["compliance_bucket_name"]
    latest = json.loads(s3.get_object(Bucket=bucket, Key="reports/latest.json")["Body"].read())
    assert latest["run_id"] == body["run_id"]
    s3.head_object(Bucket=bucket, Key=body["report_key"])


def test_schedule_targets_the_function(aws, stack_outputs):
    targets = aws("events").list_targets_by_rule(Rule=stack_outputs["schedule_rule_name"])["Targets"]
    assert [t["Arn"] for t in targets] == [stack_outputs["lambda_function_arn"]]


def test_dashboard_names_the_function(aws, stack_outputs):
    body = aws("cloudwatch").get_dashboard(DashboardName=stack_outputs["dashboard_name"])["DashboardBody"]
    assert stack_outputs["lambda_function_name"] in body


def test_topic_and_log_group_exist(aws, stack_outputs):
    attributes = aws("sns").get_topic_attributes(TopicArn=stack_outputs["sns_topic_arn"])["Attributes"]
    assert attributes["KmsMasterKeyId"].startswith("arn:aws")  # customer-managed: alarms can publish
    groups = aws("logs").describe_log_groups(logGroupNamePrefix=stack_outputs["log_group_name"])["logGroups"]
    assert [g["logGroupName"] for g in groups] == [stack_outputs["log_group_name"]]
