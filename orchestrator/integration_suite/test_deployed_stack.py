"""A deployed stack works: the function is configured and runs, and every piece it needs exists."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ec2c.scanner import contract
from ec2c.scanner.assessment.policy import load_policy

EXPECTED_OUTPUTS = {
    "lambda_function_arn",
    "lambda_function_name",
    "sns_topic_arn",
    "compliance_bucket_name",
    "dashboard_name",
    "log_group_name",
    "schedule_rule_name",
    "region",
    "scanner_code_sha256",
    "state_machine_arn",
}
EXECUTION_POLL_S = 5
EXECUTION_MARGIN_S = 120


def test_every_output_is_exported(stack_outputs):
    assert EXPECTED_OUTPUTS <= set(stack_outputs)
    assert all(stack_outputs[name] for name in EXPECTED_OUTPUTS)


def test_deployed_scanner_code_is_this_checkouts(stack_outputs):
    from ec2c.stacks import packaging

    assert stack_outputs["scanner_code_sha256"] == packaging.code_sha256(packaging.archive_members())


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
    expected = load_policy(environment.policy).alert_threshold
    assert load_policy(json.loads(variables["COMPLIANCE_POLICY"])).alert_threshold == expected


def test_reserved_concurrency_and_failures_kept(aws, stack_outputs, environment):
    function = stack_outputs["lambda_function_name"]
    client = aws("lambda")
    concurrency = client.get_function_concurrency(FunctionName=function)
    assert concurrency["ReservedConcurrentExecutions"] == environment.lambda_.reserved_concurrency
    invoke_config = client.get_function_event_invoke_config(FunctionName=function)
    assert invoke_config["MaximumRetryAttempts"] == environment.lambda_.async_retries
    destination = invoke_config["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination.startswith("arn:aws") and ":sqs:" in destination
    queue_url = aws("sqs").get_queue_url(QueueName=destination.rsplit(":", 1)[-1])["QueueUrl"]
    attributes = aws("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["MessageRetentionPeriod"] == "1209600"
    assert attributes.get("KmsMasterKeyId")
    targets = aws("events").list_targets_by_rule(Rule=stack_outputs["schedule_rule_name"])["Targets"]
    assert targets[0]["DeadLetterConfig"]["Arn"] == destination


def test_invoke_returns_summary_and_stores_report(aws, stack_outputs):
    """Synchronous, so the read timeout must outlast the function; no retry, or a slow scan
    would simply run a second time."""
    timeout = aws("lambda").get_function_configuration(FunctionName=stack_outputs["lambda_function_name"])["Timeout"]
    config = Config(read_timeout=timeout + 60, retries={"total_max_attempts": 1})
    client = boto3.session.Session(region_name=stack_outputs["region"]).client("lambda", config=config)
    response = client.invoke(FunctionName=stack_outputs["lambda_function_name"], Payload=b"{}")
    assert "FunctionError" not in response, response["Payload"].read()
    body = json.loads(response["Payload"].read())
    assert body["status"] in ("ok", "partial")
    assert {"total_instances", "compliant_instances", "non_compliant_instances", "compliance_rate"} <= set(
        body["summary"]
    )
    s3 = boto3.session.Session(region_name=stack_outputs["region"]).client("s3")
    bucket = stack_outputs["compliance_bucket_name"]
    latest = json.loads(s3.get_object(Bucket=bucket, Key="reports/latest.json")["Body"].read())
    assert latest["run_id"] == body["run_id"] and latest["schema_version"] == 3
    s3.head_object(Bucket=bucket, Key=body["report_key"])
    for entry in latest["region_shards"]:
        for name, key in entry["shards"].items():
            if entry["findings" if name == "csv" else name]:
                s3.head_object(Bucket=bucket, Key=key)


def test_schedule_starts_the_state_machine(aws, stack_outputs):
    targets = aws("events").list_targets_by_rule(Rule=stack_outputs["schedule_rule_name"])["Targets"]
    assert [t["Arn"] for t in targets] == [stack_outputs["state_machine_arn"]]
    assert targets[0]["RoleArn"].startswith("arn:aws") and ":role/" in targets[0]["RoleArn"]
    machine = aws("stepfunctions").describe_state_machine(stateMachineArn=stack_outputs["state_machine_arn"])
    assert machine["type"] == "STANDARD"
    assert stack_outputs["lambda_function_arn"] in machine["definition"]


def test_an_execution_scans_every_configured_region(aws, stack_outputs):
    """One execution of the deployed state machine, followed to its end: plan, one worker per
    region (continued as often as its region needs) and the aggregate. Bounded by the Lambda
    timeout once per region plus the plan and the aggregate, as if nothing ran in parallel."""
    config = aws("lambda").get_function_configuration(FunctionName=stack_outputs["lambda_function_name"])
    regions = [r for r in config["Environment"]["Variables"][contract.ENV_SCAN_REGIONS].split(",") if r]
    deadline = time.monotonic() + config["Timeout"] * (len(regions) + 2) + EXECUTION_MARGIN_S
    sfn = aws("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=stack_outputs["state_machine_arn"], input="{}")["executionArn"]
    described = sfn.describe_execution(executionArn=execution)
    while described["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(EXECUTION_POLL_S)
        described = sfn.describe_execution(executionArn=execution)
    if described["status"] == "RUNNING":
        sfn.stop_execution(executionArn=execution, cause="integration test: deadline passed")
        pytest.fail(f"{execution} still running after its deadline; stopped")
    assert described["status"] == "SUCCEEDED", described.get("error") or described.get("cause") or described
    summary = json.loads(described["output"])
    assert summary["status"] in ("ok", "partial")
    s3 = boto3.session.Session(region_name=stack_outputs["region"]).client("s3")
    index = json.loads(
        s3.get_object(Bucket=stack_outputs["compliance_bucket_name"], Key=summary["report_key"])["Body"].read()
    )
    assert index["run_id"] == summary["run_id"]
    assert sorted(index["regions"]) == sorted(regions)
    assert sorted(entry["region"] for entry in index["region_shards"]) == sorted(regions)


def test_dashboard_names_the_function(aws, stack_outputs):
    body = aws("cloudwatch").get_dashboard(DashboardName=stack_outputs["dashboard_name"])["DashboardBody"]
    assert stack_outputs["lambda_function_name"] in body


def test_topic_and_log_group_exist(aws, stack_outputs):
    attributes = aws("sns").get_topic_attributes(TopicArn=stack_outputs["sns_topic_arn"])["Attributes"]
    assert attributes["KmsMasterKeyId"].startswith("arn:aws")  # customer-managed: alarms can publish
    statements = {s["Sid"]: s for s in json.loads(attributes["Policy"])["Statement"]}
    assert set(statements) == {"DenyInsecureTransport", "CloudWatchAlarmsPublish", "ScannerPublishes"}
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"
    # A prefix search would also return `dev-a1b2c3`'s group next to `dev`'s: match exactly.
    name = stack_outputs["log_group_name"]
    groups = aws("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert [g["logGroupName"] for g in groups if g["logGroupName"] == name] == [name]


def test_plain_http_to_the_reports_bucket_is_denied(stack_outputs):
    region = stack_outputs["region"]
    insecure = boto3.session.Session(region_name=region).client(
        "s3", endpoint_url=f"http://s3.{region}.amazonaws.com", use_ssl=False
    )
    with pytest.raises(ClientError) as denied:
        insecure.put_object(Bucket=stack_outputs["compliance_bucket_name"], Key="reports/http-probe.json", Body=b"{}")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
