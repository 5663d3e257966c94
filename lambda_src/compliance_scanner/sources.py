"""The data sources the collector can fetch, and the read-only IAM action each one needs.

Rules declare the sources they read; the collector fetches only the sources of enabled rules and
`permissions` derives the Lambda's IAM policy from the same declarations, so the code and the
policy cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable

INSTANCES = "instances"
VOLUMES = "volumes"
SECURITY_GROUPS = "security_groups"
PREFIX_LISTS = "prefix_lists"
IMAGES = "images"
SSM = "ssm"
TERMINATION_PROTECTION = "termination_protection"
USER_DATA = "user_data"
ROUTE_TABLES = "route_tables"
LAUNCH_TEMPLATES = "launch_templates"
EBS_DEFAULT_ENCRYPTION = "ebs_default_encryption"
IMDS_DEFAULTS = "imds_defaults"
SNAPSHOT_BLOCK_PUBLIC_ACCESS = "snapshot_block_public_access"
IMAGE_BLOCK_PUBLIC_ACCESS = "image_block_public_access"
SERIAL_CONSOLE = "serial_console"
DEFAULT_SECURITY_GROUPS = "default_security_groups"

IAM_ACTIONS: dict[str, str] = {
    INSTANCES: "ec2:DescribeInstances",
    VOLUMES: "ec2:DescribeVolumes",
    SECURITY_GROUPS: "ec2:DescribeSecurityGroups",
    PREFIX_LISTS: "ec2:GetManagedPrefixListEntries",
    IMAGES: "ec2:DescribeImages",
    SSM: "ssm:DescribeInstanceInformation",
    TERMINATION_PROTECTION: "ec2:DescribeInstanceAttribute",
    USER_DATA: "ec2:DescribeInstanceAttribute",
    ROUTE_TABLES: "ec2:DescribeRouteTables",
    LAUNCH_TEMPLATES: "ec2:DescribeLaunchTemplateVersions",
    EBS_DEFAULT_ENCRYPTION: "ec2:GetEbsEncryptionByDefault",
    IMDS_DEFAULTS: "ec2:GetInstanceMetadataDefaults",
    SNAPSHOT_BLOCK_PUBLIC_ACCESS: "ec2:GetSnapshotBlockPublicAccessState",
    IMAGE_BLOCK_PUBLIC_ACCESS: "ec2:GetImageBlockPublicAccessState",
    SERIAL_CONSOLE: "ec2:GetSerialConsoleAccessStatus",
    DEFAULT_SECURITY_GROUPS: "ec2:DescribeSecurityGroups",
}
"""The action each source is reported under when it fails."""

EXTRA_IAM_ACTIONS: dict[str, tuple[str, ...]] = {LAUNCH_TEMPLATES: ("ec2:DescribeLaunchTemplates",)}
"""Further actions a source needs (launch templates: names and tags, then their versions)."""


def iam_actions_for(sources: Iterable[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated IAM actions for the given sources."""
    return tuple(
        sorted({action for source in sources for action in (IAM_ACTIONS[source], *EXTRA_IAM_ACTIONS.get(source, ()))})
    )
