"""Account guardrails, one result per account and region: the settings every next instance,
volume, snapshot and image of the region inherits."""

from __future__ import annotations

from typing import Any

from .. import sources
from ..model import AccountRecord, RuleResult, failed, passed
from ..registry import ACCOUNT, Severity
from .base import STRINGS, Param, Params, Rule


def _ebs_default(account: AccountRecord, params: Params) -> RuleResult:
    if account.ebs_encryption_by_default:
        return passed("EBS encryption by default is enabled")
    return failed("EBS encryption by default is disabled: new volumes and snapshot copies may be unencrypted")


def _imds_defaults(account: AccountRecord, params: Params) -> RuleResult:
    if account.imds_http_tokens == "required":
        return passed("new instances require IMDSv2 by default")
    return failed(
        f"the account's IMDS default is HttpTokens={account.imds_http_tokens}: new instances may allow IMDSv1"
    )


def _snapshot_block(account: AccountRecord, params: Params) -> RuleResult:
    state = account.snapshot_block_public_access
    if state in params["accepted_states"]:
        return passed(f"snapshot block public access is {state}")
    return failed(f"snapshot block public access is {state}: EBS snapshots can be shared publicly")


def _image_block(account: AccountRecord, params: Params) -> RuleResult:
    state = account.image_block_public_access
    if state == "block-new-sharing":
        return passed("AMI block public access is on (block-new-sharing)")
    return failed(f"AMI block public access is {state}: AMIs can be made public")


def _serial_console(account: AccountRecord, params: Params) -> RuleResult:
    if account.serial_console_access:
        return failed("EC2 serial console access is enabled for the account")
    return passed("EC2 serial console access is disabled")


def _guardrail(rule_id: str, source: str, **fields: Any) -> Rule:
    return Rule(id=rule_id, resource_type=ACCOUNT, sources=(source,), **fields)


RULES: tuple[Rule, ...] = (
    _guardrail(
        "ebs_default_encryption",
        sources.EBS_DEFAULT_ENCRYPTION,
        title="EBS encryption by default is enabled",
        severity=Severity.MEDIUM,
        rationale="Without it, every volume someone forgets to encrypt stores data in the clear.",
        remediation="Enable EBS encryption by default in every region (EC2 console > Settings, or the CLI).",
        remediation_cli="aws ec2 enable-ebs-encryption-by-default --region {region}",
        remediation_pulumi='aws.ebs.EncryptionByDefault("default", enabled=True)',
        check=_ebs_default,
        mapping={
            "aws_config": "ec2-ebs-encryption-by-default",
            "security_hub": "EC2.7",
            "cis": "v1.4 2.2.1; v3.0 2.2.1; v4.0.1 5.1.1",
            "prowler": "ec2_ebs_default_encryption",
        },
    ),
    _guardrail(
        "imds_defaults_v2",
        sources.IMDS_DEFAULTS,
        title="New instances require IMDSv2 by default",
        severity=Severity.MEDIUM,
        rationale="An account-level IMDSv2 default protects instances launched by tools that forget to ask for it.",
        remediation="Set the account's instance metadata defaults to HttpTokens=required in every region.",
        remediation_cli="aws ec2 modify-instance-metadata-defaults --region {region} --http-tokens required",
        remediation_pulumi='aws.ec2.InstanceMetadataDefaults("imds", http_tokens="required")',
        check=_imds_defaults,
        mapping={"prowler": "ec2_instance_account_imdsv2_enabled"},
    ),
    _guardrail(
        "snapshot_block_public_access",
        sources.SNAPSHOT_BLOCK_PUBLIC_ACCESS,
        title="EBS snapshot block public access is on",
        severity=Severity.MEDIUM,
        rationale="A single public snapshot exposes a whole disk to every AWS account.",
        remediation="Enable block public access for EBS snapshots (block-all-sharing) in every region.",
        remediation_cli="aws ec2 enable-snapshot-block-public-access --region {region} --state block-all-sharing",
        remediation_pulumi='aws.ebs.SnapshotBlockPublicAccess("snapshots", state="block-all-sharing")',
        check=_snapshot_block,
        mapping={
            "aws_config": "ebs-snapshot-block-public-access",
            "security_hub": "EC2.182",
            "prowler": "ec2_ebs_snapshot_account_block_public_access",
        },
        parameters=(Param("accepted_states", STRINGS, ("block-all-sharing", "block-new-sharing")),),
    ),
    _guardrail(
        "image_block_public_access",
        sources.IMAGE_BLOCK_PUBLIC_ACCESS,
        title="AMI block public access is on",
        severity=Severity.MEDIUM,
        rationale="A public AMI hands its disk contents, and any baked-in secrets, to everyone.",
        remediation="Enable block public access for AMIs in every region.",
        remediation_cli="aws ec2 enable-image-block-public-access --region {region} --image-block-public-access-state block-new-sharing",
        remediation_pulumi='aws.ec2.ImageBlockPublicAccess("amis", state="block-new-sharing")',
        check=_image_block,
        mapping={"prowler": "ec2_ami_account_block_public_access"},
    ),
    _guardrail(
        "serial_console_access_disabled",
        sources.SERIAL_CONSOLE,
        title="EC2 serial console access is disabled",
        severity=Severity.LOW,
        rationale="The serial console bypasses network controls; enable it only while it is needed.",
        remediation="Disable EC2 serial console access for the account.",
        remediation_cli="aws ec2 disable-serial-console-access --region {region}",
        remediation_pulumi='aws.ec2.SerialConsoleAccess("serial", enabled=False)',
        check=_serial_console,
        opt_in=True,
    ),
)
