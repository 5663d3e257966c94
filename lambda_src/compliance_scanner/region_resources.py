"""Collects what a region holds besides instances: the account's region-wide guardrails, the
launch templates and the VPCs' default security groups, each in one call (or one paginated
listing) per region.

They do not depend on the instance listing, so they are read even in a region without instances
(a guardrail matters most before the first instance is launched). Each guardrail fetcher takes
the region's budgeted `calls` (see `collector._Calls`), its EC2 client and a single-attempt one:
the settings reads go through `calls.probe`, since emulators lack several of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from . import sources
from .model import LaunchTemplateRecord, SecurityGroupRecord
from .normalize import default_group_from_api, tags_from_api, template_version_from_api

TEMPLATE_PAGE_SIZE = 200
Fetch = Callable[[Any, Any, Any], dict[str, Any]]
Lister = Callable[[Any, Any, str, datetime], list[Any]]


def _ebs_default(calls: Any, ec2: Any, probe: Any) -> dict[str, Any]:
    response = calls.probe(probe, ec2, "ec2:GetEbsEncryptionByDefault", "get_ebs_encryption_by_default")
    return {"ebs_encryption_by_default": bool(response.get("EbsEncryptionByDefault"))}


def _imds_defaults(calls: Any, ec2: Any, probe: Any) -> dict[str, Any]:
    """An account that never set IMDS defaults reports no HttpTokens: `no-preference`."""
    response = calls.probe(probe, ec2, "ec2:GetInstanceMetadataDefaults", "get_instance_metadata_defaults")
    return {"imds_http_tokens": response.get("AccountLevel", {}).get("HttpTokens") or "no-preference"}


def _snapshot_block(calls: Any, ec2: Any, probe: Any) -> dict[str, Any]:
    response = calls.probe(
        probe, ec2, "ec2:GetSnapshotBlockPublicAccessState", "get_snapshot_block_public_access_state"
    )
    return {"snapshot_block_public_access": response.get("State", "unblocked")}


def _image_block(calls: Any, ec2: Any, probe: Any) -> dict[str, Any]:
    response = calls.probe(probe, ec2, "ec2:GetImageBlockPublicAccessState", "get_image_block_public_access_state")
    return {"image_block_public_access": response.get("ImageBlockPublicAccessState", "unblocked")}


def _serial_console(calls: Any, ec2: Any, probe: Any) -> dict[str, Any]:
    response = calls.probe(probe, ec2, "ec2:GetSerialConsoleAccessStatus", "get_serial_console_access_status")
    return {"serial_console_access": bool(response.get("SerialConsoleAccessEnabled"))}


ACCOUNT_FETCHERS: Mapping[str, Fetch] = {
    sources.EBS_DEFAULT_ENCRYPTION: _ebs_default,
    sources.IMDS_DEFAULTS: _imds_defaults,
    sources.SNAPSHOT_BLOCK_PUBLIC_ACCESS: _snapshot_block,
    sources.IMAGE_BLOCK_PUBLIC_ACCESS: _image_block,
    sources.SERIAL_CONSOLE: _serial_console,
}
"""Account guardrail sources -> their fetcher; each returns AccountRecord keyword arguments."""


def default_security_groups(calls: Any, ec2: Any, region: str, observed_at: datetime) -> list[SecurityGroupRecord]:
    """Every VPC's default security group, in one listing filtered by the reserved name `default`
    (only a VPC's default group can carry it)."""
    groups = [
        default_group_from_api(group, region, observed_at)
        for page in calls.pages(
            ec2,
            "ec2:DescribeSecurityGroups",
            "describe_security_groups",
            "SecurityGroups",
            Filters=[{"Name": "group-name", "Values": ["default"]}],
        )
        for group in page
    ]
    return sorted(groups, key=lambda g: (g.vpc_id, g.group_id))


def launch_templates(calls: Any, ec2: Any, region: str, observed_at: datetime) -> list[LaunchTemplateRecord]:
    """Every launch template with its default and latest versions: DescribeLaunchTemplates for
    names and tags, then one DescribeLaunchTemplateVersions listing for `$Default` and `$Latest`
    of all templates at once (no call per template). The API names no owner: the report's
    account stands for it."""
    templates = {
        t["LaunchTemplateId"]: t
        for page in calls.pages(
            ec2,
            "ec2:DescribeLaunchTemplates",
            "describe_launch_templates",
            "LaunchTemplates",
            MaxResults=TEMPLATE_PAGE_SIZE,
        )
        for t in page
    }
    if not templates:
        return []
    versions: dict[str, dict[int, Any]] = {}
    for page in calls.pages(
        ec2,
        "ec2:DescribeLaunchTemplateVersions",
        "describe_launch_template_versions",
        "LaunchTemplateVersions",
        Versions=["$Default", "$Latest"],
        MaxResults=TEMPLATE_PAGE_SIZE,
    ):
        for version in page:
            versions.setdefault(version["LaunchTemplateId"], {})[int(version["VersionNumber"])] = version
    records = []
    for template_id, template in sorted(templates.items()):
        found = versions.get(template_id, {})
        default, latest = template.get("DefaultVersionNumber"), template.get("LatestVersionNumber")
        records.append(
            LaunchTemplateRecord(
                template_id=template_id,
                name=template.get("LaunchTemplateName", ""),
                region=region,
                account_id=None,
                observed_at=observed_at,
                versions=tuple(
                    template_version_from_api(
                        raw,
                        tuple(role for role, number in (("default", default), ("latest", latest)) if number == n),
                    )
                    for n, raw in sorted(found.items())
                ),
                tags=tags_from_api(template),
            )
        )
    return records


RESOURCE_LISTERS: Mapping[str, Lister] = {
    sources.LAUNCH_TEMPLATES: launch_templates,
    sources.DEFAULT_SECURITY_GROUPS: default_security_groups,
}
"""Sources that list resources of their own -> their lister `(calls, ec2, region, observed_at)`.
A listing that fails leaves its region incomplete: resources not listed must not pass for fixed."""
