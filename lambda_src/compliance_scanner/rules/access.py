"""Rules about how people and software get into, and are managed on, the instance."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .. import sources
from ..model import InstanceRecord, RuleResult, failed, not_applicable, passed, skipped
from ..registry import Severity
from .base import REGEXES, Param, Params, Rule

SECRET_PATTERNS = (
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",
    r"(?i)aws_secret_access_key\s*[=:]",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    r"(?i)\b(?:password|passwd|secret|api_?key|token)\s*[=:]\s*\S+",
)


def _profile_attached(instance: InstanceRecord, params: Params) -> RuleResult:
    if instance.iam_instance_profile:
        return passed(f"instance profile {instance.iam_instance_profile} is attached")
    return failed("no IAM instance profile is attached")


def _detailed_monitoring(instance: InstanceRecord, params: Params) -> RuleResult:
    if instance.monitoring == "enabled":
        return passed("detailed monitoring is enabled")
    return failed(f"detailed monitoring is {instance.monitoring or 'not reported'}")


def _ssm_managed(instance: InstanceRecord, params: Params) -> RuleResult:
    """DescribeInstanceInformation lists running nodes only: a stopped instance is not judged."""
    if instance.state != "running":
        return not_applicable(f"instance is {instance.state}: Systems Manager only reports running instances")
    status = instance.ssm_status
    if not instance.ssm_managed or status is None:
        return failed("instance is not registered with Systems Manager")
    if status.ping_status != "Online":
        last = f"{status.last_ping:%Y-%m-%d %H:%M}Z" if status.last_ping else "never"
        return failed(f"SSM agent is {status.ping_status} (last ping {last})")
    return passed("instance is registered with Systems Manager and its agent is online")


def _no_key_pair(instance: InstanceRecord, params: Params) -> RuleResult:
    if instance.key_name:
        return failed(f"instance was launched with key pair {instance.key_name}")
    return passed("instance has no SSH key pair")


def secret_patterns_in(text: str | None, patterns: Sequence[str]) -> list[str]:
    """The patterns that match `text`: the one detector instance and launch template rules share.
    Findings name the patterns, never the matched text: a report must not leak the secret."""
    return [pattern for pattern in patterns if re.search(pattern, text or "")]


def _user_data_secrets(instance: InstanceRecord, params: Params) -> RuleResult:
    if instance.user_data_error:
        return skipped(f"user data could not be decoded: {instance.user_data_error}")
    hits = secret_patterns_in(instance.user_data, params["patterns"])
    if hits:
        return failed(f"user data matches {len(hits)} secret pattern(s): {'; '.join(hits)}")
    return passed("no secret patterns found in user data")


RULES: tuple[Rule, ...] = (
    Rule(
        id="instance_profile_attached",
        title="Instance has an IAM instance profile",
        severity=Severity.LOW,
        rationale="Without a role, applications fall back to long-lived keys on disk.",
        remediation="Attach a least-privilege instance profile.",
        remediation_cli="aws ec2 associate-iam-instance-profile --region {region} --instance-id {resource_id} --iam-instance-profile Name=<profile>",
        remediation_pulumi='aws.ec2.Instance("app", ..., iam_instance_profile=aws.iam.InstanceProfile("app", role=role.name).name)',
        check=_profile_attached,
        mapping={
            "aws_config": "ec2-instance-profile-attached",
            "cis": "v3.0 1.18",
            "prowler": "ec2_instance_profile_attached",
        },
    ),
    Rule(
        id="detailed_monitoring_enabled",
        title="Detailed monitoring is enabled",
        severity=Severity.LOW,
        rationale="One-minute metrics shorten detection and autoscaling reaction times.",
        remediation="Enable detailed monitoring with MonitorInstances.",
        remediation_cli="aws ec2 monitor-instances --region {region} --instance-ids {resource_id}",
        remediation_pulumi='aws.ec2.Instance("app", ..., monitoring=True)',
        check=_detailed_monitoring,
        mapping={
            "aws_config": "ec2-instance-detailed-monitoring-enabled",
            "prowler": "ec2_instance_detailed_monitoring_enabled",
        },
    ),
    Rule(
        id="ssm_managed",
        title="Instance is managed by Systems Manager",
        severity=Severity.MEDIUM,
        rationale="Patching, inventory and keyless shell access all depend on the SSM agent.",
        remediation="Install the SSM agent and grant AmazonSSMManagedInstanceCore.",
        remediation_cli="aws ec2 associate-iam-instance-profile --region {region} --instance-id {resource_id} --iam-instance-profile Name=<profile with AmazonSSMManagedInstanceCore>",
        remediation_pulumi='aws.iam.RolePolicyAttachment("ssm", role=role.name, policy_arn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")',
        check=_ssm_managed,
        mapping={
            "aws_config": "ec2-instance-managed-by-systems-manager",
            "security_hub": "SSM.1",
            "prowler": "ec2_instance_managed_by_ssm",
        },
        sources=(sources.SSM,),
    ),
    Rule(
        id="no_key_pair",
        title="Instance has no SSH key pair",
        severity=Severity.LOW,
        rationale="Shared key pairs are hard to rotate and audit; Session Manager needs none.",
        remediation="Launch without a key pair; use Session Manager or EC2 Instance Connect.",
        remediation_cli="aws ec2 describe-instances --region {region} --instance-ids {resource_id} --query 'Reservations[].Instances[].KeyName'  # relaunch without --key-name; connect with aws ssm start-session --target {resource_id}",
        remediation_pulumi='aws.ec2.Instance("app", ..., key_name=None)  # connect through Session Manager',
        check=_no_key_pair,
        mapping={
            "aws_config": "ec2-no-amazon-key-pair",
        },
    ),
    Rule(
        id="user_data_secrets",
        title="User data contains no secrets",
        severity=Severity.CRITICAL,
        rationale="User data is readable by anyone with DescribeInstanceAttribute and from IMDS.",
        remediation="Move secrets to Secrets Manager or Parameter Store and rotate them.",
        remediation_cli="aws ec2 stop-instances --region {region} --instance-ids {resource_id} && aws ec2 modify-instance-attribute --region {region} --instance-id {resource_id} --attribute userData --value ''  # then rotate the exposed secret",
        remediation_pulumi='aws.ec2.Instance("app", ..., user_data=script_reading_from_secrets_manager)  # no literal secrets',
        check=_user_data_secrets,
        mapping={
            "prowler": "ec2_instance_secrets_user_data",
        },
        parameters=(Param("patterns", REGEXES, SECRET_PATTERNS),),
        sources=(sources.USER_DATA,),
        opt_in=True,
    ),
)
