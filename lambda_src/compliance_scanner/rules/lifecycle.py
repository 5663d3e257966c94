"""Rules about an instance's age and how long it has been stopped."""

from __future__ import annotations

from .. import sources
from ..model import InstanceRecord, RuleResult, failed, passed, skipped
from ..registry import Severity
from .base import INTEGER, Param, Params, Rule


def _instance_age(instance: InstanceRecord, params: Params) -> RuleResult:
    """Age from the primary interface's AttachTime (the first launch); LaunchTime, which every
    stop/start resets, only when no interface reports one. The message says which was used."""
    if instance.first_launch_time is not None:
        launched, source = instance.first_launch_time, "first launch, from the primary interface's attach time"
    elif instance.launch_time is not None:
        launched, source = instance.launch_time, "LaunchTime, reset by every stop/start"
    else:
        return skipped("launch time is not reported")
    days = (instance.observed_at - launched).days
    if days > params["max_age_days"]:
        return failed(f"instance was launched {days} days ago ({source}; max {params['max_age_days']})")
    return passed(f"instance was launched {days} days ago ({source})")


def _stopped_too_long(instance: InstanceRecord, params: Params) -> RuleResult:
    if instance.state != "stopped":
        return passed(f"instance is {instance.state}")
    if instance.stopped_since is None:
        return skipped("stopped instance without a stop time in StateTransitionReason")
    days = (instance.observed_at - instance.stopped_since).days
    if days > params["max_stopped_days"]:
        return failed(f"instance has been stopped for {days} days (max {params['max_stopped_days']})")
    return passed(f"instance has been stopped for {days} days")


def _termination_protection(instance: InstanceRecord, params: Params) -> RuleResult:
    if instance.termination_protection:
        return passed("termination protection is enabled")
    return failed("termination protection is disabled")


RULES: tuple[Rule, ...] = (
    Rule(
        id="instance_age",
        title="Instance is not older than the maximum age",
        severity=Severity.LOW,
        rationale="Long-lived hosts drift from their baseline and miss image-level patches.",
        remediation="Replace the instance from a fresh AMI (immutable infrastructure).",
        remediation_cli="aws ec2 describe-instances --region {region} --instance-ids {resource_id} --query 'Reservations[].Instances[].ImageId'  # replace the instance from a fresh AMI",
        remediation_pulumi='aws.ec2.Instance("app", ami=latest_ami.id, ..., opts=pulumi.ResourceOptions(replace_on_changes=["ami"]))',
        check=_instance_age,
        mapping={
            "prowler": "ec2_instance_older_than_specific_days",
        },
        parameters=(Param("max_age_days", INTEGER, 365, minimum=1),),
    ),
    Rule(
        id="stopped_too_long",
        title="Instance has not been stopped for too long",
        severity=Severity.LOW,
        rationale="Forgotten stopped instances keep paying for volumes and miss patches when restarted.",
        remediation="Terminate the instance or snapshot and remove it.",
        remediation_cli="aws ec2 terminate-instances --region {region} --instance-ids {resource_id}  # after aws ec2 create-image if it must be kept",
        remediation_pulumi="# remove the aws.ec2.Instance resource from the program, then `pulumi up`",
        check=_stopped_too_long,
        mapping={
            "aws_config": "ec2-stopped-instance",
            "security_hub": "EC2.4",
            "prowler": "ec2_instance_stopped_older_than_specific_days",
        },
        parameters=(Param("max_stopped_days", INTEGER, 30, minimum=1),),
    ),
    Rule(
        id="termination_protection",
        title="Termination protection is enabled",
        severity=Severity.LOW,
        rationale="Protects long-lived, stateful hosts against accidental termination.",
        remediation="Set DisableApiTermination=true with ModifyInstanceAttribute.",
        remediation_cli="aws ec2 modify-instance-attribute --region {region} --instance-id {resource_id} --disable-api-termination",
        remediation_pulumi='aws.ec2.Instance("app", ..., disable_api_termination=True)',
        check=_termination_protection,
        sources=(sources.TERMINATION_PROTECTION,),
        opt_in=True,
    ),
)
