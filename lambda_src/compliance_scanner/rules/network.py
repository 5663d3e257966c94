"""Network placement rules that read only DescribeInstances data."""

from __future__ import annotations

from ..model import InstanceRecord, RuleResult, failed, passed
from ..registry import Severity
from .base import Params, Rule


def _public_addresses(instance: InstanceRecord) -> list[str]:
    """Addresses reachable from the internet: the public IPv4 and every IPv6 (global) address."""
    addresses = [instance.public_ip] if instance.public_ip else []
    return addresses + list(instance.ipv6_addresses)


def _no_public_ip(instance: InstanceRecord, params: Params) -> RuleResult:
    addresses = _public_addresses(instance)
    if addresses:
        return failed(f"instance has public addresses: {', '.join(addresses)}")
    return passed("instance has no public IPv4 or IPv6 address")


def _public_with_profile(instance: InstanceRecord, params: Params) -> RuleResult:
    if _public_addresses(instance) and instance.iam_instance_profile:
        return failed(f"internet-facing instance carries instance profile {instance.iam_instance_profile}")
    return passed("instance is not both internet-facing and holding an instance profile")


def _single_eni(instance: InstanceRecord, params: Params) -> RuleResult:
    if instance.eni_count > 1:
        return failed(f"instance has {instance.eni_count} network interfaces")
    return passed("instance has at most one network interface")


RULES: tuple[Rule, ...] = (
    Rule(
        id="no_public_ip",
        title="Instance has no public IP address",
        severity=Severity.HIGH,
        rationale="A public address makes the host directly reachable; front it with a load balancer or NAT instead.",
        remediation="Launch into private subnets and disable auto-assigned public IPs.",
        remediation_cli="aws ec2 modify-subnet-attribute --region {region} --no-map-public-ip-on-launch --subnet-id <subnet of {resource_id}>  # then relaunch {resource_id} in a private subnet",
        remediation_pulumi='aws.ec2.Instance("app", ..., subnet_id=private_subnet.id, associate_public_ip_address=False)',
        check=_no_public_ip,
        mapping={
            "aws_config": "ec2-instance-no-public-ip",
            "security_hub": "EC2.9",
            "prowler": "ec2_instance_public_ip",
        },
    ),
    Rule(
        id="public_ip_with_instance_profile",
        title="Internet-facing instance has no instance profile",
        severity=Severity.HIGH,
        rationale="A compromised internet-facing host hands its role's credentials to the attacker.",
        remediation="Move the workload behind a load balancer or drop the instance profile.",
        remediation_cli="aws ec2 describe-iam-instance-profile-associations --region {region} --filters Name=instance-id,Values={resource_id}  # then: aws ec2 disassociate-iam-instance-profile --association-id <id>",
        remediation_pulumi='aws.ec2.Instance("app", ..., associate_public_ip_address=False)  # serve it through an aws.lb.LoadBalancer',
        check=_public_with_profile,
        mapping={"prowler": "ec2_instance_internet_facing_with_instance_profile"},
    ),
    Rule(
        id="single_eni",
        title="Instance uses a single network interface",
        severity=Severity.LOW,
        rationale="Extra interfaces can bridge subnets and bypass network segmentation.",
        remediation="Detach secondary ENIs unless the appliance needs them.",
        remediation_cli="aws ec2 describe-network-interfaces --region {region} --filters Name=attachment.instance-id,Values={resource_id}  # then detach the secondary ones: aws ec2 detach-network-interface --attachment-id <id>",
        remediation_pulumi="# remove the extra aws.ec2.NetworkInterfaceAttachment resources of the instance",
        check=_single_eni,
        mapping={
            "aws_config": "ec2-instance-multiple-eni-check",
            "security_hub": "EC2.17",
            "prowler": "ec2_instance_uses_single_eni",
        },
    ),
)
