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


INTERFACES_ACTION = "ec2:DescribeNetworkInterfaces"
"""Change events only: the instance an interface is attached to (the call names the interface)."""
GROUPS_ACTION = IAM_ACTIONS[SECURITY_GROUPS]
EVENT_LOOKUP_ACTIONS = (INTERFACES_ACTION, GROUPS_ACTION)
"""What the event-driven evaluation reads besides the rules' sources, to find the instances a
change touched: the interface's instance, and the groups that use a changed prefix list (whose
instances are then listed by group). Granted only to a stack with the change-event path."""


def iam_actions_for(sources: Iterable[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated IAM actions for the given sources."""
    return tuple(
        sorted({action for source in sources for action in (IAM_ACTIONS[source], *EXTRA_IAM_ACTIONS.get(source, ()))})
    )


_SECURITY_GROUP_RULE_CHANGES = (
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "ModifySecurityGroupRules",
)

CHANGE_EVENTS: dict[str, tuple[str, ...]] = {
    INSTANCES: (
        "RunInstances",
        "ModifyInstanceAttribute",
        "ModifyInstanceMetadataOptions",
        "AssociateAddress",
        "DisassociateAddress",
        "AssociateIamInstanceProfile",
        "DisassociateIamInstanceProfile",
        "ReplaceIamInstanceProfileAssociation",
        "ModifyNetworkInterfaceAttribute",
        "AttachNetworkInterface",
        "DetachNetworkInterface",
        "AssignIpv6Addresses",
        "UnassignIpv6Addresses",
        "MonitorInstances",
        "UnmonitorInstances",
        "CreateTags",
        "DeleteTags",
    ),
    VOLUMES: ("AttachVolume", "DetachVolume"),
    SECURITY_GROUPS: (*_SECURITY_GROUP_RULE_CHANGES, "ModifyNetworkInterfaceAttribute", "ModifyInstanceAttribute"),
    PREFIX_LISTS: ("ModifyManagedPrefixList",),
    IMAGES: ("DeregisterImage", "EnableImageDeprecation", "DisableImageDeprecation", "DisableImage", "EnableImage"),
    SSM: (),
    TERMINATION_PROTECTION: ("ModifyInstanceAttribute",),
    USER_DATA: ("ModifyInstanceAttribute",),
    ROUTE_TABLES: (),
    LAUNCH_TEMPLATES: (
        "CreateLaunchTemplate",
        "CreateLaunchTemplateVersion",
        "ModifyLaunchTemplate",
        "DeleteLaunchTemplate",
        "DeleteLaunchTemplateVersions",
    ),
    EBS_DEFAULT_ENCRYPTION: ("EnableEbsEncryptionByDefault", "DisableEbsEncryptionByDefault"),
    IMDS_DEFAULTS: ("ModifyInstanceMetadataDefaults",),
    SNAPSHOT_BLOCK_PUBLIC_ACCESS: ("EnableSnapshotBlockPublicAccess", "DisableSnapshotBlockPublicAccess"),
    IMAGE_BLOCK_PUBLIC_ACCESS: ("EnableImageBlockPublicAccess", "DisableImageBlockPublicAccess"),
    SERIAL_CONSOLE: ("EnableSerialConsoleAccess", "DisableSerialConsoleAccess"),
    DEFAULT_SECURITY_GROUPS: (
        *_SECURITY_GROUP_RULE_CHANGES,
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupEgress",
    ),
}
"""The CloudTrail `eventName`s (source `ec2.amazonaws.com`) that can change what each source reads.

Start, stop and terminate are absent on purpose: the "EC2 Instance State-change Notification"
carries every state transition (including those the service makes itself, such as a Spot
interruption, which no API call records), and the event-driven scan always listens to it.
Creating a volume, a security group or an image changes no verdict until it is attached to or
launched as an instance, and those calls are listed. Two sources have an empty entry on purpose:
SSM registration is made by the agent through the SSM API, not by an EC2 call; route tables only
grade an exposure finding's severity, never its verdict; both are caught up by the scheduled scan.
The instance rules read only the ingress of their groups, so the egress calls are listed for the
default security groups alone (their rule counts outbound rules too)."""


def change_events_for(source_names: Iterable[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated CloudTrail event names that can change the given sources."""
    return tuple(sorted({event for source in source_names for event in CHANGE_EVENTS[source]}))
