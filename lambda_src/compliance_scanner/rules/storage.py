"""Block storage rules."""

from __future__ import annotations

from .. import sources
from ..model import InstanceRecord, RuleResult, failed, passed
from ..registry import Severity
from .base import Params, Rule


def _volumes_encrypted(instance: InstanceRecord, params: Params) -> RuleResult:
    plain = [volume.volume_id for volume in instance.volumes if not volume.encrypted]
    if plain:
        return failed(f"unencrypted EBS volumes: {', '.join(plain)}")
    if not instance.volumes:
        return passed("no EBS volumes attached")
    return passed(f"all {len(instance.volumes)} attached EBS volumes are encrypted")


def _ebs_optimized(instance: InstanceRecord, params: Params) -> RuleResult:
    if instance.ebs_optimized:
        return passed("EBS optimization is enabled")
    return failed(f"EBS optimization is disabled on {instance.instance_type}")


RULES: tuple[Rule, ...] = (
    Rule(
        id="ebs_volumes_encrypted",
        title="Attached EBS volumes are encrypted",
        severity=Severity.HIGH,
        rationale="Unencrypted volumes and their snapshots expose data at rest.",
        remediation="Enable EBS encryption by default; migrate data to encrypted volumes.",
        remediation_cli="aws ec2 enable-ebs-encryption-by-default --region {region}  # then snapshot, copy with --encrypted and swap the volumes of {resource_id}",
        remediation_pulumi='aws.ebs.EncryptionByDefault("default", enabled=True)\naws.ec2.Instance("app", ..., root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(encrypted=True))',
        check=_volumes_encrypted,
        mapping={
            "aws_config": "encrypted-volumes",
            "security_hub": "EC2.3",
            "prowler": "ec2_ebs_volume_encryption",
        },
        sources=(sources.VOLUMES,),
    ),
    Rule(
        id="ebs_optimized",
        title="Instance is EBS-optimized",
        severity=Severity.LOW,
        rationale="Dedicated EBS bandwidth keeps storage I/O from competing with network traffic.",
        remediation="Enable EbsOptimized or move to a current-generation type.",
        remediation_cli="aws ec2 stop-instances --region {region} --instance-ids {resource_id} && aws ec2 modify-instance-attribute --region {region} --instance-id {resource_id} --ebs-optimized",
        remediation_pulumi='aws.ec2.Instance("app", ..., ebs_optimized=True)',
        check=_ebs_optimized,
        mapping={
            "aws_config": "ebs-optimized-instance",
        },
    ),
)
