"""`ComplianceAnalyzer` under Pulumi's mocks: the inputs of every child, as the engine sees them."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from stack_harness import (
    ACCOUNT,
    PARTITION,
    PROJECT,
    PROVIDER_MODULES,
    REGION,
    STACK,
    Deployment,
    Registration,
    deploy,
)

from ec2c.scanner import contract
from ec2c.scanner.run import workflow
from ec2c.stacks import OUTPUT_NAMES, TYPE_TOKEN, ComplianceAnalyzerArgs, packaging
from ec2c.stacks.component import AUTONAME_SUFFIX_CHARS, AUTONAMED_LIMITS
from ec2c.stacks.lambda_env import MAX_TOPIC_NAME_CHARS

BUCKET = "aws:s3/bucket:Bucket"
TOPIC = "aws:sns/topic:Topic"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FUNCTION = "aws:lambda/function:Function"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"


def _taggable_types() -> set[str]:
    """Type tokens of every resource in the provider modules the stack uses that accepts `tags`."""
    taggable = set()
    for module in PROVIDER_MODULES:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            token = getattr(cls, "pulumi_type", None)
            init = getattr(cls, "_internal_init", None)
            if token and init and "tags" in inspect.signature(init).parameters:
                taggable.add(token)
    return taggable


def _named(deployment: Deployment, type_: str, role: str) -> Registration:
    """The one child of `type_` named `compliance-<role>-<environment>`."""
    found = [r for r in deployment.of_type(type_) if r.name.startswith(f"compliance-{role}-")]
    assert len(found) == 1, (type_, role, [r.name for r in found])
    return found[0]


def _policy_statements(deployment: Deployment) -> dict[str, dict[str, Any]]:
    document = json.loads(_named(deployment, ROLE_POLICY, "scanner-policy").inputs["policy"])
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_component_is_registered_under_the_stack_with_its_type_token(
    deployment: Deployment,
) -> None:
    component = deployment.component
    assert component.type == TYPE_TOKEN == "ec2compliance:index:ComplianceAnalyzer"
    assert component.name == "compliance"
    assert not component.custom
    assert component.parent == f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"


CHILD_ROLES = {
    BUCKET: ["reports"],
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ["reports-ownership"],
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ["reports-public-access"],
    "aws:s3/bucketVersioning:BucketVersioning": ["reports-versioning"],
    BUCKET_POLICY: ["reports-tls-only"],
    TOPIC_POLICY: ["alerts-policy"],
    QUEUE: ["scanner-dlq"],
    QUEUE_POLICY: ["scanner-dlq-policy"],
    INVOKE_CONFIG: ["scanner-async"],
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ["reports-encryption"],
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ["reports-lifecycle"],
    TOPIC: ["alerts"],
    KEY: ["alerts-key"],
    ALIAS: ["alerts-key-alias"],
    SUBSCRIPTION: ["alerts-ops.team@example.org", "alerts-sec@example.com"],
    LOG_GROUP: ["scanner-logs"],
    ROLE: ["scan-role", "scanner-role", "schedule-role"],
    ROLE_POLICY: ["scan-policy", "scanner-policy", "schedule-policy"],
    FUNCTION: ["scanner"],
    STATE_MACHINE: ["scan"],
    RULE: ["schedule"],
    TARGET: ["schedule-target"],
    DASHBOARD: ["dashboard"],
    ALARM: [
        "compliance-alarm",
        "dlq-alarm",
        "errors-alarm",
        "executions-failed-alarm",
        "executions-timed-out-alarm",
    ],
}
"""Every child the component creates, by type: `compliance-<role>-staging`."""


def test_children_are_exactly_the_expected_ones_named_with_the_environment(
    deployment: Deployment,
) -> None:
    children = [r for r in deployment.resources if r is not deployment.component]
    by_type: dict[str, list[str]] = {}
    for child in children:
        by_type.setdefault(child.type, []).append(child.name)
    assert {t: sorted(names) for t, names in by_type.items()} == {
        t: [f"compliance-{role}-staging" for role in roles] for t, roles in CHILD_ROLES.items()
    }


def test_every_child_is_parented_to_the_component(deployment: Deployment) -> None:
    for child in deployment.resources:
        if child is deployment.component:
            continue
        assert child.parent == deployment.component.urn, child.name
        assert child.custom, child.name
        assert child.urn.split("::")[2] == f"{TYPE_TOKEN}${child.type}", child.urn


def test_every_taggable_child_carries_the_merged_tags(deployment: Deployment) -> None:
    taggable = _taggable_types()
    tagged = [r for r in deployment.resources if r.type in taggable]
    assert {r.type for r in tagged} == {
        BUCKET,
        TOPIC,
        KEY,
        LOG_GROUP,
        ROLE,
        FUNCTION,
        RULE,
        ALARM,
        QUEUE,
        STATE_MACHINE,
    }
    for resource in tagged:
        assert resource.inputs["tags"] == {
            "ManagedBy": "pulumi",
            "Environment": "staging",
            "Team": "secops",
            "CostCenter": "42",
        }, resource.name
    for resource in deployment.resources:
        if resource.type not in taggable:
            assert "tags" not in resource.inputs, resource.name


def test_caller_tags_override_the_component_defaults() -> None:
    args = ComplianceAnalyzerArgs(environment="dev-a1b2c3", tags={"Environment": "dev"})
    bucket = deploy(args).one(BUCKET)
    assert bucket.inputs["tags"] == {"ManagedBy": "pulumi", "Environment": "dev"}


def test_reports_bucket_is_private_versioned_encrypted_and_expires_reports(
    deployment: Deployment,
) -> None:
    bucket = deployment.one(BUCKET)
    assert bucket.inputs["forceDestroy"] is False
    bucket_name = bucket.state["bucket"]
    settings = {
        r.type.rsplit(":", 1)[-1]: r for r in deployment.resources if r.type.startswith("aws:s3/") and r is not bucket
    }
    for resource in settings.values():
        assert resource.inputs["bucket"] == bucket_name
        assert bucket.urn in resource.dependencies
    assert settings["BucketOwnershipControls"].inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    public = settings["BucketPublicAccessBlock"].inputs
    assert [
        public[k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    ] == [True] * 4
    assert settings["BucketVersioning"].inputs["versioningConfiguration"] == {"status": "Enabled"}
    assert settings["BucketServerSideEncryptionConfiguration"].inputs["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ]
    assert settings["BucketLifecycleConfiguration"].inputs["rules"] == [
        {
            "id": "expire-reports",
            "status": "Enabled",
            "filter": {"prefix": contract.REPORT_PREFIX},
            "expiration": {"days": 30},
            "noncurrentVersionExpiration": {"noncurrentDays": 30},
        },
        {
            "id": "expire-work",
            "status": "Enabled",
            "filter": {"prefix": "reports/work/"},
            "expiration": {"days": 2},
            "noncurrentVersionExpiration": {"noncurrentDays": 2},
        },
    ]
    assert (contract.WORK_PREFIX, contract.WORK_RETENTION_DAYS) == ("reports/work/", 2)


def test_an_ephemeral_stack_can_destroy_a_bucket_holding_reports() -> None:
    bucket = deploy(ComplianceAnalyzerArgs(environment="dev-a1b2c3", force_destroy=True))
    assert bucket.one(BUCKET).inputs["forceDestroy"] is True


def test_nothing_is_protected_or_survives_destroy(deployment: Deployment) -> None:
    for resource in deployment.resources:
        assert not resource.protect, resource.name
        assert not resource.retain_on_delete, resource.name
    assert "skipDestroy" not in deployment.one(LOG_GROUP).inputs


def test_alert_key_is_customer_managed_rotated_and_lets_alarms_publish(
    deployment: Deployment,
) -> None:
    key = deployment.one(KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 7
    assert key.inputs["description"] == "Encrypts the EC2 compliance alerts of staging"
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    assert statements["AccountAdministersKey"]["Principal"] == {"AWS": f"arn:{PARTITION}:iam::{ACCOUNT}:root"}
    assert statements["AccountAdministersKey"]["Action"] == "kms:*"
    alarms = statements["CloudWatchAlarmsPublish"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert alarms["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert statements["EventBridgeDeadLetters"] == {
        "Sid": "EventBridgeDeadLetters",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }
    assert set(statements) == {"AccountAdministersKey", "CloudWatchAlarmsPublish", "EventBridgeDeadLetters"}
    alias = deployment.one(ALIAS)
    assert alias.inputs == {
        "name": "alias/ec2-compliance-staging",
        "targetKeyId": key.state["keyId"],
    }
    assert key.urn in alias.dependencies


def test_topic_uses_the_customer_managed_key_and_subscribes_each_address(
    deployment: Deployment,
) -> None:
    topic = deployment.one(TOPIC)
    key = deployment.one(KEY)
    assert topic.inputs["kmsMasterKeyId"] == key.state["arn"]
    assert key.state["arn"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    assert key.urn in topic.dependencies
    subscriptions = deployment.of_type(SUBSCRIPTION)
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == [
        "Ops.Team@example.org",
        "sec@example.com",
    ]
    for subscription in subscriptions:
        assert subscription.inputs["protocol"] == "email"
        assert subscription.inputs["topic"] == topic.state["arn"]


def test_log_group_is_the_functions_with_the_retention(deployment: Deployment) -> None:
    log_group = deployment.one(LOG_GROUP)
    assert log_group.inputs["name"] == "/aws/lambda/ec2-compliance-staging"
    assert log_group.inputs["retentionInDays"] == 14
    assert deployment.one(FUNCTION).inputs["name"] == "ec2-compliance-staging"


def test_role_is_assumable_only_by_lambda(deployment: Deployment) -> None:
    role = _named(deployment, ROLE, "scanner-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert _named(deployment, ROLE_POLICY, "scanner-policy").inputs["role"] == role.state["name"]


def test_inline_policy_is_scoped_to_this_stacks_resources(
    deployment: Deployment, full_args: ComplianceAnalyzerArgs
) -> None:
    statements = _policy_statements(deployment)
    assert "ssm:DescribeInstanceInformation" in statements["DescribeFleet"]["Action"]
    assert statements["ReadWriteReports"]["Resource"] == f"{deployment.one(BUCKET).state['arn']}/reports/*"
    assert statements["FindPreviousReport"]["Resource"] == deployment.one(BUCKET).state["arn"]
    assert statements["PublishAlerts"]["Resource"] == deployment.one(TOPIC).state["arn"]
    assert statements["EncryptAlerts"] == {
        "Sid": "EncryptAlerts",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": deployment.one(KEY).state["arn"],
    }
    assert statements["WriteOwnLogs"]["Resource"] == f"{deployment.one(LOG_GROUP).state['arn']}:*"
    assert statements["PutComplianceMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "Acme/EC2Compliance"}
    }
    wildcard = {sid for sid, statement in statements.items() if statement["Resource"] == "*"}
    assert wildcard == {"DescribeFleet", "PutComplianceMetrics"}
    assert statements["DescribeFleet"]["Action"] == [
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVolumes",
        "ec2:GetEbsEncryptionByDefault",
        "ec2:GetImageBlockPublicAccessState",
        "ec2:GetInstanceMetadataDefaults",
        "ec2:GetSnapshotBlockPublicAccessState",
        "ssm:DescribeInstanceInformation",
    ]
    assert statements["ReadPrefixLists"] == {
        "Sid": "ReadPrefixLists",
        "Effect": "Allow",
        "Action": "ec2:GetManagedPrefixListEntries",
        "Resource": f"arn:{PARTITION}:ec2:*:*:prefix-list/*",
    }


def test_ssm_action_is_requested_only_when_the_ssm_rule_is_enabled() -> None:
    args = ComplianceAnalyzerArgs(environment="dev", policy={"rules": {"ssm_managed": {"enabled": False}}})
    actions = _policy_statements(deploy(args))["DescribeFleet"]["Action"]
    assert actions == [
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVolumes",
        "ec2:GetEbsEncryptionByDefault",
        "ec2:GetImageBlockPublicAccessState",
        "ec2:GetInstanceMetadataDefaults",
        "ec2:GetSnapshotBlockPublicAccessState",
    ]


def test_function_runs_the_shipped_archive_with_the_args(
    deployment: Deployment, full_args: ComplianceAnalyzerArgs
) -> None:
    function = deployment.one(FUNCTION)
    inputs = function.inputs
    assert (inputs["runtime"], inputs["handler"]) == ("python3.12", "index.handler")
    assert (inputs["memorySize"], inputs["timeout"]) == (1024, 600)
    assert inputs["ephemeralStorage"] == {"size": 2048}
    assert inputs["role"] == _named(deployment, ROLE, "scanner-role").state["arn"]
    members = packaging.archive_members()
    assert {name: asset.path for name, asset in inputs["code"].assets.items()} == {
        name: str(path) for name, path in members.items()
    }
    assert inputs["environment"]["variables"] == {
        contract.ENV_REPORT_BUCKET: deployment.one(BUCKET).state["bucket"],
        contract.ENV_SNS_TOPIC_ARN: deployment.one(TOPIC).state["arn"],
        contract.ENV_METRIC_NAMESPACE: "Acme/EC2Compliance",
        contract.ENV_POLICY: full_args.policy_json,
        contract.ENV_SCAN_REGIONS: "eu-west-1,us-east-1",
    }


def test_function_waits_for_its_log_group_and_its_permissions(deployment: Deployment) -> None:
    dependencies = deployment.one(FUNCTION).dependencies
    assert deployment.one(LOG_GROUP).urn in dependencies
    assert _named(deployment, ROLE_POLICY, "scanner-policy").urn in dependencies
    assert _named(deployment, ROLE, "scanner-role").urn in dependencies


def test_empty_region_list_scans_the_deployment_region() -> None:
    deployed = deploy(ComplianceAnalyzerArgs(environment="dev"))
    variables = deployed.one(FUNCTION).inputs["environment"]["variables"]
    assert variables[contract.ENV_SCAN_REGIONS] == REGION
    assert deployed.of_type(SUBSCRIPTION) == []


FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ec2-compliance-staging"


def test_state_machine_runs_the_workflow_on_the_scanner_function(deployment: Deployment) -> None:
    machine = deployment.one(STATE_MACHINE)
    assert deployment.one(FUNCTION).state["arn"] == FUNCTION_ARN
    assert machine.inputs["type"] == "STANDARD"
    assert json.loads(machine.inputs["definition"]) == workflow.definition(FUNCTION_ARN, 3)
    assert machine.inputs["definition"] == json.dumps(workflow.definition(FUNCTION_ARN, 3))
    regions = json.loads(machine.inputs["definition"])["States"][workflow.STATE_REGIONS]
    assert regions["MaxConcurrency"] == 3
    assert machine.inputs["roleArn"] == _named(deployment, ROLE, "scan-role").state["arn"]
    assert _named(deployment, ROLE_POLICY, "scan-policy").urn in machine.dependencies
    # Execution logging is off: no logging configuration, no log delivery actions granted.
    assert "loggingConfiguration" not in machine.inputs
    assert "tracingConfiguration" not in machine.inputs


@pytest.mark.parametrize("concurrency", [1, 4, 40])
def test_the_maps_concurrency_is_region_concurrency(concurrency: int) -> None:
    deployed = deploy(ComplianceAnalyzerArgs(environment="dev", region_concurrency=concurrency))
    function_arn = deployed.one(FUNCTION).state["arn"]
    definition = json.loads(deployed.one(STATE_MACHINE).inputs["definition"])
    assert definition == workflow.definition(function_arn, concurrency)
    assert definition["States"][workflow.STATE_REGIONS]["MaxConcurrency"] == concurrency
    assert deployed.one(FUNCTION).inputs["reservedConcurrentExecutions"] == concurrency


def trusting(service: str) -> dict[str, Any]:
    """A role's trust policy letting only `service`, acting for this account, assume it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            }
        ],
    }


def test_state_machine_role_may_only_invoke_the_scanner_function(deployment: Deployment) -> None:
    role = _named(deployment, ROLE, "scan-role")
    assert json.loads(role.inputs["assumeRolePolicy"]) == trusting("states.amazonaws.com")
    policy = _named(deployment, ROLE_POLICY, "scan-policy")
    assert policy.inputs["role"] == role.state["name"]
    assert json.loads(policy.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeScanner",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": [FUNCTION_ARN, f"{FUNCTION_ARN}:*"],
            }
        ],
    }


def test_schedule_starts_the_state_machine_through_a_role_scoped_to_it(
    deployment: Deployment,
) -> None:
    rule = deployment.one(RULE)
    machine_arn = deployment.one(STATE_MACHINE).state["arn"]
    assert (
        machine_arn == f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{deployment.one(STATE_MACHINE).state['name']}"
    )
    assert rule.inputs["scheduleExpression"] == "rate(6 hours)"
    role = _named(deployment, ROLE, "schedule-role")
    target = deployment.one(TARGET)
    assert target.inputs == {
        "rule": rule.state["name"],
        "arn": machine_arn,
        "roleArn": role.state["arn"],
        "retryPolicy": {"maximumEventAgeInSeconds": 3600, "maximumRetryAttempts": 3},
        "deadLetterConfig": {"arn": deployment.one(QUEUE).state["arn"]},
    }
    assert json.loads(role.inputs["assumeRolePolicy"]) == trusting("events.amazonaws.com")
    policy = _named(deployment, ROLE_POLICY, "schedule-policy")
    assert policy.inputs["role"] == role.state["name"]
    assert json.loads(policy.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StartScan",
                "Effect": "Allow",
                "Action": "states:StartExecution",
                "Resource": machine_arn,
            }
        ],
    }
    assert policy.urn in target.dependencies
    # Nothing invokes the function directly on schedule any more.
    assert deployment.of_type("aws:lambda/permission:Permission") == []


@pytest.mark.parametrize(
    ("role", "metric"),
    [("executions-failed-alarm", "ExecutionsFailed"), ("executions-timed-out-alarm", "ExecutionsTimedOut")],
)
def test_a_failed_or_timed_out_execution_raises_an_alarm(deployment: Deployment, role: str, metric: str) -> None:
    alarm = _alarm(deployment, role).inputs
    assert {k: v for k, v in alarm.items() if k not in ("tags", "alarmDescription")} == {
        "namespace": "AWS/States",
        "metricName": metric,
        "dimensions": {"StateMachineArn": deployment.one(STATE_MACHINE).state["arn"]},
        "statistic": "Sum",
        "period": 300,
        "evaluationPeriods": 1,
        "threshold": 1,
        "comparisonOperator": "GreaterThanOrEqualToThreshold",
        "treatMissingData": "notBreaching",
        "alarmActions": [deployment.one(TOPIC).state["arn"]],
    }
    assert alarm["alarmDescription"].startswith("An EC2 compliance scan execution of staging ")


def test_dashboard_is_named_per_region_and_shows_this_function(deployment: Deployment) -> None:
    board = deployment.one(DASHBOARD).inputs
    assert board["dashboardName"] == f"ec2-compliance-staging-{REGION}"
    body = json.loads(board["dashboardBody"])
    text = json.dumps(body)
    assert '"FunctionName", "ec2-compliance-staging"' in text
    assert "SOURCE '/aws/lambda/ec2-compliance-staging'" in text
    assert f'"StateMachineArn", "{deployment.one(STATE_MACHINE).state["arn"]}"' in text
    assert {w["properties"]["region"] for w in body["widgets"]} == {REGION}
    namespaces = {m[0] for w in body["widgets"] for m in w["properties"].get("metrics", []) if isinstance(m[0], str)}
    assert namespaces == {"Acme/EC2Compliance", "AWS/Lambda", "AWS/SQS", "AWS/States"}


def _alarm(deployment: Deployment, role: str) -> Registration:
    return next(a for a in deployment.of_type(ALARM) if a.name == f"compliance-{role}-staging")


def test_error_alarm_fires_on_the_first_failure(deployment: Deployment) -> None:
    alarm = _alarm(deployment, "errors-alarm").inputs
    assert alarm["alarmActions"] == [deployment.one(TOPIC).state["arn"]]
    assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == (
        "AWS/Lambda",
        "Errors",
        "Sum",
    )
    assert alarm["dimensions"] == {"FunctionName": "ec2-compliance-staging"}
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm["treatMissingData"] == "notBreaching"


def test_compliance_alarm_uses_the_policy_threshold(deployment: Deployment) -> None:
    alarm = _alarm(deployment, "compliance-alarm").inputs
    assert alarm["alarmActions"] == [deployment.one(TOPIC).state["arn"]]
    assert (alarm["namespace"], alarm["metricName"]) == (
        "Acme/EC2Compliance",
        contract.METRIC_COMPLIANCE_RATE,
    )
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("LessThanThreshold", 85)
    assert (alarm["statistic"], alarm["period"], alarm["evaluationPeriods"]) == (
        "Minimum",
        86400,
        1,
    )


def test_registered_outputs_are_the_deployed_values(deployment: Deployment) -> None:
    assert sorted(deployment.component_outputs) == sorted(OUTPUT_NAMES)
    assert deployment.component_outputs == {
        "lambda_function_arn": deployment.one(FUNCTION).state["arn"],
        "lambda_function_name": "ec2-compliance-staging",
        "sns_topic_arn": deployment.one(TOPIC).state["arn"],
        "compliance_bucket_name": deployment.one(BUCKET).state["bucket"],
        "dashboard_name": f"ec2-compliance-staging-{REGION}",
        "log_group_name": "/aws/lambda/ec2-compliance-staging",
        "schedule_rule_name": deployment.one(RULE).state["name"],
        "region": REGION,
        "scanner_code_sha256": packaging.code_sha256(packaging.archive_members()),
        "state_machine_arn": deployment.one(STATE_MACHINE).state["arn"],
    }


def test_code_hash_follows_the_sources_not_the_zip(tmp_path) -> None:
    """Same sources, same hash; one byte changed in any member, another hash."""
    members = packaging.archive_members()
    assert packaging.code_sha256(members) == packaging.code_sha256(dict(reversed(list(members.items()))))
    copy = tmp_path / "index.py"
    copy.write_bytes(members["index.py"].read_bytes() + b"\n")
    assert packaging.code_sha256({**members, "index.py": copy}) != packaging.code_sha256(members)


NAME_LIMITS = {
    BUCKET: ("bucket", 63),
    FUNCTION: ("name", 64),
    ROLE: ("name", 64),
    ROLE_POLICY: ("name", 128),
    RULE: ("name", 64),
    TOPIC: ("name", MAX_TOPIC_NAME_CHARS),
    ALIAS: ("name", 256),
    LOG_GROUP: ("name", 512),
    ALARM: ("name", 255),
    DASHBOARD: ("dashboardName", 255),
    QUEUE: ("name", 80),
    STATE_MACHINE: ("name", 80),
}
"""Physical names AWS limits, by type: the field holding the name and its maximum length."""


def test_an_ephemeral_24_character_suffix_keeps_every_name_within_aws_limits() -> None:
    environment = "integration-stage-a1b2c3"  # `<env>-<6 chars>` at the 24-character maximum
    assert len(environment) == 24
    deployed = deploy(ComplianceAnalyzerArgs(environment=environment))
    checked = set()
    for resource in deployed.resources:
        if resource.type in NAME_LIMITS:
            field, limit = NAME_LIMITS[resource.type]
            name = resource.state[field]
            assert environment in name, name
            assert len(name) <= limit, (resource.type, name, len(name))
            checked.add(resource.type)
    assert checked == set(NAME_LIMITS)
    bucket = deployed.one(BUCKET).state["bucket"]
    assert bucket == bucket.lower()
    # Pulumi autonames `<logical name>-<7 hex>`: the longest logical names leave room for it.
    assert len(f"compliance-scanner-role-{environment}") + AUTONAME_SUFFIX_CHARS == 56 <= 64
    assert len(f"compliance-reports-{environment}") + AUTONAME_SUFFIX_CHARS == 51 <= 63
    assert deployed.one(FUNCTION).state["name"] == f"ec2-compliance-{environment}"


def test_the_new_autonamed_children_are_checked_before_any_resource_exists() -> None:
    assert {
        "scan": ("Step Functions state machine", 80),
        "scan-role": ("IAM role", 64),
        "scan-policy": ("IAM role policy", 128),
        "schedule-role": ("IAM role", 64),
        "schedule-policy": ("IAM role policy", 128),
        "executions-failed-alarm": ("CloudWatch alarm", 255),
        "executions-timed-out-alarm": ("CloudWatch alarm", 255),
    }.items() <= AUTONAMED_LIMITS.items()
    assert "schedule-invoke" not in AUTONAMED_LIMITS  # the Lambda permission is gone


def test_a_component_name_that_would_overflow_a_name_limit_is_refused() -> None:
    args = ComplianceAnalyzerArgs(environment="a" * 24)
    with pytest.raises(ValueError) as caught:
        deploy(args, name="compliance-analyzer")
    assert str(caught.value) == (
        "ComplianceAnalyzer name 'compliance-analyzer': the IAM role name "
        f"'compliance-analyzer-scanner-role-{'a' * 24}' plus Pulumi's 8-character suffix "
        "exceeds the 64-character limit"
    )


def test_the_reports_bucket_refuses_plain_http(deployment: Deployment) -> None:
    policy = deployment.one(BUCKET_POLICY)
    bucket = deployment.one(BUCKET)
    assert policy.inputs["bucket"] == bucket.state["bucket"]
    name = bucket.state["bucket"]
    assert json.loads(policy.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    public_access = deployment.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert public_access.urn in policy.dependencies


def test_the_topic_policy_replaces_the_default_one(deployment: Deployment) -> None:
    topic_arn = deployment.one(TOPIC).state["arn"]
    role_arn = _named(deployment, ROLE, "scanner-role").state["arn"]
    policy = deployment.one(TOPIC_POLICY)
    assert policy.inputs["arn"] == topic_arn
    assert json.loads(policy.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
            },
            {
                "Sid": "ScannerPublishes",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": "sns:Publish",
                "Resource": topic_arn,
            },
        ],
    }


def test_reserved_concurrency_and_tracing_as_configured(deployment: Deployment) -> None:
    function = deployment.one(FUNCTION)
    assert function.inputs["reservedConcurrentExecutions"] == 5
    assert function.inputs["tracingConfig"] == {"mode": "PassThrough"}
    assert "WriteTraces" not in _policy_statements(deployment)


def test_defaults_reserve_an_execution_per_concurrent_region_and_trace_actively() -> None:
    deployed = deploy(ComplianceAnalyzerArgs(environment="dev"))
    function = deployed.one(FUNCTION)
    assert function.inputs["reservedConcurrentExecutions"] == 4
    definition = json.loads(deployed.one(STATE_MACHINE).inputs["definition"])
    assert definition["States"][workflow.STATE_REGIONS]["MaxConcurrency"] == 4
    assert function.inputs["tracingConfig"] == {"mode": "Active"}
    assert _policy_statements(deployed)["WriteTraces"] == {
        "Sid": "WriteTraces",
        "Effect": "Allow",
        "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
        "Resource": "*",
    }


def test_failed_scans_are_kept_in_an_encrypted_dead_letter_queue(deployment: Deployment) -> None:
    queue = deployment.one(QUEUE)
    assert queue.inputs["kmsMasterKeyId"] == deployment.one(KEY).state["arn"]
    assert queue.inputs["messageRetentionSeconds"] == 1209600
    invoke = deployment.one(INVOKE_CONFIG)
    assert invoke.inputs["functionName"] == "ec2-compliance-staging"
    assert invoke.inputs["maximumRetryAttempts"] == 1
    assert invoke.inputs["destinationConfig"] == {"onFailure": {"destination": queue.state["arn"]}}
    assert _named(deployment, ROLE_POLICY, "scanner-policy").urn in invoke.dependencies
    target = deployment.one(TARGET)
    assert target.inputs["retryPolicy"] == {"maximumEventAgeInSeconds": 3600, "maximumRetryAttempts": 3}
    assert target.inputs["deadLetterConfig"] == {"arn": queue.state["arn"]}
    policy = deployment.one(QUEUE_POLICY)
    assert policy.inputs["queueUrl"] == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue.state['name']}"
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["ScheduleDeadLetters"]["Condition"] == {
        "ArnEquals": {"aws:SourceArn": deployment.one(RULE).state["arn"]}
    }
    assert statements["ScheduleDeadLetters"]["Resource"] == queue.state["arn"]
    assert _policy_statements(deployment)["SendFailedScans"]["Resource"] == queue.state["arn"]


def test_a_scan_in_the_dead_letter_queue_raises_an_alarm(deployment: Deployment) -> None:
    alarm = next(a for a in deployment.of_type(ALARM) if a.name == "compliance-dlq-alarm-staging")
    assert {k: v for k, v in alarm.inputs.items() if k not in ("tags", "alarmDescription")} == {
        "namespace": "AWS/SQS",
        "metricName": "ApproximateNumberOfMessagesVisible",
        "dimensions": {"QueueName": deployment.one(QUEUE).state["name"]},
        "statistic": "Maximum",
        "period": 300,
        "evaluationPeriods": 1,
        "threshold": 1,
        "comparisonOperator": "GreaterThanOrEqualToThreshold",
        "treatMissingData": "notBreaching",
        "alarmActions": [deployment.one(TOPIC).state["arn"]],
    }


def test_async_retries_are_configurable() -> None:
    deployed = deploy(ComplianceAnalyzerArgs(environment="dev", async_retries=0))
    assert deployed.one(INVOKE_CONFIG).inputs["maximumRetryAttempts"] == 0


def test_security_hub_import_is_allowed_on_the_default_product_only() -> None:
    """Off by default; on, the function is told (SECURITY_HUB_IMPORT) and may import into the
    home region's default product, the product `ec2c.scanner.reports.asff` writes to."""
    off = deploy(ComplianceAnalyzerArgs(environment="dev"))
    assert "ImportFindings" not in _policy_statements(off)
    assert "SECURITY_HUB_IMPORT" not in off.one(FUNCTION).inputs["environment"]["variables"]
    on = deploy(ComplianceAnalyzerArgs(environment="dev", security_hub=True))
    assert on.one(FUNCTION).inputs["environment"]["variables"]["SECURITY_HUB_IMPORT"] == "true"
    statements = _policy_statements(on)
    assert statements["ImportFindings"] == {
        "Sid": "ImportFindings",
        "Effect": "Allow",
        "Action": "securityhub:BatchImportFindings",
        "Resource": f"arn:{PARTITION}:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default",
    }
