"""Governance rules over what an instance is: its tags, type and machine image."""

from __future__ import annotations

from fnmatch import fnmatchcase

from .. import sources
from ..model import InstanceRecord, RuleResult, failed, passed
from ..registry import Severity
from .base import STRINGS, Param, Params, Rule

CURRENT_GENERATION = (
    "t3.*",
    "t3a.*",
    "t4g.*",
    "m5.*",
    "m5a.*",
    "m6i.*",
    "m6a.*",
    "m6g.*",
    "m7i.*",
    "m7g.*",
    "c5.*",
    "c6i.*",
    "c6a.*",
    "c6g.*",
    "c7i.*",
    "c7g.*",
    "r5.*",
    "r6i.*",
    "r6g.*",
    "r7i.*",
    "r7g.*",
)


def _required_tags(instance: InstanceRecord, params: Params) -> RuleResult:
    missing = [key for key in params["keys"] if not instance.tags.get(key, "").strip()]
    if missing:
        return failed(f"missing or empty tags: {', '.join(missing)}")
    return passed("all required tags are present")


def _allowed_type(instance: InstanceRecord, params: Params) -> RuleResult:
    if any(fnmatchcase(instance.instance_type, pattern) for pattern in params["allowed"]):
        return passed(f"instance type {instance.instance_type} is allowed")
    return failed(f"instance type {instance.instance_type} is not in the allowed list")


def _gone(instance: InstanceRecord) -> RuleResult:
    return failed(
        f"AMI {instance.image_id} is no longer visible (deregistered or unshared), so its origin cannot be verified"
    )


def _approved_ami(instance: InstanceRecord, params: Params) -> RuleResult:
    if instance.image_id in params["image_ids"]:
        return passed(f"AMI {instance.image_id} is approved by id")
    image = instance.image
    if image is None:
        return _gone(instance)
    owners = {image.owner_id, image.owner_alias}
    if instance.account_id and image.owner_id == instance.account_id:
        owners.add("self")
    if owners & set(params["owners"]):
        return passed(f"AMI {image.image_id} comes from approved owner {image.owner_id}")
    return failed(f"AMI {image.image_id} is owned by {image.owner_id}, not an approved owner")


def _ami_deprecated(instance: InstanceRecord, params: Params) -> RuleResult:
    """Deprecated, disabled and deregistered are three different states, each with its message."""
    image = instance.image
    if image is None:
        return _gone(instance)
    if image.state == "deregistered":
        return failed(f"AMI {image.image_id} is deregistered: the instance can no longer be rebuilt from it")
    if image.state == "disabled":
        return failed(f"AMI {image.image_id} is disabled: it can no longer launch instances")
    deprecated = image.deprecation_time
    if deprecated is not None and deprecated <= instance.observed_at:
        return failed(f"AMI {image.image_id} was deprecated on {deprecated:%Y-%m-%d}")
    return passed(f"AMI {image.image_id} is not deprecated")


def _no_paravirtual(instance: InstanceRecord, params: Params) -> RuleResult:
    if instance.virtualization_type == "paravirtual":
        return failed("instance uses paravirtual virtualization")
    return passed(f"virtualization type is {instance.virtualization_type or 'not reported'}")


_IMAGES = (sources.IMAGES,)

RULES: tuple[Rule, ...] = (
    Rule(
        id="required_tags",
        title="Instance carries the required tags",
        severity=Severity.LOW,
        rationale="Ownership and environment tags route incidents and costs to the right team.",
        remediation="Tag the instance (and enforce tags with an SCP or tag policy).",
        remediation_cli="aws ec2 create-tags --region {region} --resources {resource_id} --tags Key=Owner,Value=<team> Key=Environment,Value=<env>",
        remediation_pulumi='aws.ec2.Instance("app", ..., tags={"Owner": "team", "Environment": "prod"})',
        check=_required_tags,
        mapping={
            "aws_config": "required-tags",
        },
        parameters=(Param("keys", STRINGS, ("Owner", "Environment")),),
    ),
    Rule(
        id="approved_ami",
        title="Instance runs an approved AMI",
        severity=Severity.MEDIUM,
        rationale="Images from unknown publishers can carry malware or unpatched software.",
        remediation="Rebuild the instance from an AMI of an approved owner or id.",
        remediation_cli="aws ec2 describe-images --region {region} --owners amazon self --query 'Images[].ImageId'  # relaunch {resource_id} from one of them",
        remediation_pulumi='aws.ec2.Instance("app", ami=aws.ec2.get_ami(owners=["amazon"], most_recent=True, filters=[...]).id, ...)',
        check=_approved_ami,
        mapping={
            "aws_config": "approved-amis-by-id",
        },
        parameters=(
            Param("owners", STRINGS, ("amazon", "self")),
            Param("image_ids", STRINGS, ()),
        ),
        sources=_IMAGES,
    ),
    Rule(
        id="allowed_instance_type",
        title="Instance type is on the allowed list",
        severity=Severity.LOW,
        rationale="Old or oversized types cost more and may lack Nitro security features.",
        remediation="Change the instance type to an allowed one (glob patterns, e.g. t3.*).",
        remediation_cli='aws ec2 stop-instances --region {region} --instance-ids {resource_id} && aws ec2 modify-instance-attribute --region {region} --instance-id {resource_id} --instance-type \'{{"Value": "t3.medium"}}\'',
        remediation_pulumi='aws.ec2.Instance("app", instance_type="t3.medium", ...)',
        check=_allowed_type,
        mapping={
            "aws_config": "desired-instance-type",
        },
        parameters=(Param("allowed", STRINGS, CURRENT_GENERATION),),
    ),
    Rule(
        id="ami_deprecated",
        title="Instance AMI is not deprecated",
        severity=Severity.MEDIUM,
        rationale="Deprecated images no longer receive updates from their publisher.",
        remediation="Rebuild from a current AMI.",
        remediation_cli="aws ec2 describe-images --region {region} --owners amazon self --query 'Images[?DeprecationTime==null].ImageId'  # relaunch {resource_id} from a current AMI",
        remediation_pulumi='aws.ec2.Instance("app", ami=aws.ec2.get_ami(owners=["amazon"], most_recent=True, include_deprecated=False, filters=[...]).id, ...)',
        check=_ami_deprecated,
        mapping={
            "prowler": "ec2_instance_with_outdated_ami",
        },
        sources=_IMAGES,
    ),
    Rule(
        id="no_paravirtual",
        title="Instance does not use paravirtual virtualization",
        severity=Severity.MEDIUM,
        rationale="Paravirtual instances run on legacy hypervisor paths with weaker isolation.",
        remediation="Migrate to an HVM AMI and a current-generation instance type.",
        remediation_cli="aws ec2 describe-images --region {region} --owners amazon --filters Name=virtualization-type,Values=hvm  # relaunch {resource_id} from an HVM AMI",
        remediation_pulumi='aws.ec2.Instance("app", ami=aws.ec2.get_ami(owners=["amazon"], most_recent=True, filters=[aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"])]).id, ...)',
        check=_no_paravirtual,
        mapping={
            "aws_config": "ec2-paravirtual-instance-check",
            "security_hub": "EC2.24",
            "prowler": "ec2_instance_paravirtual_type",
        },
    ),
)
