"""The change-event path under Pulumi's mocks: EventBridge rules per region, the home bus, the
events queue and its dead-letter queue, the scanner's event source, and nothing of it by default."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from stack_harness import ACCOUNT, PARTITION, REGION, Deployment, Registration, deploy, run_program

from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.changes.events import event_names, event_patterns
from ec2c.scanner.contract import ENV_EVENTS_ALERT_SEVERITY
from ec2c.scanner.rules import CATALOGUE
from ec2c.stacks import OUTPUT_NAMES, ArgsError, ComplianceAnalyzerArgs, iam, program
from ec2c.stacks.args import EventsArgs
from ec2c.stacks.component import EVENTS_OUTPUT_NAMES, home_region
from ec2c.stacks.lambda_env import worst_case_environment_size

QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
KEY = "aws:kms/key:Key"
TOPIC = "aws:sns/topic:Topic"
FUNCTION = "aws:lambda/function:Function"

OTHERS = ("us-east-1", "ap-southeast-4")
REGIONS = (REGION, *OTHERS)
TAGS = {"ManagedBy": "pulumi", "Environment": "staging", "Team": "secops"}
BUS_ARN = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/default"
"""The home region's default bus, in the deploying identity's partition."""


def _args(events: EventsArgs | None, **fields: Any) -> ComplianceAnalyzerArgs:
    return ComplianceAnalyzerArgs(
        environment="staging",
        tags={"Team": "secops"},
        regions=REGIONS,
        lambda_timeout_s=600,
        events=events,
        **fields,
    )


@pytest.fixture(scope="module", autouse=True)
def stack_region() -> Iterator[None]:
    """The stack's `aws:region` config, as the orchestrator sets it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PULUMI_CONFIG_AWS_REGION", REGION)
        yield


@pytest.fixture(scope="module")
def without() -> Deployment:
    return deploy(_args(None))


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    return deploy(_args(EventsArgs(alert_severity="critical", batch_window_s=30, batch_size=500)))


def _named(deployment: Deployment, type_: str, role: str) -> Registration:
    found = [r for r in deployment.of_type(type_) if r.name == f"compliance-{role}-staging"]
    assert len(found) == 1, (type_, role, [r.name for r in deployment.of_type(type_)])
    return found[0]


def _patterns() -> list[dict[str, Any]]:
    """What the scanner derives from the default policy's enabled rules."""
    policy = load_policy({}, source="test")
    return event_patterns(event_names(CATALOGUE[rule] for rule in policy.enabled_rule_ids()))


NEW_CHILDREN = {
    QUEUE: ["events-dlq", "events"],
    QUEUE_POLICY: ["events-dlq-policy", "events-policy"],
    RULE: [
        "events-rule-0",
        "events-rule-1",
        "fwd-ap-southeast-4-0",
        "fwd-ap-southeast-4-1",
        "fwd-us-east-1-0",
        "fwd-us-east-1-1",
    ],
    TARGET: [
        "events-target-0",
        "events-target-1",
        "fwd-ap-southeast-4-target-0",
        "fwd-ap-southeast-4-target-1",
        "fwd-us-east-1-target-0",
        "fwd-us-east-1-target-1",
    ],
    ROLE: ["events-forward-role"],
    ROLE_POLICY: ["events-consume-policy", "events-forward-policy"],
    MAPPING: ["events-source"],
    ALARM: ["events-dlq-alarm"],
}


def test_without_events_nothing_of_the_path_exists(without: Deployment, deployment: Deployment) -> None:
    before = Counter(r.type for r in without.resources)
    after = Counter(r.type for r in deployment.resources)
    assert after - before == Counter({type_: len(roles) for type_, roles in NEW_CHILDREN.items()})
    assert before - after == Counter()
    assert [r.name for r in without.resources if "events" in r.name or "fwd" in r.name] == []
    assert sorted(without.component_outputs) == sorted(OUTPUT_NAMES)
    variables = without.one(FUNCTION).inputs["environment"]["variables"]
    assert ENV_EVENTS_ALERT_SEVERITY not in variables


def test_the_new_children_are_named_parented_and_tagged(without: Deployment, deployment: Deployment) -> None:
    old = {(r.type, r.name) for r in without.resources}
    new = [r for r in deployment.resources if (r.type, r.name) not in old]
    by_type: dict[str, list[str]] = {}
    for resource in new:
        by_type.setdefault(resource.type, []).append(resource.name)
        assert resource.parent == deployment.component.urn, resource.name
    assert {t: sorted(names) for t, names in by_type.items()} == {
        t: [f"compliance-{role}-staging" for role in roles] for t, roles in NEW_CHILDREN.items()
    }
    for resource in new:
        if resource.type in (QUEUE, RULE, ROLE, MAPPING, ALARM):
            assert resource.inputs["tags"] == TAGS, resource.name
        else:
            assert "tags" not in resource.inputs, resource.name


def test_the_patterns_are_the_scanners(deployment: Deployment) -> None:
    patterns = _patterns()
    assert len(patterns) == 2
    assert patterns[1] == {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]}
    assert patterns[0]["detail-type"] == ["AWS API Call via CloudTrail"]
    for index, pattern in enumerate(patterns):
        home = _named(deployment, RULE, f"events-rule-{index}")
        assert home.inputs == {
            "description": "Sends EC2 changes to the compliance scanner of staging",
            "eventPattern": json.dumps(pattern),
            "tags": TAGS,
        }
        for region in OTHERS:
            assert _named(deployment, RULE, f"fwd-{region}-{index}").inputs == {
                "region": region,
                "description": "Forwards EC2 changes to the compliance scanner of staging",
                "eventPattern": json.dumps(pattern),
                "tags": TAGS,
            }


def test_the_patterns_follow_the_enabled_rules() -> None:
    """Fewer enabled rules, fewer CloudTrail names in the API-call pattern."""
    only = {rule: {"enabled": rule == "imdsv2_required"} for rule in CATALOGUE}
    deployed = deploy(_args(EventsArgs(), policy={"rules": only}))
    policy = load_policy({"rules": only}, source="test")
    expected = event_patterns(event_names(CATALOGUE[rule] for rule in policy.enabled_rule_ids()))
    assert expected != _patterns()
    rules = sorted((r for r in deployed.of_type(RULE) if "events-rule-" in r.name), key=lambda r: r.name)
    assert [json.loads(r.inputs["eventPattern"]) for r in rules] == expected


def test_the_events_queue_is_encrypted_redriven_and_outlives_six_timeouts(deployment: Deployment) -> None:
    key_arn = deployment.one(KEY).state["arn"]
    dead_letters = _named(deployment, QUEUE, "events-dlq")
    assert dead_letters.inputs == {"kmsMasterKeyId": key_arn, "messageRetentionSeconds": 1209600, "tags": TAGS}
    queue = _named(deployment, QUEUE, "events")
    assert queue.inputs == {
        "kmsMasterKeyId": key_arn,
        "messageRetentionSeconds": 345600,
        "visibilityTimeoutSeconds": 6 * 600 + 30,
        "redrivePolicy": json.dumps({"deadLetterTargetArn": dead_letters.state["arn"], "maxReceiveCount": 5}),
        "tags": TAGS,
    }


def _deny_plain_http(queue_arn: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": queue_arn,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_only_the_home_change_rules_may_send_and_only_over_tls(deployment: Deployment) -> None:
    queue = _named(deployment, QUEUE, "events")
    policy = _named(deployment, QUEUE_POLICY, "events-policy")
    assert policy.inputs["queueUrl"] == queue.state["url"]
    rule_arns = [_named(deployment, RULE, f"events-rule-{index}").state["arn"] for index in (0, 1)]
    assert json.loads(policy.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            _deny_plain_http(queue.state["arn"]),
            {
                "Sid": "ChangeRulesSend",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue.state["arn"],
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
            },
        ],
    }
    dead_letters = _named(deployment, QUEUE, "events-dlq")
    dlq_policy = _named(deployment, QUEUE_POLICY, "events-dlq-policy")
    assert dlq_policy.inputs["queueUrl"] == dead_letters.state["url"]
    assert json.loads(dlq_policy.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [_deny_plain_http(dead_letters.state["arn"])],
    }


def test_the_home_rules_target_the_queue_once_it_admits_them(deployment: Deployment) -> None:
    queue = _named(deployment, QUEUE, "events")
    policy = _named(deployment, QUEUE_POLICY, "events-policy")
    for index in (0, 1):
        target = _named(deployment, TARGET, f"events-target-{index}")
        assert target.inputs == {
            "rule": _named(deployment, RULE, f"events-rule-{index}").state["name"],
            "arn": queue.state["arn"],
        }
        assert policy.urn in target.dependencies


def test_the_scanner_drains_the_queue_in_batches_reporting_partial_failures(deployment: Deployment) -> None:
    mapping = _named(deployment, MAPPING, "events-source")
    assert mapping.inputs == {
        "eventSourceArn": _named(deployment, QUEUE, "events").state["arn"],
        "functionName": deployment.one(FUNCTION).state["arn"],
        "batchSize": 500,
        "maximumBatchingWindowInSeconds": 30,
        "functionResponseTypes": ["ReportBatchItemFailures"],
        "scalingConfig": {"maximumConcurrency": 2},
        "tags": TAGS,
    }
    assert _named(deployment, ROLE_POLICY, "events-consume-policy").urn in mapping.dependencies


def test_the_scanner_role_may_only_consume_the_events_queue(deployment: Deployment) -> None:
    policy = _named(deployment, ROLE_POLICY, "events-consume-policy")
    assert policy.inputs["role"] == _named(deployment, ROLE, "scanner-role").state["name"]
    assert json.loads(policy.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConsumeChangeEvents",
                "Effect": "Allow",
                "Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                "Resource": _named(deployment, QUEUE, "events").state["arn"],
            },
            {
                "Sid": "DecryptChangeEvents",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": deployment.one(KEY).state["arn"],
            },
            {
                "Sid": "FindChangedInstances",
                "Effect": "Allow",
                "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups"],
                "Resource": "*",
            },
        ],
    }


def test_other_regions_forward_to_the_home_bus_through_a_put_events_role(deployment: Deployment) -> None:
    role = _named(deployment, ROLE, "events-forward-role")
    assert json.loads(role.inputs["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            }
        ],
    }
    policy = _named(deployment, ROLE_POLICY, "events-forward-policy")
    assert policy.inputs["role"] == role.state["name"]
    assert json.loads(policy.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ForwardToHomeBus", "Effect": "Allow", "Action": "events:PutEvents", "Resource": BUS_ARN}
        ],
    }
    for region in OTHERS:
        for index in (0, 1):
            target = _named(deployment, TARGET, f"fwd-{region}-target-{index}")
            assert target.inputs == {
                "region": region,
                "rule": _named(deployment, RULE, f"fwd-{region}-{index}").state["name"],
                "arn": BUS_ARN,
                "roleArn": role.state["arn"],
            }
            assert policy.urn in target.dependencies
    home = [r.name for r in deployment.of_type(RULE) if r.inputs.get("region") == REGION]
    assert home == []  # the home region forwards nothing to itself


def test_a_dead_lettered_change_raises_an_alarm(deployment: Deployment) -> None:
    alarm = _named(deployment, ALARM, "events-dlq-alarm")
    assert alarm.inputs == {
        "alarmDescription": (
            "EC2 changes of staging went unevaluated (a message waits in the events dead-letter queue)"
        ),
        "namespace": "AWS/SQS",
        "metricName": "ApproximateNumberOfMessagesVisible",
        "dimensions": {"QueueName": _named(deployment, QUEUE, "events-dlq").state["name"]},
        "statistic": "Maximum",
        "period": 300,
        "evaluationPeriods": 1,
        "threshold": 1,
        "comparisonOperator": "GreaterThanOrEqualToThreshold",
        "treatMissingData": "notBreaching",
        "alarmActions": [deployment.one(TOPIC).state["arn"]],
        "tags": TAGS,
    }


def test_the_scanner_is_told_the_alert_severity(deployment: Deployment) -> None:
    variables = deployment.one(FUNCTION).inputs["environment"]["variables"]
    assert variables[ENV_EVENTS_ALERT_SEVERITY] == "critical"
    assert ENV_EVENTS_ALERT_SEVERITY == "EVENTS_ALERT_SEVERITY"


def test_the_outputs_add_the_queues(deployment: Deployment) -> None:
    outputs = deployment.component_outputs
    assert sorted(outputs) == sorted(OUTPUT_NAMES + EVENTS_OUTPUT_NAMES)
    queue = _named(deployment, QUEUE, "events")
    assert {name: outputs[name] for name in EVENTS_OUTPUT_NAMES} == {
        "events_queue_url": queue.state["url"],
        "events_queue_arn": queue.state["arn"],
        "events_dlq_arn": _named(deployment, QUEUE, "events-dlq").state["arn"],
    }


def test_the_program_exports_the_queues_too() -> None:
    deployed = run_program(program(_args(EventsArgs())))
    assert deployed.exports == deployed.component_outputs
    assert set(EVENTS_OUTPUT_NAMES) <= set(deployed.exports)


def test_defaults_and_a_home_only_stack_have_no_forwarders() -> None:
    deployed = deploy(ComplianceAnalyzerArgs(environment="dev", events=EventsArgs()))
    assert [r.name for r in deployed.of_type(RULE) if "fwd" in r.name] == []
    assert [r.name for r in deployed.of_type(ROLE) if "forward" in r.name] == []
    mapping = deployed.one(MAPPING).inputs
    assert (mapping["batchSize"], mapping["maximumBatchingWindowInSeconds"]) == (100, 20)
    queue = next(r for r in deployed.of_type(QUEUE) if r.name == "compliance-events-dev")
    assert queue.inputs["visibilityTimeoutSeconds"] == 6 * 300 + 20
    variables = deployed.one(FUNCTION).inputs["environment"]["variables"]
    assert variables[ENV_EVENTS_ALERT_SEVERITY] == "high"


def test_a_long_region_name_that_overflows_a_rule_name_is_refused() -> None:
    args = ComplianceAnalyzerArgs(environment="a" * 24, regions=(REGION, "ap-southeast-44"), events=EventsArgs())
    with pytest.raises(ValueError) as caught:
        deploy(args)
    assert str(caught.value) == (
        "ComplianceAnalyzer name 'compliance': the EventBridge rule name "
        f"'compliance-fwd-ap-southeast-44-0-{'a' * 24}' plus Pulumi's 8-character suffix "
        "exceeds the 64-character limit"
    )
    # The same environment without events deploys: the path's names are checked only with it.
    assert deploy(ComplianceAnalyzerArgs(environment="a" * 24, regions=(REGION, "ap-southeast-44")))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"alert_severity": "urgent"},
            "ComplianceAnalyzerArgs.events.alert_severity: expected one of critical, high, medium, "
            "low, informational, got 'urgent'",
        ),
        (
            {"alert_severity": 3},
            "ComplianceAnalyzerArgs.events.alert_severity: expected one of critical, high, medium, "
            "low, informational, got 3",
        ),
        ({"batch_window_s": 301}, "ComplianceAnalyzerArgs.events.batch_window_s: expected 0..300, got 301"),
        ({"batch_window_s": -1}, "ComplianceAnalyzerArgs.events.batch_window_s: expected 0..300, got -1"),
        ({"batch_window_s": True}, "ComplianceAnalyzerArgs.events.batch_window_s: expected 0..300, got True"),
        ({"batch_size": 0}, "ComplianceAnalyzerArgs.events.batch_size: expected 1..10000, got 0"),
        ({"batch_size": 10001}, "ComplianceAnalyzerArgs.events.batch_size: expected 1..10000, got 10001"),
        (
            {"batch_size": 11, "batch_window_s": 0},
            "ComplianceAnalyzerArgs.events.batch_size: expected at most 10 without a batching window "
            "(Lambda takes more messages from a standard queue only with batch_window_s of at least 1), "
            "got 11",
        ),
    ],
)
def test_bad_events_args_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ArgsError) as caught:
        EventsArgs(**fields)
    assert str(caught.value) == message


def test_the_batch_limits_are_admitted() -> None:
    assert EventsArgs(batch_size=10, batch_window_s=0).batch_size == 10
    assert EventsArgs(batch_size=10000, batch_window_s=1).batch_size == 10000
    assert EventsArgs(batch_window_s=300).batch_window_s == 300


def test_events_must_be_events_args() -> None:
    with pytest.raises(ArgsError) as caught:
        ComplianceAnalyzerArgs(environment="dev", events={"batch_size": 5})  # type: ignore[arg-type]
    assert str(caught.value) == "ComplianceAnalyzerArgs.events: expected EventsArgs or None, got {'batch_size': 5}"


def test_the_severity_counts_in_the_environment_budget() -> None:
    without = worst_case_environment_size(metric_namespace="n", policy_json="{}", regions=[])
    with_events = worst_case_environment_size(
        metric_namespace="n", policy_json="{}", regions=[], events_alert_severity="informational"
    )
    assert with_events - without == len("EVENTS_ALERT_SEVERITY") + len("informational")


def test_the_home_region_comes_from_the_config_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-1")
    assert home_region() == REGION
    monkeypatch.delenv("PULUMI_CONFIG_AWS_REGION")
    assert home_region() == "us-west-2"
    monkeypatch.delenv("AWS_REGION")
    assert home_region() == "us-west-1"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ValueError) as caught:
        home_region()
    assert str(caught.value) == (
        "ComplianceAnalyzer events: expected the stack's region in the `aws:region` config (or AWS_REGION), got none"
    )


def test_a_queue_policy_without_rules_is_refused() -> None:
    """An Allow conditioned on no source ARN at all would be a policy nobody can use."""
    with pytest.raises(ValueError) as caught:
        iam.events_queue_policy(queue_arn="arn:aws:sqs:eu-west-1:123456789012:q", rule_arns=[])
    assert str(caught.value) == "events_queue_policy: expected at least one rule ARN, got none"


def test_the_dashboard_shows_the_change_path_only_when_it_exists(without: Deployment, deployment: Deployment) -> None:
    def titles(stack: Deployment) -> set[str]:
        body = json.loads(stack.one("aws:cloudwatch/dashboard:Dashboard").state["dashboardBody"])
        return {widget["properties"]["title"] for widget in body["widgets"]}

    change = {"Change events", "Time from a change to its verdict (s)"}
    assert change <= titles(deployment)
    assert not change & titles(without)
