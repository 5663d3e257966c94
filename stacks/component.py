"""`ComplianceAnalyzer`: every AWS resource one environment's compliance scanner needs.

One component per environment, so the orchestrator can deploy, test and destroy an environment
as a unit and the engine tests can run the component alone. Every child is parented to the
component and named `<component name>-<role>-<environment>`, so two environments never collide
in one stack and the URNs read like the architecture.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws
from compliance_scanner import contract
from compliance_scanner.permissions import required_iam_actions

from stacks import dashboard, iam, packaging
from stacks.args import ComplianceAnalyzerArgs
from stacks.lambda_env import scanner_environment

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
)
"""Outputs the component registers and the program exports; the integration tests read these."""

FUNCTION_NAME_PREFIX = "ec2-compliance"
LAMBDA_RUNTIME = "python3.12"
LAMBDA_HANDLER = "index.handler"
ERRORS_ALARM_PERIOD_S = 300
COMPLIANCE_ALARM_PERIOD_S = 86400
"""A day: the lowest compliance rate of any scan that day, whatever the schedule."""


def resource_tags(args: ComplianceAnalyzerArgs) -> dict[str, str]:
    """`ManagedBy` and `Environment` on every taggable child, plus the caller's tags.

    The caller's tags win: the orchestrator tags ephemeral stacks with the environment they were
    cut from, which is more useful for cost reports than the stack's own suffix.
    """
    return {"ManagedBy": "pulumi", "Environment": args.environment, **args.tags}


def function_name(environment: str) -> str:
    """Chosen explicitly because the log group `/aws/lambda/<name>` must exist before it."""
    return f"{FUNCTION_NAME_PREFIX}-{environment}"


class ComplianceAnalyzer(pulumi.ComponentResource):
    """Reports bucket, alert topic, scanner Lambda on a schedule, dashboard and alarms."""

    lambda_function_arn: pulumi.Output[str]
    lambda_function_name: pulumi.Output[str]
    sns_topic_arn: pulumi.Output[str]
    compliance_bucket_name: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    schedule_rule_name: pulumi.Output[str]
    region: pulumi.Output[str]

    def __init__(
        self, name: str, args: ComplianceAnalyzerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._name = name
        self._env = args.environment
        self._tags = resource_tags(args)
        self.region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region

        bucket = self._reports_bucket(args)
        topic = self._alert_topic(args)
        function = self._scanner_function(args, bucket, topic)
        rule = self._schedule(args, function)
        self._monitoring(args, function, topic)

        self.lambda_function_arn = function.arn
        self.lambda_function_name = function.name
        self.sns_topic_arn = topic.arn
        self.compliance_bucket_name = bucket.bucket
        self.schedule_rule_name = rule.name
        self.register_outputs(self.outputs)

    @property
    def outputs(self) -> Mapping[str, pulumi.Output[str]]:
        """The component's outputs by name, in `OUTPUT_NAMES` order."""
        return {key: getattr(self, key) for key in OUTPUT_NAMES}

    def _child(self, role: str) -> str:
        """`<component>-<role>-<environment>`: unique per stack, and the environment is visible
        in every URN and autonamed physical name."""
        return f"{self._name}-{role}-{self._env}"

    def _opts(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _reports_bucket(self, args: ComplianceAnalyzerArgs) -> aws.s3.Bucket:
        """Private, versioned, encrypted bucket whose reports expire after the retention."""
        bucket = aws.s3.Bucket(self._child("reports"), tags=self._tags, opts=self._opts())
        aws.s3.BucketOwnershipControls(
            self._child("reports-ownership"),
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=self._opts(),
        )
        aws.s3.BucketPublicAccessBlock(
            self._child("reports-public-access"),
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self._opts(),
        )
        aws.s3.BucketVersioning(
            self._child("reports-versioning"),
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
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
        retention = args.report_retention_days
        aws.s3.BucketLifecycleConfiguration(
            self._child("reports-lifecycle"),
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-reports",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(
                        prefix=contract.REPORT_PREFIX
                    ),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=retention
                    ),
                    noncurrent_version_expiration=(
                        aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=retention
                        )
                    ),
                )
            ],
            opts=self._opts(),
        )
        return bucket

    def _alert_topic(self, args: ComplianceAnalyzerArgs) -> aws.sns.Topic:
        """Encrypted alert topic with one e-mail subscription per address (named by address,
        so adding or removing one never replaces the others)."""
        topic = aws.sns.Topic(
            self._child("alerts"),
            kms_master_key_id="alias/aws/sns",
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
        self, args: ComplianceAnalyzerArgs, bucket: aws.s3.Bucket, topic: aws.sns.Topic
    ) -> aws.lambda_.Function:
        """The scanner Lambda, its role with a least-privilege inline policy, and its log group.

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
        describe_actions = required_iam_actions(args.rule_policy)
        role_policy = aws.iam.RolePolicy(
            self._child("scanner-policy"),
            role=role.id,
            policy=pulumi.Output.all(bucket.arn, topic.arn, log_group.arn).apply(
                lambda arns: iam.scanner_policy(
                    describe_actions=describe_actions,
                    bucket_arn=arns[0],
                    topic_arn=arns[1],
                    log_group_arn=arns[2],
                    metric_namespace=args.metric_namespace,
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
            )
        )
        self.log_group_name = log_group.name
        return aws.lambda_.Function(
            self._child("scanner"),
            name=name,
            runtime=LAMBDA_RUNTIME,
            handler=LAMBDA_HANDLER,
            code=packaging.build_archive(packaging.archive_members()),
            role=role.arn,
            memory_size=args.lambda_memory_mb,
            timeout=args.lambda_timeout_s,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=variables),
            tags=self._tags,
            opts=self._opts(log_group, role_policy),
        )

    def _schedule(
        self, args: ComplianceAnalyzerArgs, function: aws.lambda_.Function
    ) -> aws.cloudwatch.EventRule:
        """EventBridge rule invoking the scanner, with the permission scoped to that rule."""
        rule = aws.cloudwatch.EventRule(
            self._child("schedule"),
            description=f"Runs the EC2 compliance scan for {self._env}",
            schedule_expression=args.schedule,
            tags=self._tags,
            opts=self._opts(),
        )
        aws.lambda_.Permission(
            self._child("schedule-invoke"),
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=self._opts(),
        )
        aws.cloudwatch.EventTarget(
            self._child("schedule-target"), rule=rule.name, arn=function.arn, opts=self._opts()
        )
        return rule

    def _monitoring(
        self, args: ComplianceAnalyzerArgs, function: aws.lambda_.Function, topic: aws.sns.Topic
    ) -> None:
        """Dashboard plus two alarms to the alert topic: the scanner failing, and the fleet's
        compliance rate dropping below the policy's threshold."""
        threshold = args.rule_policy.alert_threshold
        dashboard_name = self.region.apply(lambda region: f"{function_name(self._env)}-{region}")
        board = aws.cloudwatch.Dashboard(
            self._child("dashboard"),
            dashboard_name=dashboard_name,
            dashboard_body=pulumi.Output.all(self.region, function.name, self.log_group_name).apply(
                lambda values: dashboard.dashboard_body(
                    region=values[0],
                    function_name=values[1],
                    log_group_name=values[2],
                    metric_namespace=args.metric_namespace,
                    alert_threshold=threshold,
                )
            ),
            opts=self._opts(),
        )
        self.dashboard_name = board.dashboard_name
        aws.cloudwatch.MetricAlarm(
            self._child("errors-alarm"),
            alarm_description=f"The EC2 compliance scanner of {self._env} failed",
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions={"FunctionName": function.name},
            statistic="Sum",
            period=ERRORS_ALARM_PERIOD_S,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[topic.arn],
            tags=self._tags,
            opts=self._opts(),
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
