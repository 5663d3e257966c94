"""Security group rules: the VPCs' default security groups, one result per group.

Security Hub's EC2.2 and AWS Config's `vpc-default-security-group-closed` evaluate each default
group on its own, so this rule does too: a finding names one group (and its ARN), and a
suppression can select it by `resource_id`.
"""

from __future__ import annotations

from .. import sources
from ..model import RuleResult, SecurityGroupRecord, failed, passed
from ..registry import SECURITY_GROUP, Severity
from .base import Params, Rule


def _default_group_closed(group: SecurityGroupRecord, params: Params) -> RuleResult:
    if group.ingress or group.egress:
        return failed(
            f"the default security group of {group.vpc_id} allows traffic: "
            f"{group.ingress} inbound, {group.egress} outbound rule(s)"
        )
    return passed(f"the default security group of {group.vpc_id} allows no traffic")


RULES: tuple[Rule, ...] = (
    Rule(
        id="default_security_group_closed",
        resource_type=SECURITY_GROUP,
        sources=(sources.DEFAULT_SECURITY_GROUPS,),
        title="VPC default security groups allow no traffic",
        severity=Severity.HIGH,
        rationale="Anything launched without a group lands in the default one; open rules there expose it.",
        remediation="Remove every inbound and outbound rule from the VPC's default security group.",
        remediation_cli=(
            "aws ec2 revoke-security-group-ingress --region {region} --group-id {resource_id} --ip-permissions "
            '"$(aws ec2 describe-security-groups --region {region} --group-ids {resource_id} '
            "--query 'SecurityGroups[0].IpPermissions' --output json)\"; "
            "aws ec2 revoke-security-group-egress --region {region} --group-id {resource_id} --ip-permissions "
            '"$(aws ec2 describe-security-groups --region {region} --group-ids {resource_id} '
            "--query 'SecurityGroups[0].IpPermissionsEgress' --output json)\""
        ),
        remediation_pulumi='aws.ec2.DefaultSecurityGroup("default", vpc_id=vpc.id)  # no ingress/egress: Pulumi removes them',
        check=_default_group_closed,
        mapping={
            "aws_config": "vpc-default-security-group-closed",
            "security_hub": "EC2.2",
            "cis": "v1.4 5.3; v3.0 5.4; v4.0.1 5.5",
            "prowler": "ec2_securitygroup_default_restrict_traffic",
        },
    ),
)
