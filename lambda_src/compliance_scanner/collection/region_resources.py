"""Collects what a region holds besides instances: the account's region-wide guardrails, the
launch templates and the VPCs' default security groups, each in one call (or one paginated
listing) per region.

They do not depend on the instance listing, so they are read even in a region without instances
(a guardrail matters most before the first instance is launched). Each guardrail fetcher takes
the region's budgeted `calls` (see `collector._Calls`), its EC2 client and a single-attempt one:
the settings reads go through `calls.probe`, since emulators lack several of them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from .. import sources
from ..model import LaunchTemplateRecord, SecurityGroupRecord
from .normalize import default_group_from_api, tags_from_api, template_version_from_api

TEMPLATE_PAGE_SIZE = 200
TEMPLATE_VERSIONS = ["$Default", "$Latest"]
TEMPLATE_NOT_FOUND_CODES = (
    "InvalidLaunchTemplateId.NotFound",
    "InvalidLaunchTemplateId.Malformed",
    "InvalidLaunchTemplateName.NotFoundException",
)
"""What DescribeLaunchTemplates answers when one of the ids or names it is given does not exist."""
DEFAULT_GROUP_NAME = "default"
DEFAULT_GROUP_FILTER = {"Name": "group-name", "Values": [DEFAULT_GROUP_NAME]}
"""Only a VPC's default security group can carry the reserved name `default`."""
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
    found = (
        group
        for page in calls.pages(
            ec2,
            "ec2:DescribeSecurityGroups",
            "describe_security_groups",
            "SecurityGroups",
            Filters=[DEFAULT_GROUP_FILTER],
        )
        for group in page
    )
    return _default_groups(found, region, observed_at)


def default_security_groups_among(
    calls: Any,
    ec2: Any,
    region: str,
    observed_at: datetime,
    group_ids: Collection[str],
    known: Iterable[Mapping[str, Any]] = (),
) -> list[SecurityGroupRecord]:
    """The VPC default groups among `group_ids` (a group-id filter beside the name filter, a
    batch of ids per call): any other group, or one deleted since, simply does not come back.

    `known` are default groups read already (those of the instances, by the page fetchers), to
    be kept as they are; their ids are left out of `group_ids` by the caller, and no ids left
    means no call."""
    found = [
        *known,
        *calls.by_id_filter(
            ec2,
            "ec2:DescribeSecurityGroups",
            "describe_security_groups",
            "SecurityGroups",
            "group-id",
            list(group_ids),
            extra_filters=[DEFAULT_GROUP_FILTER],
        ),
    ]
    return _default_groups(found, region, observed_at)


def is_default_group(raw: Mapping[str, Any]) -> bool:
    return raw.get("GroupName") == DEFAULT_GROUP_NAME


def _default_groups(
    found: Iterable[Mapping[str, Any]], region: str, observed_at: datetime
) -> list[SecurityGroupRecord]:
    groups = [default_group_from_api(group, region, observed_at) for group in found]
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
    versions = _versions(
        calls.pages(
            ec2,
            "ec2:DescribeLaunchTemplateVersions",
            "describe_launch_template_versions",
            "LaunchTemplateVersions",
            Versions=TEMPLATE_VERSIONS,
            MaxResults=TEMPLATE_PAGE_SIZE,
        )
    )
    return _template_records(templates, versions, region, observed_at)


def launch_templates_named(
    calls: Any, ec2: Any, region: str, observed_at: datetime, ids: Collection[str], names: Collection[str]
) -> tuple[list[LaunchTemplateRecord], frozenset[str]]:
    """The launch templates with these ids or names, built as `launch_templates` builds every
    one, and the ids and names that no longer exist (deleted: nothing to judge, no error).

    Their versions are asked template by template (the API takes one template id), which for a
    few changed templates costs less than listing every template's versions."""
    templates = {
        **_templates_by(calls, ec2, "LaunchTemplateIds", sorted(ids)),
        **_templates_by(calls, ec2, "LaunchTemplateNames", sorted(names)),
    }
    found = {
        key for template_id, template in templates.items() for key in (template_id, template.get("LaunchTemplateName"))
    }
    versions = _versions(
        page
        for template_id in sorted(templates)
        for page in calls.pages(
            ec2,
            "ec2:DescribeLaunchTemplateVersions",
            "describe_launch_template_versions",
            "LaunchTemplateVersions",
            LaunchTemplateId=template_id,
            Versions=TEMPLATE_VERSIONS,
        )
    )
    missing = frozenset(ids).union(names) - found
    return _template_records(templates, versions, region, observed_at), missing


def _templates_by(calls: Any, ec2: Any, param: str, wanted: list[str]) -> dict[str, Any]:
    """Templates by id or by name, a batch per call; a batch naming one that does not exist
    fails as a whole, so it is asked again one by one to keep the others."""
    templates: dict[str, Any] = {}
    for start in range(0, len(wanted), TEMPLATE_PAGE_SIZE):
        batch = wanted[start : start + TEMPLATE_PAGE_SIZE]
        try:
            pages = list(
                calls.pages(
                    ec2, "ec2:DescribeLaunchTemplates", "describe_launch_templates", "LaunchTemplates", **{param: batch}
                )
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in TEMPLATE_NOT_FOUND_CODES:
                raise
            if len(batch) > 1:
                for value in batch:
                    templates.update(_templates_by(calls, ec2, param, [value]))
            continue
        templates.update({t["LaunchTemplateId"]: t for page in pages for t in page})
    return templates


def _versions(pages: Iterable[list[Any]]) -> dict[str, dict[int, Any]]:
    """Template id -> version number -> DescribeLaunchTemplateVersions entry."""
    versions: dict[str, dict[int, Any]] = {}
    for page in pages:
        for version in page:
            versions.setdefault(version["LaunchTemplateId"], {})[int(version["VersionNumber"])] = version
    return versions


def _template_records(
    templates: Mapping[str, Any], versions: Mapping[str, Mapping[int, Any]], region: str, observed_at: datetime
) -> list[LaunchTemplateRecord]:
    """One record per template with its default and latest versions; the API names no owner."""
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
