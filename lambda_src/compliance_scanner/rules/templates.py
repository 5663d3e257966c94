"""Launch template rules: what the next instance launched from a template gets.

Both the default version (what a launch without a version uses) and the latest one (what
autoscaling groups set to `$Latest` use) are checked; a finding names the versions that fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import sources
from ..model import LaunchTemplateRecord, RuleResult, TemplateVersion, failed, passed, skipped
from ..registry import LAUNCH_TEMPLATE, Severity
from .access import SECRET_PATTERNS, secret_patterns_in
from .base import REGEXES, Param, Params, Rule

Problem = Callable[[TemplateVersion, Params], str | None]


def _versions_rule(problem: Problem, ok: str) -> Callable[[LaunchTemplateRecord, Params], RuleResult]:
    """A check failing when any checked version has `problem`; the message lists them all."""

    def check(template: LaunchTemplateRecord, params: Params) -> RuleResult:
        if not template.versions:
            return skipped(f"launch template {template.name}: its default and latest versions were not returned")
        problems = [(v, problem(v, params)) for v in template.versions]
        found = [f"{v.label}: {text}" for v, text in problems if text]
        if found:
            return failed(f"launch template {template.name}: {'; '.join(found)}")
        checked = ", ".join(v.label for v in template.versions)
        return passed(f"launch template {template.name}: {ok} ({checked})")

    return check


def _imdsv1(version: TemplateVersion, params: Params) -> str | None:
    options = version.metadata_options
    if options is not None and (options.http_tokens == "required" or options.http_endpoint == "disabled"):
        return None
    return f"IMDSv1 is allowed (HttpTokens={options.http_tokens if options and options.http_tokens else 'not set'})"


def _public_ip(version: TemplateVersion, params: Params) -> str | None:
    return "a network interface gets a public IPv4 address" if version.public_ip else None


def _secrets(version: TemplateVersion, params: Params) -> str | None:
    if version.user_data_error:
        return f"user data could not be decoded ({version.user_data_error})"
    hits = secret_patterns_in(version.user_data, params["patterns"])
    return f"user data matches {len(hits)} secret pattern(s): {'; '.join(hits)}" if hits else None


def _unencrypted(version: TemplateVersion, params: Params) -> str | None:
    devices = version.unencrypted_devices
    return f"EBS mappings without Encrypted=true: {', '.join(devices)}" if devices else None


def _template_rule(rule_id: str, **fields: Any) -> Rule:
    return Rule(id=rule_id, resource_type=LAUNCH_TEMPLATE, sources=(sources.LAUNCH_TEMPLATES,), **fields)


RULES: tuple[Rule, ...] = (
    _template_rule(
        "launch_template_imdsv2",
        title="Launch templates require IMDSv2",
        severity=Severity.HIGH,
        rationale="Every instance launched from the template would answer unauthenticated metadata requests.",
        remediation="Create a template version with MetadataOptions HttpTokens=required and make it the default.",
        remediation_cli='aws ec2 create-launch-template-version --region {region} --launch-template-id {resource_id} --source-version \'$Latest\' --launch-template-data \'{{"MetadataOptions":{{"HttpTokens":"required"}}}}\'',
        remediation_pulumi='aws.ec2.LaunchTemplate("app", metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(http_tokens="required"), ...)',
        check=_versions_rule(_imdsv1, "IMDSv2 is required"),
        mapping={
            "aws_config": "ec2-launch-template-imdsv2-check",
            "security_hub": "EC2.170",
            "prowler": "ec2_launch_template_imdsv2_required",
        },
    ),
    _template_rule(
        "launch_template_no_public_ip",
        title="Launch templates do not assign public IP addresses",
        severity=Severity.HIGH,
        rationale="Instances launched from the template would be directly reachable from the internet.",
        remediation="Create a template version whose network interfaces set AssociatePublicIpAddress=false.",
        remediation_cli='aws ec2 create-launch-template-version --region {region} --launch-template-id {resource_id} --source-version \'$Latest\' --launch-template-data \'{{"NetworkInterfaces":[{{"DeviceIndex":0,"AssociatePublicIpAddress":false}}]}}\'',
        remediation_pulumi='aws.ec2.LaunchTemplate("app", network_interfaces=[aws.ec2.LaunchTemplateNetworkInterfaceArgs(associate_public_ip_address="false")], ...)',
        check=_versions_rule(_public_ip, "no public IPv4 address is assigned"),
        mapping={
            "aws_config": "ec2-launch-template-public-ip-disabled",
            "security_hub": "EC2.25",
            "prowler": "ec2_launch_template_no_public_ip",
        },
    ),
    _template_rule(
        "launch_template_user_data_secrets",
        title="Launch template user data contains no secrets",
        severity=Severity.CRITICAL,
        rationale="Template user data is readable by anyone who may describe templates, and by every instance.",
        remediation="Read secrets from Secrets Manager or Parameter Store at boot; rotate the exposed ones.",
        remediation_cli="aws ec2 describe-launch-template-versions --region {region} --launch-template-id {resource_id} --versions '$Default' '$Latest' --query 'LaunchTemplateVersions[].VersionNumber'  # then create a clean version and delete these",
        remediation_pulumi='aws.ec2.LaunchTemplate("app", user_data=base64_script_reading_from_secrets_manager, ...)',
        check=_versions_rule(_secrets, "no secret patterns in user data"),
        mapping={"prowler": "ec2_launch_template_no_secrets"},
        parameters=(Param("patterns", REGEXES, SECRET_PATTERNS),),
    ),
    _template_rule(
        "launch_template_ebs_encrypted",
        title="Launch template EBS volumes are encrypted",
        severity=Severity.MEDIUM,
        rationale="Volumes from mappings without Encrypted=true are encrypted only if the account default is on.",
        remediation="Set Encrypted=true on every EBS block device mapping of the template.",
        remediation_cli='aws ec2 create-launch-template-version --region {region} --launch-template-id {resource_id} --source-version \'$Latest\' --launch-template-data \'{{"BlockDeviceMappings":[{{"DeviceName":"/dev/xvda","Ebs":{{"Encrypted":true}}}}]}}\'',
        remediation_pulumi='aws.ec2.LaunchTemplate("app", block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(device_name="/dev/xvda", ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(encrypted="true"))], ...)',
        check=_versions_rule(_unencrypted, "every EBS mapping is encrypted"),
        mapping={"security_hub": "EC2.181"},
    ),
)
