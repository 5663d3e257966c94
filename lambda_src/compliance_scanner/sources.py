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
}


def iam_actions_for(sources: Iterable[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated IAM actions for the given sources."""
    return tuple(sorted({IAM_ACTIONS[source] for source in sources}))
