"""The scanner role's documents, checked as parsed JSON (no Pulumi involved)."""

from __future__ import annotations

import json

import pytest

from ec2c.stacks import iam

BUCKET_ARN = "arn:aws:s3:::compliance-reports-dev-abc1234"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:compliance-alerts-dev-abc1234"
LOG_GROUP_ARN = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/ec2-compliance-dev"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DESCRIBES = ["ec2:DescribeVolumes", "ec2:DescribeInstances"]
DLQ_ARN = "arn:aws:sqs:eu-west-1:123456789012:compliance-scanner-dlq-dev"


def _statements(**overrides: object) -> dict[str, dict]:
    kwargs = dict(
        describe_actions=DESCRIBES,
        partition="aws",
        bucket_arn=BUCKET_ARN,
        topic_arn=TOPIC_ARN,
        log_group_arn=LOG_GROUP_ARN,
        metric_namespace="EC2Compliance",
        topic_key_arn=KEY_ARN,
        dead_letter_queue_arn=DLQ_ARN,
    )
    kwargs.update(overrides)
    document = json.loads(iam.scanner_policy(**kwargs))
    assert document["Version"] == "2012-10-17"
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_assume_role_policy_trusts_only_lambda() -> None:
    document = json.loads(iam.assume_role_policy())
    assert document["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


def test_describe_actions_are_sorted_and_the_only_wildcard_besides_metrics() -> None:
    statements = _statements()
    assert statements["DescribeFleet"]["Action"] == ["ec2:DescribeInstances", "ec2:DescribeVolumes"]
    wildcards = {sid for sid, statement in statements.items() if statement["Resource"] == "*"}
    assert wildcards == {"DescribeFleet", "PutComplianceMetrics"}
    assert all(statement["Effect"] == "Allow" for statement in statements.values())


def test_prefix_list_entries_are_read_on_prefix_lists_only_in_the_partition() -> None:
    statements = _statements(describe_actions=[*DESCRIBES, "ec2:GetManagedPrefixListEntries"], partition="aws-cn")
    assert statements["DescribeFleet"]["Action"] == ["ec2:DescribeInstances", "ec2:DescribeVolumes"]
    assert statements["ReadPrefixLists"] == {
        "Sid": "ReadPrefixLists",
        "Effect": "Allow",
        "Action": "ec2:GetManagedPrefixListEntries",
        "Resource": "arn:aws-cn:ec2:*:*:prefix-list/*",
    }


def test_no_describe_statement_when_prefix_lists_are_the_only_read() -> None:
    statements = _statements(describe_actions=["ec2:GetManagedPrefixListEntries"])
    assert "DescribeFleet" not in statements
    assert statements["ReadPrefixLists"]["Action"] == "ec2:GetManagedPrefixListEntries"


def test_reports_are_readable_and_writable_only_under_the_prefix() -> None:
    statement = _statements()["ReadWriteReports"]
    assert statement["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert statement["Resource"] == f"{BUCKET_ARN}/reports/*"


def test_listing_is_limited_to_the_reports_bucket_and_unconditional() -> None:
    assert _statements()["FindPreviousReport"] == {
        "Sid": "FindPreviousReport",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": BUCKET_ARN,
    }


def test_publish_is_limited_to_the_alert_topic() -> None:
    assert _statements()["PublishAlerts"] == {
        "Sid": "PublishAlerts",
        "Effect": "Allow",
        "Action": "sns:Publish",
        "Resource": TOPIC_ARN,
    }


def test_publishing_to_the_encrypted_topic_may_use_only_its_key() -> None:
    assert _statements()["EncryptAlerts"] == {
        "Sid": "EncryptAlerts",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": KEY_ARN,
    }


def test_metrics_are_pinned_to_the_namespace() -> None:
    statement = _statements(metric_namespace="Acme/Compliance")["PutComplianceMetrics"]
    assert statement["Action"] == "cloudwatch:PutMetricData"
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Acme/Compliance"}}


def test_logs_go_only_to_the_own_log_group() -> None:
    statement = _statements()["WriteOwnLogs"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == f"{LOG_GROUP_ARN}:*"


def test_no_statement_allows_writes_beyond_the_listed_ones() -> None:
    actions = set()
    for statement in _statements().values():
        actions.update([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    # The one wildcard action covers only the GenerateDataKey variants, on one key.
    assert [action for action in actions if "*" in action] == ["kms:GenerateDataKey*"]
    assert actions == {
        *DESCRIBES,
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "sns:Publish",
        "sqs:SendMessage",
        "kms:Decrypt",
        "kms:GenerateDataKey*",
        "cloudwatch:PutMetricData",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }


def test_an_empty_action_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one describe action"):
        _statements(describe_actions=[])


def test_alert_key_policy_lets_the_account_administer_and_cloudwatch_alarms_publish() -> None:
    document = json.loads(iam.alert_key_policy(account_id="210987654321", partition="aws-cn"))
    assert document["Version"] == "2012-10-17"
    assert document["Statement"] == [
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws-cn:iam::210987654321:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": "210987654321"}},
        },
        {
            "Sid": "EventBridgeDeadLetters",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": "210987654321"}},
        },
    ]


def test_the_scanner_may_send_failed_scans_to_its_dead_letter_queue() -> None:
    assert _statements()["SendFailedScans"] == {
        "Sid": "SendFailedScans",
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": DLQ_ARN,
    }


def test_dead_letter_queue_policy_is_tls_only_and_scoped_to_the_rule() -> None:
    rule = "arn:aws:events:eu-west-1:123456789012:rule/compliance-schedule-dev"
    assert json.loads(iam.dead_letter_queue_policy(queue_arn=DLQ_ARN, rule_arn=rule)) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": DLQ_ARN,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "ScheduleDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": DLQ_ARN,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
            },
        ],
    }


FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:ec2-compliance-dev"
STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:compliance-scan-dev-1a2b3c4"


@pytest.mark.parametrize("service", ["states.amazonaws.com", "events.amazonaws.com"])
def test_service_roles_trust_only_their_service_for_this_account(service: str) -> None:
    assert json.loads(iam.service_role_trust_policy(service=service, account_id="210987654321")) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": "210987654321"}},
            }
        ],
    }


def test_the_state_machine_may_only_invoke_the_scanner_function_and_its_versions() -> None:
    assert json.loads(iam.state_machine_policy(function_arn=FUNCTION_ARN)) == {
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


def test_the_schedule_may_only_start_the_state_machine() -> None:
    assert json.loads(iam.schedule_policy(state_machine_arn=STATE_MACHINE_ARN)) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StartScan",
                "Effect": "Allow",
                "Action": "states:StartExecution",
                "Resource": STATE_MACHINE_ARN,
            }
        ],
    }
