"""IAM documents of the stack (the scanner's, the state machine's, the schedule's and the event
forwarders' roles, the bucket, topic, key and queue policies), as pure functions of
already-resolved values.

Kept free of Pulumi so the least-privilege promise can be checked by plain unit tests: the
component feeds these functions through `pulumi.Output.all(...).apply(...)`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ec2c.scanner import contract
from ec2c.scanner.sources import EVENT_LOOKUP_ACTIONS

POLICY_VERSION = "2012-10-17"


def assume_role_policy() -> str:
    """Trust policy letting only the Lambda service assume the scanner's role."""
    return json.dumps(
        {
            "Version": POLICY_VERSION,
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def service_role_trust_policy(*, service: str, account_id: str) -> str:
    """Trust policy letting only `service` assume a role, and only on behalf of this account.

    The `aws:SourceAccount` condition is AWS's confused-deputy guard for service roles: another
    account's state machine or rule cannot be pointed at this role. (A narrower `aws:SourceArn`
    is not possible for the state machine, whose ARN exists only after its role does.)
    """
    return json.dumps(
        {
            "Version": POLICY_VERSION,
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                }
            ],
        }
    )


def state_machine_policy(*, function_arn: str) -> str:
    """The state machine's inline policy: invoke the scanner function, nothing else.

    The `lambda:invoke` integration may call the function by a qualified ARN (a version or an
    alias, `<arn>:<qualifier>`), which IAM matches only against `<arn>:*`; both forms of this
    one function, and no other. Execution logging to CloudWatch Logs is off (see
    `ComplianceAnalyzer._state_machine`), so no log delivery actions are granted.
    """
    return json.dumps(
        {
            "Version": POLICY_VERSION,
            "Statement": [
                {
                    "Sid": "InvokeScanner",
                    "Effect": "Allow",
                    "Action": "lambda:InvokeFunction",
                    "Resource": [function_arn, f"{function_arn}:*"],
                }
            ],
        }
    )


def schedule_policy(*, state_machine_arn: str) -> str:
    """The schedule rule's role: start executions of this state machine, nothing else."""
    return json.dumps(
        {
            "Version": POLICY_VERSION,
            "Statement": [
                {
                    "Sid": "StartScan",
                    "Effect": "Allow",
                    "Action": "states:StartExecution",
                    "Resource": state_machine_arn,
                }
            ],
        }
    )


PREFIX_LIST_READ = "ec2:GetManagedPrefixListEntries"
"""The one read of the rules that IAM authorizes per resource (a prefix list): it is granted on
prefix lists only, not on `*` with the describe calls."""


def scanner_policy(
    *,
    describe_actions: Sequence[str],
    partition: str,
    bucket_arn: str,
    topic_arn: str,
    log_group_arn: str,
    metric_namespace: str,
    topic_key_arn: str,
    dead_letter_queue_arn: str,
    tracing: bool = False,
    security_hub_product_arn: str | None = None,
) -> str:
    """The scanner's inline policy: exactly what one scan run does, and nothing broader.

    `describe_actions` come from the enabled rules; EC2/SSM describe calls have no
    resource-level permissions, and `PutMetricData` has none either, so those two statements are
    the only ones on `*` (the metric one pinned to the namespace by condition). Reading a prefix
    list's entries is authorized per prefix list: that action is granted on prefix lists of any
    region and owner (a security group may reference an AWS-managed or a shared one), in the
    deploying account's `partition`, and on nothing else. Publishing to a
    topic encrypted with a customer-managed key also needs that key: SNS generates a data key
    for the message on the publisher's behalf, with the publisher's permissions.
    """
    if not describe_actions:
        raise ValueError("scanner_policy: expected at least one describe action, got none")
    statements: list[dict[str, object]] = []
    unscoped = sorted(set(describe_actions) - {PREFIX_LIST_READ})
    if unscoped:
        statements.append({"Sid": "DescribeFleet", "Effect": "Allow", "Action": unscoped, "Resource": "*"})
    if PREFIX_LIST_READ in describe_actions:
        statements.append(
            {
                "Sid": "ReadPrefixLists",
                "Effect": "Allow",
                "Action": PREFIX_LIST_READ,
                "Resource": f"arn:{partition}:ec2:*:*:prefix-list/*",
            }
        )
    statements += [
        {
            "Sid": "ReadWriteReports",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"{bucket_arn}/{contract.REPORT_PREFIX}*",
        },
        {
            # Without ListBucket, S3 answers a GetObject for a missing key with 403 instead of
            # 404, and the scanner's first run (no `reports/latest.json` yet) would fail. No
            # `s3:prefix` condition: that key is absent from the GetObject request S3 checks this
            # against, so the condition would never match; the bucket holds only reports anyway.
            "Sid": "FindPreviousReport",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
        },
        {
            "Sid": "PublishAlerts",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": topic_arn,
        },
        {
            "Sid": "EncryptAlerts",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": topic_key_arn,
        },
        {
            # Lambda sends a failed asynchronous invocation to its on-failure destination with
            # the function's own role (the queue is encrypted with the same key as the topic).
            # The schedule starts the state machine now; an operator's asynchronous scan still
            # lands here when it fails.
            "Sid": "SendFailedScans",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": dead_letter_queue_arn,
        },
        {
            "Sid": "PutComplianceMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": metric_namespace}},
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        },
    ]
    if tracing:
        # X-Ray has no resource-level permissions: these two actions are what active tracing
        # needs (the AWSXRayDaemonWriteAccess subset a function uses), nothing more.
        statements.append(
            {
                "Sid": "WriteTraces",
                "Effect": "Allow",
                "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                "Resource": "*",
            }
        )
    if security_hub_product_arn:
        # Findings go to the account's own default product, and nowhere else.
        statements.append(
            {
                "Sid": "ImportFindings",
                "Effect": "Allow",
                "Action": "securityhub:BatchImportFindings",
                "Resource": security_hub_product_arn,
            }
        )
    return json.dumps({"Version": POLICY_VERSION, "Statement": statements})


def security_hub_product_arn(*, partition: str, region: str, account_id: str) -> str:
    """The account's default Security Hub product: where its own findings are imported."""
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


def _deny_insecure_transport(sid: str, action: str, resources: str | list[str]) -> dict[str, object]:
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resources,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def reports_bucket_policy(*, bucket_arn: str) -> str:
    """TLS only: every request over plain HTTP is denied, for the bucket and its objects."""
    statement = _deny_insecure_transport("DenyInsecureTransport", "s3:*", [bucket_arn, f"{bucket_arn}/*"])
    return json.dumps({"Version": POLICY_VERSION, "Statement": [statement]})


def alert_topic_policy(*, topic_arn: str, account_id: str, scanner_role_arn: str) -> str:
    """The topic's whole policy (the AWS default one, which lets any principal of the account
    publish and manage, is replaced): TLS only, and `sns:Publish` for this account's CloudWatch
    alarms and the scanner role. Administration stays with the account's IAM policies."""
    return json.dumps(
        {
            "Version": POLICY_VERSION,
            "Statement": [
                _deny_insecure_transport("DenyInsecureTransport", "sns:Publish", topic_arn),
                {
                    "Sid": "CloudWatchAlarmsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
                {
                    "Sid": "ScannerPublishes",
                    "Effect": "Allow",
                    "Principal": {"AWS": scanner_role_arn},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                },
            ],
        }
    )


def alert_key_policy(*, account_id: str, partition: str) -> str:
    """Key policy of the alert topic's customer-managed key.

    The topic cannot use the AWS-managed `alias/aws/sns`: its key policy cannot be edited and
    does not let `cloudwatch.amazonaws.com` use the key, so every alarm action would fail with
    "CloudWatch Alarms does not have authorization to access the SNS topic encryption key".
    The account root keeps `kms:*` (without it the key could become unmanageable, and IAM
    policies such as the scanner role's could not grant use of the key); CloudWatch may only
    generate and decrypt data keys, and only for alarms of this account; EventBridge the same,
    for the dead-letter queue and, with the change-event path, the events queue (both encrypted
    with this key too).
    """
    return json.dumps(
        {
            "Version": POLICY_VERSION,
            "Statement": [
                {
                    "Sid": "AccountAdministersKey",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                _service_uses_key("CloudWatchAlarmsPublish", "cloudwatch.amazonaws.com", account_id),
                _service_uses_key("EventBridgeDeadLetters", "events.amazonaws.com", account_id),
            ],
        }
    )


def _service_uses_key(sid: str, service: str, account_id: str) -> dict[str, object]:
    """A service may make and read data keys with the key, on behalf of this account only."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    }


def _events_may_send(*, queue_arn: str, sid: str, source_arns: str | list[str]) -> str:
    """A queue EventBridge writes to: TLS only, and `sqs:SendMessage` for the given rules only."""
    return json.dumps(
        {
            "Version": POLICY_VERSION,
            "Statement": [
                _deny_insecure_transport("DenyInsecureTransport", "sqs:*", queue_arn),
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": source_arns}},
                },
            ],
        }
    )


def dead_letter_queue_policy(*, queue_arn: str, rule_arn: str) -> str:
    """EventBridge may drop a scan it could not deliver into the queue, for this rule only."""
    return _events_may_send(queue_arn=queue_arn, sid="ScheduleDeadLetters", source_arns=rule_arn)


def default_event_bus_arn(*, partition: str, region: str, account_id: str) -> str:
    """The account's default event bus in `region`: where AWS services put their events."""
    return f"arn:{partition}:events:{region}:{account_id}:event-bus/default"


def events_queue_policy(*, queue_arn: str, rule_arns: Sequence[str]) -> str:
    """The events queue: TLS only, and EventBridge may send to it for the home region's change
    rules only (events forwarded from other regions reach it through those same rules)."""
    if not rule_arns:
        raise ValueError("events_queue_policy: expected at least one rule ARN, got none")
    return _events_may_send(queue_arn=queue_arn, sid="ChangeRulesSend", source_arns=list(rule_arns))


def tls_only_queue_policy(*, queue_arn: str) -> str:
    """A queue nothing but SQS itself writes to (a redrive target): every plain-HTTP request is
    denied, and no principal outside the account's IAM policies is allowed anything."""
    statement = _deny_insecure_transport("DenyInsecureTransport", "sqs:*", queue_arn)
    return json.dumps({"Version": POLICY_VERSION, "Statement": [statement]})


def events_consumer_policy(*, queue_arn: str, key_arn: str) -> str:
    """The scanner role's second inline policy, for the SQS event source: what Lambda's poller
    does with the function's role on the events queue (receive, delete what was handled, read
    the queue's attributes), decrypting its messages with the queue's key, and the two describes
    that lead from a changed interface or prefix list to its instances (no resource-level
    permissions, hence `*`). Nothing else: the scanner never sends to that queue."""
    return json.dumps(
        {
            "Version": POLICY_VERSION,
            "Statement": [
                {
                    "Sid": "ConsumeChangeEvents",
                    "Effect": "Allow",
                    "Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                    "Resource": queue_arn,
                },
                {
                    "Sid": "DecryptChangeEvents",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": key_arn,
                },
                {
                    "Sid": "FindChangedInstances",
                    "Effect": "Allow",
                    "Action": sorted(EVENT_LOOKUP_ACTIONS),
                    "Resource": "*",
                },
            ],
        }
    )


def events_forward_policy(*, event_bus_arn: str) -> str:
    """The event forwarders' role: put events on the home region's default bus, nothing else."""
    return json.dumps(
        {
            "Version": POLICY_VERSION,
            "Statement": [
                {
                    "Sid": "ForwardToHomeBus",
                    "Effect": "Allow",
                    "Action": "events:PutEvents",
                    "Resource": event_bus_arn,
                }
            ],
        }
    )
