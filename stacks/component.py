"""`ComplianceAnalyzer`: every AWS resource one environment's compliance scanner needs.

One component per environment, so the orchestrator can deploy, test and destroy an environment
as a unit and the engine tests can run the component alone. Every child is parented to the
component and named `<component name>-<role>-<environment>`, so two environments never collide
in one stack and the URNs read like the architecture.

Nothing is protected or retained on delete: `destroy` removes every child, which ephemeral test
stacks rely on (the reports bucket additionally needs `force_destroy` once it holds reports, and
the alert key is scheduled for deletion after `KEY_DELETION_WINDOW_DAYS`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

import ec2c.stacks.dashboard as dashboard
import ec2c.stacks.iam as iam
import ec2c.stacks.packaging as packaging
from ec2c.scanner import contract
from ec2c.scanner.assessment.permissions import required_iam_actions
from ec2c.scanner.changes.events import event_names, event_patterns
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.run import workflow
from ec2c.stacks.args import ComplianceAnalyzerArgs, EventsArgs
from ec2c.stacks.lambda_env import MAX_TOPIC_NAME_CHARS, scanner_environment

TYPE_TOKEN = "ec2compliance:index:ComplianceAnalyzer"

OUTPUT_NAMES = (
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
)
"""Outputs the component registers and the program exports; the integration tests and
`ec2c status` read these (additions only: consumers of earlier outputs keep working)."""

EVENTS_OUTPUT_NAMES = ("events_queue_url", "events_queue_arn", "events_dlq_arn")
"""Outputs added, after `OUTPUT_NAMES`, only by a component with the change-event path."""

FUNCTION_NAME_PREFIX = "ec2-compliance"
LAMBDA_RUNTIME = "python3.12"
LAMBDA_HANDLER = "index.handler"
ERRORS_ALARM_PERIOD_S = 300
COMPLIANCE_ALARM_PERIOD_S = 86400
"""A day: the lowest compliance rate of any scan that day, whatever the schedule."""
DLQ_RETENTION_S = 14 * 86400
"""SQS's longest retention: a failed scan waits two weeks for someone to look."""
DLQ_ALARM_PERIOD_S = 300
SCHEDULE_MAX_EVENT_AGE_S = 3600
SCHEDULE_RETRY_ATTEMPTS = 3
STATE_MACHINE_TYPE = "STANDARD"
"""Not EXPRESS: a scan of a large estate outlasts EXPRESS's 5 minutes, and STANDARD keeps each
execution's history for 90 days, where an operator reads why a region failed."""
EXECUTIONS_ALARM_PERIOD_S = 300
KEY_DELETION_WINDOW_DAYS = 7
"""KMS's shortest window: a destroyed stack's key stops costing money soonest."""
EVENTS_RETENTION_S = 4 * 86400
"""SQS's default: a change nobody evaluated in four days is overtaken by the daily full scan."""
EVENTS_VISIBILITY_FACTOR = 6
"""AWS's guidance for an SQS event source: a visibility timeout of at least six times the
function's timeout (plus the batching window), so a message Lambda is still retrying after a
throttle does not reappear and run twice."""
EVENTS_MAX_RECEIVES = 5
"""Deliveries before a message moves to the events dead-letter queue: AWS recommends at least 5
for an SQS event source, so throttled invocations do not send good messages there."""
EVENTS_MAX_CONCURRENCY = 2
"""Lambda's lowest `MaximumConcurrency` for an SQS event source: event evaluations are small, and
the rest of the function's reserved concurrency stays free for the scheduled scan's workers."""

AUTONAME_SUFFIX_CHARS = 8
"""Pulumi autonames a physical name as `<logical name>-<7 random hex chars>`."""

AUTONAMED_LIMITS = {
    "reports": ("S3 bucket", 63),
    "scanner-role": ("IAM role", 64),
    "scanner-policy": ("IAM role policy", 128),
    "scan-role": ("IAM role", 64),
    "scan-policy": ("IAM role policy", 128),
    "scan": ("Step Functions state machine", 80),
    "schedule": ("EventBridge rule", 64),
    "schedule-role": ("IAM role", 64),
    "schedule-policy": ("IAM role policy", 128),
    "alerts": ("SNS topic", MAX_TOPIC_NAME_CHARS),  # SNS allows 256; see lambda_env
    "scanner-dlq": ("SQS queue", 80),
    "errors-alarm": ("CloudWatch alarm", 255),
    "dlq-alarm": ("CloudWatch alarm", 255),
    "compliance-alarm": ("CloudWatch alarm", 255),
    "executions-failed-alarm": ("CloudWatch alarm", 255),
    "executions-timed-out-alarm": ("CloudWatch alarm", 255),
}
"""Children whose physical name Pulumi derives from the logical one, with its length limit."""

EVENTS_AUTONAMED_LIMITS = {
    "events": ("SQS queue", 80),
    "events-dlq": ("SQS queue", 80),
    "events-consume-policy": ("IAM role policy", 128),
    "events-forward-role": ("IAM role", 64),
    "events-forward-policy": ("IAM role policy", 128),
    "events-dlq-alarm": ("CloudWatch alarm", 255),
}
"""The same for the change-event path's children, checked only when it exists; its rules are
named by index and (forwarders) region, see `events_rule_roles`."""


def resource_tags(args: ComplianceAnalyzerArgs) -> dict[str, str]:
    """`ManagedBy` and `Environment` on every taggable child, plus the caller's tags.

    The caller's tags win: the orchestrator tags ephemeral stacks with the environment they were
    cut from, which is more useful for cost reports than the stack's own suffix.
    """
    return {"ManagedBy": "pulumi", "Environment": args.environment, **args.tags}


def function_name(environment: str) -> str:
    """Chosen explicitly because the log group `/aws/lambda/<name>` must exist before it."""
    return f"{FUNCTION_NAME_PREFIX}-{environment}"


def key_alias(environment: str) -> str:
    """The alert key's alias, so operators find the key by environment in the KMS console."""
    return f"alias/{FUNCTION_NAME_PREFIX}-{environment}"


def home_region() -> str:
    """The region of the stack's default provider, known while the program runs (not only once
    `get_region` answers): which scan regions need a forwarder is decided before any resource.

    The orchestrator always sets `aws:region` in the stack's config; without it the provider
    falls back to `AWS_REGION`, then `AWS_DEFAULT_REGION`, and so does this.
    """
    region = pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ValueError(
            "ComplianceAnalyzer events: expected the stack's region in the `aws:region` config "
            "(or AWS_REGION), got none"
        )
    return region


def forwarded_regions(regions: Sequence[str], home: str) -> list[str]:
    """The scan regions whose changes must be forwarded to the home region's bus."""
    return [region for region in regions if region != home]


def events_rule_roles(forwarded: Sequence[str], pattern_count: int) -> dict[str, tuple[str, int]]:
    """The change rules' roles with their limit: `events-rule-<i>` in the home region and
    `fwd-<region>-<i>` in every forwarded one (short, so the longest region names fit)."""
    roles = {f"events-rule-{index}": ("EventBridge rule", 64) for index in range(pattern_count)}
    for region in forwarded:
        roles.update({f"fwd-{region}-{index}": ("EventBridge rule", 64) for index in range(pattern_count)})
    return roles


def check_child_names(name: str, environment: str, extra: Mapping[str, tuple[str, int]] | None = None) -> None:
    """Refuse a component name whose autonamed children would exceed an AWS name limit.

    The provider only reports it during `up`, after other children exist; with the default
    component name every environment suffix (up to 24 characters) fits. `extra` names the
    optional children that will exist too (the change-event path's).
    """
    for role, (kind, limit) in {**AUTONAMED_LIMITS, **(extra or {})}.items():
        logical = f"{name}-{role}-{environment}"
        if len(logical) + AUTONAME_SUFFIX_CHARS > limit:
            raise ValueError(
                f"ComplianceAnalyzer name {name!r}: the {kind} name {logical!r} plus Pulumi's "
                f"{AUTONAME_SUFFIX_CHARS}-character suffix exceeds the {limit}-character limit"
            )


def _expiry(rule_id: str, prefix: str, days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """A lifecycle rule removing the objects under `prefix`, and their older versions, after
    `days` (where two rules overlap, S3 applies the earlier expiry)."""
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=rule_id,
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=days
        ),
    )


class ComplianceAnalyzer(pulumi.ComponentResource):
    """Reports bucket, alert topic, scanner Lambda, the state machine a schedule starts (a Map of
    region workers on that Lambda), dashboard and alarms; with `events`, the change-event path
    feeding that Lambda (`_events`)."""

    lambda_function_arn: pulumi.Output[str]
    lambda_function_name: pulumi.Output[str]
    sns_topic_arn: pulumi.Output[str]
    compliance_bucket_name: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    schedule_rule_name: pulumi.Output[str]
    region: pulumi.Output[str]
    scanner_code_sha256: pulumi.Output[str]
    state_machine_arn: pulumi.Output[str]

    events_queue_url: pulumi.Output[str]
    events_queue_arn: pulumi.Output[str]
    events_dlq_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ComplianceAnalyzerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        patterns: list[dict[str, Any]] = []
        forwarded: list[str] = []
        extra: dict[str, tuple[str, int]] = {}
        if args.events is not None:
            patterns = event_patterns(event_names(CATALOGUE[rule] for rule in args.rule_policy.enabled_rule_ids()))
            forwarded = forwarded_regions(args.regions, home_region())
            extra = {**EVENTS_AUTONAMED_LIMITS, **events_rule_roles(forwarded, len(patterns))}
        check_child_names(name, args.environment, extra)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._name = name
        self._env = args.environment
        self._tags = resource_tags(args)
        self.region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region

        self._identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        bucket = self._reports_bucket(args)
        key = self._alert_key()
        topic = self._alert_topic(args, key)
        dead_letters = aws.sqs.Queue(
            self._child("scanner-dlq"),
            kms_master_key_id=key.arn,
            message_retention_seconds=DLQ_RETENTION_S,
            tags=self._tags,
            opts=self._opts(),
        )
        function = self._scanner_function(args, bucket, topic, key, dead_letters)
        state_machine = self._state_machine(args, function)
        rule = self._schedule(args, state_machine, dead_letters)
        self._monitoring(args, function, state_machine, topic, dead_letters)
        self._events_enabled = args.events is not None
        if args.events is not None:
            self._events(args, args.events, patterns, forwarded, function, key, topic)

        self.lambda_function_arn = function.arn
        self.lambda_function_name = function.name
        self.sns_topic_arn = topic.arn
        self.compliance_bucket_name = bucket.bucket
        self.schedule_rule_name = rule.name
        self.state_machine_arn = state_machine.arn
        self.register_outputs(self.outputs)

    @property
    def outputs(self) -> Mapping[str, pulumi.Output[str]]:
        """The component's outputs by name, in `OUTPUT_NAMES` order, then `EVENTS_OUTPUT_NAMES`
        when the change-event path exists."""
        names = OUTPUT_NAMES + (EVENTS_OUTPUT_NAMES if self._events_enabled else ())
        return {key: getattr(self, key) for key in names}

    def _child(self, role: str) -> str:
        """`<component>-<role>-<environment>`: unique per stack, and the environment is visible
        in every URN and autonamed physical name."""
        return f"{self._name}-{role}-{self._env}"

    def _opts(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _reports_bucket(self, args: ComplianceAnalyzerArgs) -> aws.s3.Bucket:
        """Private, versioned, encrypted bucket whose reports expire after the retention.

        Versioning keeps every report version, so `destroy` only succeeds on a bucket that held
        reports when `force_destroy` lets the provider delete them (ephemeral test stacks).
        The scan's working objects under `contract.WORK_PREFIX` (parts, continuation state,
        per-region results) are read by nothing once their run ends: they expire after
        `contract.WORK_RETENTION_DAYS`, whatever the report retention (S3 applies the earlier of
        two overlapping expirations, so a retention shorter than that still wins).
        """
        bucket = aws.s3.Bucket(
            self._child("reports"),
            force_destroy=args.force_destroy,
            tags=self._tags,
            opts=self._opts(),
        )
        aws.s3.BucketOwnershipControls(
            self._child("reports-ownership"),
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=self._opts(),
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            self._child("reports-public-access"),
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self._opts(),
        )
        aws.s3.BucketPolicy(
            self._child("reports-tls-only"),
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: iam.reports_bucket_policy(bucket_arn=arn)),
            opts=self._opts(public_access),
        )
        aws.s3.BucketVersioning(
            self._child("reports-versioning"),
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=self._opts(),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            self._child("reports-encryption"),
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256"
                        )
                    ),
                )
            ],
            opts=self._opts(),
        )
        aws.s3.BucketLifecycleConfiguration(
            self._child("reports-lifecycle"),
            bucket=bucket.id,
            rules=[
                _expiry("expire-reports", contract.REPORT_PREFIX, args.report_retention_days),
                _expiry("expire-work", contract.WORK_PREFIX, contract.WORK_RETENTION_DAYS),
            ],
            opts=self._opts(),
        )
        return bucket

    def _alert_key(self) -> aws.kms.Key:
        """Customer-managed key for the alert topic, with a rotation and an alias.

        Not the AWS-managed `alias/aws/sns`: CloudWatch alarms cannot publish to a topic
        encrypted with it, because its key policy cannot grant `cloudwatch.amazonaws.com` the
        key (see `iam.alert_key_policy`). The policy names the deploying account, read from the
        caller's identity (its ARN also gives the partition).
        """
        identity = self._identity
        key = aws.kms.Key(
            self._child("alerts-key"),
            description=f"Encrypts the EC2 compliance alerts of {self._env}",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=pulumi.Output.all(identity.account_id, identity.arn).apply(
                lambda values: iam.alert_key_policy(account_id=values[0], partition=values[1].split(":")[1])
            ),
            tags=self._tags,
            opts=self._opts(),
        )
        aws.kms.Alias(
            self._child("alerts-key-alias"),
            name=key_alias(self._env),
            target_key_id=key.key_id,
            opts=self._opts(),
        )
        return key

    def _alert_topic(self, args: ComplianceAnalyzerArgs, key: aws.kms.Key) -> aws.sns.Topic:
        """Alert topic encrypted with the customer-managed key, and one e-mail subscription per
        address (named by address, so adding or removing one never replaces the others)."""
        topic = aws.sns.Topic(
            self._child("alerts"),
            kms_master_key_id=key.arn,
            tags=self._tags,
            opts=self._opts(),
        )
        for email in args.alert_emails:
            aws.sns.TopicSubscription(
                self._child(f"alerts-{email.lower()}"),
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=self._opts(),
            )
        return topic

    def _scanner_function(
        self,
        args: ComplianceAnalyzerArgs,
        bucket: aws.s3.Bucket,
        topic: aws.sns.Topic,
        key: aws.kms.Key,
        dead_letters: aws.sqs.Queue,
    ) -> aws.lambda_.Function:
        """The scanner Lambda, its role with a least-privilege inline policy, and its log group;
        also the alert topic's policy, which names that role as a publisher.

        The log group is created first so Lambda never auto-creates one without retention, and
        the policy is attached before the function so the first invocation is not denied.
        """
        name = function_name(self._env)
        log_group = aws.cloudwatch.LogGroup(
            self._child("scanner-logs"),
            name=f"/aws/lambda/{name}",
            retention_in_days=args.log_retention_days,
            tags=self._tags,
            opts=self._opts(),
        )
        role = aws.iam.Role(
            self._child("scanner-role"),
            assume_role_policy=iam.assume_role_policy(),
            tags=self._tags,
            opts=self._opts(),
        )
        self._scanner_role = role
        aws.sns.TopicPolicy(
            self._child("alerts-policy"),
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, self._identity.account_id, role.arn).apply(
                lambda values: iam.alert_topic_policy(
                    topic_arn=values[0], account_id=values[1], scanner_role_arn=values[2]
                )
            ),
            opts=self._opts(),
        )
        describe_actions = required_iam_actions(args.rule_policy)
        role_policy = aws.iam.RolePolicy(
            self._child("scanner-policy"),
            role=role.id,
            policy=pulumi.Output.all(
                bucket.arn,
                topic.arn,
                log_group.arn,
                key.arn,
                dead_letters.arn,
                self._identity.arn,
                self._identity.account_id,
                self.region,
            ).apply(
                lambda values: iam.scanner_policy(
                    describe_actions=describe_actions,
                    partition=values[5].split(":")[1],
                    bucket_arn=values[0],
                    topic_arn=values[1],
                    log_group_arn=values[2],
                    metric_namespace=args.metric_namespace,
                    topic_key_arn=values[3],
                    dead_letter_queue_arn=values[4],
                    tracing=args.tracing,
                    security_hub_product_arn=iam.security_hub_product_arn(
                        partition=values[5].split(":")[1], region=values[7], account_id=values[6]
                    )
                    if args.security_hub
                    else None,
                )
            ),
            opts=self._opts(),
        )
        variables = pulumi.Output.all(bucket.bucket, topic.arn, self.region).apply(
            lambda values: scanner_environment(
                bucket_name=values[0],
                topic_arn=values[1],
                metric_namespace=args.metric_namespace,
                policy_json=args.policy_json,
                regions=args.regions or [values[2]],
                security_hub=args.security_hub,
                events_alert_severity=args.events.alert_severity if args.events else None,
            )
        )
        self.log_group_name = log_group.name
        members = packaging.archive_members()
        self.scanner_code_sha256 = pulumi.Output.from_input(packaging.code_sha256(members))
        function = aws.lambda_.Function(
            self._child("scanner"),
            name=name,
            runtime=LAMBDA_RUNTIME,
            handler=LAMBDA_HANDLER,
            code=packaging.build_archive(members),
            role=role.arn,
            memory_size=args.lambda_memory_mb,
            timeout=args.lambda_timeout_s,
            ephemeral_storage=aws.lambda_.FunctionEphemeralStorageArgs(size=args.lambda_ephemeral_storage_mb),
            reserved_concurrent_executions=args.reserved_concurrency,
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active" if args.tracing else "PassThrough"),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=variables),
            tags=self._tags,
            opts=self._opts(log_group, role_policy),
        )
        # Kept although the schedule now starts the state machine, which invokes synchronously
        # (retries and failures are the definition's Retry/Catch): an operator's asynchronous
        # invocation (`--invocation-type Event`, the whole scan in one run) still gets
        # `async_retries` and lands in the dead-letter queue when it fails, instead of vanishing.
        aws.lambda_.FunctionEventInvokeConfig(
            self._child("scanner-async"),
            function_name=function.name,
            maximum_retry_attempts=args.async_retries,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=dead_letters.arn
                )
            ),
            opts=self._opts(role_policy),
        )
        return function

    def _state_machine(self, args: ComplianceAnalyzerArgs, function: aws.lambda_.Function) -> aws.sfn.StateMachine:
        """The scan as a STANDARD state machine (`ec2c.scanner.run.workflow`): plan, a Map of
        `region_concurrency` region workers, aggregate, all on the scanner function.

        Its role, assumable by Step Functions on behalf of this account only, may invoke that one
        function and nothing else. Execution logging to CloudWatch Logs is off on purpose: it
        would need the eight log delivery actions AWS documents for it, which take no resource
        (`Resource: "*"`), while a STANDARD execution's history (every state's input, output and
        error) is kept by Step Functions for 90 days anyway, and the function logs each step to
        its own log group. X-Ray tracing of the state machine is off for the same reason (its
        role would need `xray:*` actions on `*`); the function's own tracing follows `tracing`.
        """
        role, role_policy = self._service_role(
            "scan", "states.amazonaws.com", function.arn.apply(lambda arn: iam.state_machine_policy(function_arn=arn))
        )
        return aws.sfn.StateMachine(
            self._child("scan"),
            type=STATE_MACHINE_TYPE,
            role_arn=role.arn,
            definition=function.arn.apply(lambda arn: json.dumps(workflow.definition(arn, args.region_concurrency))),
            tags=self._tags,
            opts=self._opts(role_policy),
        )

    def _service_role(
        self, role: str, service: str, policy: pulumi.Output[str]
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        """`<role>-role`, assumable by `service` for this account only, with its inline
        `<role>-policy`."""
        created = aws.iam.Role(
            self._child(f"{role}-role"),
            assume_role_policy=self._identity.account_id.apply(
                lambda account_id: iam.service_role_trust_policy(service=service, account_id=account_id)
            ),
            tags=self._tags,
            opts=self._opts(),
        )
        inline = aws.iam.RolePolicy(self._child(f"{role}-policy"), role=created.id, policy=policy, opts=self._opts())
        return created, inline

    def _schedule(
        self,
        args: ComplianceAnalyzerArgs,
        state_machine: aws.sfn.StateMachine,
        dead_letters: aws.sqs.Queue,
    ) -> aws.cloudwatch.EventRule:
        """EventBridge rule starting a scan execution, through a role that may start only this
        state machine (nothing invokes the function directly on schedule any more).

        An execution EventBridge cannot start is retried for up to an hour, then dropped into the
        dead-letter queue (whose policy lets only this rule send). Once started, a failing region
        is the definition's to retry and catch, and a failed or timed-out execution raises an
        alarm (`_monitoring`). Nothing is lost silently."""
        rule = aws.cloudwatch.EventRule(
            self._child("schedule"),
            description=f"Runs the EC2 compliance scan for {self._env}",
            schedule_expression=args.schedule,
            tags=self._tags,
            opts=self._opts(),
        )
        role, role_policy = self._service_role(
            "schedule",
            "events.amazonaws.com",
            state_machine.arn.apply(lambda arn: iam.schedule_policy(state_machine_arn=arn)),
        )
        aws.sqs.QueuePolicy(
            self._child("scanner-dlq-policy"),
            queue_url=dead_letters.url,
            policy=pulumi.Output.all(dead_letters.arn, rule.arn).apply(
                lambda arns: iam.dead_letter_queue_policy(queue_arn=arns[0], rule_arn=arns[1])
            ),
            opts=self._opts(),
        )
        aws.cloudwatch.EventTarget(
            self._child("schedule-target"),
            rule=rule.name,
            arn=state_machine.arn,
            role_arn=role.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=SCHEDULE_MAX_EVENT_AGE_S,
                maximum_retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dead_letters.arn),
            opts=self._opts(role_policy),
        )
        return rule

    def _monitoring(
        self,
        args: ComplianceAnalyzerArgs,
        function: aws.lambda_.Function,
        state_machine: aws.sfn.StateMachine,
        topic: aws.sns.Topic,
        dead_letters: aws.sqs.Queue,
    ) -> None:
        """Dashboard plus five alarms to the alert topic: the scanner failing, a scan execution
        failing or timing out, a scan landing in the dead-letter queue, and the fleet's
        compliance rate dropping below the policy's threshold. The alarms can publish to the
        encrypted topic because its key's policy grants CloudWatch the key (`_alert_key`)."""
        threshold = args.rule_policy.alert_threshold
        dashboard_name = self.region.apply(lambda region: f"{function_name(self._env)}-{region}")
        board = aws.cloudwatch.Dashboard(
            self._child("dashboard"),
            dashboard_name=dashboard_name,
            dashboard_body=pulumi.Output.all(
                self.region,
                function.name,
                self.log_group_name,
                dead_letters.name,
                state_machine.arn,
            ).apply(
                lambda values: dashboard.dashboard_body(
                    region=values[0],
                    function_name=values[1],
                    log_group_name=values[2],
                    metric_namespace=args.metric_namespace,
                    alert_threshold=threshold,
                    dead_letter_queue_name=values[3],
                    state_machine_arn=values[4],
                    change_events=args.events is not None,
                )
            ),
            opts=self._opts(),
        )
        self.dashboard_name = board.dashboard_name
        self._any_event_alarm(
            "errors-alarm",
            f"The EC2 compliance scanner of {self._env} failed",
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions={"FunctionName": function.name},
            statistic="Sum",
            period=ERRORS_ALARM_PERIOD_S,
            topic=topic,
        )
        for role, metric_name, what in (
            ("executions-failed-alarm", "ExecutionsFailed", "failed"),
            ("executions-timed-out-alarm", "ExecutionsTimedOut", "timed out"),
        ):
            self._any_event_alarm(
                role,
                f"An EC2 compliance scan execution of {self._env} {what}",
                namespace="AWS/States",
                metric_name=metric_name,
                dimensions={"StateMachineArn": state_machine.arn},
                statistic="Sum",
                period=EXECUTIONS_ALARM_PERIOD_S,
                topic=topic,
            )
        self._any_event_alarm(
            "dlq-alarm",
            f"A scheduled EC2 compliance scan of {self._env} failed for good "
            "(a message waits in the dead-letter queue)",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": dead_letters.name},
            statistic="Maximum",
            period=DLQ_ALARM_PERIOD_S,
            topic=topic,
        )
        aws.cloudwatch.MetricAlarm(
            self._child("compliance-alarm"),
            alarm_description=f"EC2 compliance of {self._env} fell below {threshold}%",
            namespace=args.metric_namespace,
            metric_name=contract.METRIC_COMPLIANCE_RATE,
            statistic="Minimum",
            period=COMPLIANCE_ALARM_PERIOD_S,
            evaluation_periods=1,
            threshold=threshold,
            comparison_operator="LessThanThreshold",
            treat_missing_data="ignore",
            alarm_actions=[topic.arn],
            tags=self._tags,
            opts=self._opts(),
        )

    def _any_event_alarm(
        self,
        role: str,
        description: str,
        *,
        namespace: str,
        metric_name: str,
        dimensions: Mapping[str, pulumi.Input[str]],
        statistic: str,
        period: int,
        topic: aws.sns.Topic,
    ) -> aws.cloudwatch.MetricAlarm:
        """An alarm to the alert topic as soon as one event is counted in a period; quiet while
        nothing is reported (a scanner that did not run is not an error)."""
        return aws.cloudwatch.MetricAlarm(
            self._child(role),
            alarm_description=description,
            namespace=namespace,
            metric_name=metric_name,
            dimensions=dimensions,
            statistic=statistic,
            period=period,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[topic.arn],
            tags=self._tags,
            opts=self._opts(),
        )

    def _events(
        self,
        args: ComplianceAnalyzerArgs,
        events: EventsArgs,
        patterns: Sequence[Mapping[str, Any]],
        forwarded: Sequence[str],
        function: aws.lambda_.Function,
        key: aws.kms.Key,
        topic: aws.sns.Topic,
    ) -> None:
        """The change-event path: EventBridge rules -> home bus -> SQS -> the scanner.

        One rule per pattern of `ec2c.scanner.changes.events` (the CloudTrail API calls that can change a
        verdict, and EC2 state changes), in the home region and in every other scan region: a
        rule has exactly one pattern, and one rule per pattern keeps each one exactly as the
        scanner derives it (an `$or` would merge the two into a form nobody else builds).

        Home: the rules send to the events queue, encrypted with the stack's key like the other
        queue (the key policy already lets EventBridge use it, for this account only; the key
        logs every use in CloudTrail, which SQS-managed SSE would not). Its policy admits
        `sqs:SendMessage` from those rules only and refuses plain HTTP; a message received
        `EVENTS_MAX_RECEIVES` times moves to the events dead-letter queue (same key, TLS only,
        14 days), whose messages raise an alarm. The queue feeds the function through an event
        source mapping reporting partial batch failures, so one bad message is retried alone.

        Elsewhere: each forwarded region's rules target the home region's default bus, through
        one role (IAM is global) that may only put events on that bus. A forwarded event keeps
        its `source`, `detail-type` and `detail` (only its id and ingestion time are new), so
        the home rules match it as they match home events: no second set of home rules. The
        forwarders are placed with the resources' own `region` (pulumi-aws 7): they use the
        stack's default provider, with the profile, role and allowed accounts of the stack's
        `aws:` config, rather than an explicit provider, which would not read that config.
        """
        dead_letters = aws.sqs.Queue(
            self._child("events-dlq"),
            kms_master_key_id=key.arn,
            message_retention_seconds=DLQ_RETENTION_S,
            tags=self._tags,
            opts=self._opts(),
        )
        aws.sqs.QueuePolicy(
            self._child("events-dlq-policy"),
            queue_url=dead_letters.url,
            policy=dead_letters.arn.apply(lambda arn: iam.tls_only_queue_policy(queue_arn=arn)),
            opts=self._opts(),
        )
        queue = aws.sqs.Queue(
            self._child("events"),
            kms_master_key_id=key.arn,
            message_retention_seconds=EVENTS_RETENTION_S,
            visibility_timeout_seconds=EVENTS_VISIBILITY_FACTOR * args.lambda_timeout_s + events.batch_window_s,
            redrive_policy=dead_letters.arn.apply(
                lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": EVENTS_MAX_RECEIVES})
            ),
            tags=self._tags,
            opts=self._opts(),
        )
        rules = [
            aws.cloudwatch.EventRule(
                self._child(f"events-rule-{index}"),
                description=f"Sends EC2 changes to the compliance scanner of {self._env}",
                event_pattern=json.dumps(pattern),
                tags=self._tags,
                opts=self._opts(),
            )
            for index, pattern in enumerate(patterns)
        ]
        queue_policy = aws.sqs.QueuePolicy(
            self._child("events-policy"),
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, *(rule.arn for rule in rules)).apply(
                lambda arns: iam.events_queue_policy(queue_arn=arns[0], rule_arns=arns[1:])
            ),
            opts=self._opts(),
        )
        for index, rule in enumerate(rules):
            aws.cloudwatch.EventTarget(
                self._child(f"events-target-{index}"),
                rule=rule.name,
                arn=queue.arn,
                opts=self._opts(queue_policy),
            )
        consume = aws.iam.RolePolicy(
            self._child("events-consume-policy"),
            role=self._scanner_role.id,
            policy=pulumi.Output.all(queue.arn, key.arn).apply(
                lambda arns: iam.events_consumer_policy(queue_arn=arns[0], key_arn=arns[1])
            ),
            opts=self._opts(),
        )
        # Lambda checks the role's SQS permissions when the mapping is created.
        aws.lambda_.EventSourceMapping(
            self._child("events-source"),
            event_source_arn=queue.arn,
            function_name=function.arn,
            batch_size=events.batch_size,
            maximum_batching_window_in_seconds=events.batch_window_s,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(maximum_concurrency=EVENTS_MAX_CONCURRENCY),
            tags=self._tags,
            opts=self._opts(consume),
        )
        if forwarded:
            self._forwarders(patterns, forwarded)
        self._any_event_alarm(
            "events-dlq-alarm",
            f"EC2 changes of {self._env} went unevaluated (a message waits in the events dead-letter queue)",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": dead_letters.name},
            statistic="Maximum",
            period=DLQ_ALARM_PERIOD_S,
            topic=topic,
        )
        self.events_queue_url = queue.url
        self.events_queue_arn = queue.arn
        self.events_dlq_arn = dead_letters.arn

    def _forwarders(self, patterns: Sequence[Mapping[str, Any]], forwarded: Sequence[str]) -> None:
        """In every forwarded region, the change rules sending to the home region's default bus
        through the `events-forward` role (see `_events`)."""
        identity = self._identity
        bus_arn = pulumi.Output.all(identity.arn, self.region, identity.account_id).apply(
            lambda values: iam.default_event_bus_arn(
                partition=values[0].split(":")[1], region=values[1], account_id=values[2]
            )
        )
        role, role_policy = self._service_role(
            "events-forward",
            "events.amazonaws.com",
            bus_arn.apply(lambda arn: iam.events_forward_policy(event_bus_arn=arn)),
        )
        for region in forwarded:
            for index, pattern in enumerate(patterns):
                rule = aws.cloudwatch.EventRule(
                    self._child(f"fwd-{region}-{index}"),
                    region=region,
                    description=f"Forwards EC2 changes to the compliance scanner of {self._env}",
                    event_pattern=json.dumps(pattern),
                    tags=self._tags,
                    opts=self._opts(),
                )
                aws.cloudwatch.EventTarget(
                    self._child(f"fwd-{region}-target-{index}"),
                    region=region,
                    rule=rule.name,
                    arn=bus_arn,
                    role_arn=role.arn,
                    opts=self._opts(role_policy),
                )
