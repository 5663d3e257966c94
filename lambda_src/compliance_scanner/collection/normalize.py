"""Pure conversions from EC2/SSM API response shapes into the records the rules read.

Kept free of I/O so the quirks of the API (where a public IP may appear, the stop time hidden in
a free-text reason, security groups listed per interface) are handled and tested in one place.
"""

from __future__ import annotations

import base64
import gzip
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import sources
from ..documents import parse_iso_utc
from ..model import (
    ImageInfo,
    IngressPermission,
    InstanceRecord,
    InternetRoute,
    MetadataOptions,
    SecurityGroupInfo,
    SecurityGroupRecord,
    SsmStatus,
    TemplateVersion,
    VolumeInfo,
)

_STOP_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Lookups:
    """What the batched calls of one region returned, keyed by resource id.

    `unavailable` names sources that failed or were cut off for the whole region.
    """

    unencrypted_volumes: frozenset[str] = frozenset()
    security_groups: Mapping[str, SecurityGroupInfo] = field(default_factory=dict)
    images: Mapping[str, ImageInfo] = field(default_factory=dict)
    ssm: Mapping[str, SsmStatus] = field(default_factory=dict)
    termination_protection: Mapping[str, bool] = field(default_factory=dict)
    user_data: Mapping[str, str] = field(default_factory=dict)
    user_data_errors: Mapping[str, str] = field(default_factory=dict)
    subnet_routes: Mapping[str, InternetRoute] = field(default_factory=dict)
    """Subnet id -> the route table explicitly associated with it."""
    main_routes: Mapping[str, InternetRoute] = field(default_factory=dict)
    """VPC id -> its main route table, which serves every subnet without an explicit one."""
    unavailable: frozenset[str] = frozenset()


def as_utc(value: datetime | None) -> datetime | None:
    """botocore returns aware datetimes; a naive one is taken to be UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def parse_stopped_since(reason: str | None) -> datetime | None:
    """The stop time in `StateTransitionReason`, e.g. 'User initiated (2024-01-01 10:00:00 GMT)'."""
    match = _STOP_TIME.search(reason or "")
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def parse_iso_time(value: str | None) -> datetime | None:
    """ISO 8601 strings such as an image's DeprecationTime ('2024-01-01T00:00:00.000Z')."""
    return parse_iso_utc(value) if value else None


class UndecodableUserData(ValueError):
    """User data that is not the base64 (optionally gzipped) text it claims to be."""


def decode_user_data(encoded: str | None) -> str:
    """User data arrives base64-encoded and is often gzipped by cloud-init tooling.

    Raises UndecodableUserData (never BadGzipFile/EOFError/binascii.Error) so one odd instance
    skips its own rule instead of aborting the scan.
    """
    if not encoded:
        return ""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise UndecodableUserData(f"not valid base64 ({exc})") from None
    if raw.startswith(_GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise UndecodableUserData(f"gzip header but not valid gzip ({exc})") from None
    return raw.decode("utf-8", errors="replace")


def tags_from_api(raw: Mapping[str, Any]) -> dict[str, str]:
    """An EC2 resource's `Tags` list as a mapping (a tag may have no value)."""
    return {tag["Key"]: tag.get("Value", "") for tag in raw.get("Tags", [])}


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def security_group_ids(raw: Mapping[str, Any]) -> list[str]:
    """Groups of the instance and of every interface (interfaces may carry their own)."""
    groups = list(raw.get("SecurityGroups", []))
    for interface in raw.get("NetworkInterfaces", []):
        groups.extend(interface.get("Groups", []))
    return _unique(group["GroupId"] for group in groups)


def volume_ids(raw: Mapping[str, Any]) -> list[str]:
    mappings = raw.get("BlockDeviceMappings", [])
    return _unique(m["Ebs"]["VolumeId"] for m in mappings if "VolumeId" in m.get("Ebs", {}))


def _public_ip(raw: Mapping[str, Any]) -> str | None:
    primary: str | None = raw.get("PublicIpAddress")
    if primary:
        return primary
    for interface in raw.get("NetworkInterfaces", []):
        address: str | None = interface.get("Association", {}).get("PublicIp")
        if address:
            return address
    return None


def _ipv6_addresses(raw: Mapping[str, Any]) -> tuple[str, ...]:
    addresses = [raw["Ipv6Address"]] if raw.get("Ipv6Address") else []
    for interface in raw.get("NetworkInterfaces", []):
        addresses.extend(item["Ipv6Address"] for item in interface.get("Ipv6Addresses", []))
    return tuple(_unique(addresses))


def _metadata_options(raw: Mapping[str, Any]) -> MetadataOptions | None:
    options = raw.get("MetadataOptions")
    if not options:
        return None
    return MetadataOptions(
        http_tokens=options.get("HttpTokens"),
        http_endpoint=options.get("HttpEndpoint"),
        hop_limit=options.get("HttpPutResponseHopLimit"),
    )


def prefix_list_ids(raw: Mapping[str, Any]) -> list[str]:
    """Managed prefix lists a security group's inbound rules name."""
    return _unique(
        item["PrefixListId"]
        for permission in raw.get("IpPermissions", [])
        for item in permission.get("PrefixListIds", [])
    )


def permission_from_api(raw: Mapping[str, Any], prefix_lists: Mapping[str, tuple[str, ...]]) -> IngressPermission:
    """One permission; the CIDRs of its managed prefix lists are merged into its own ranges."""
    cidrs = [r["CidrIp"] for r in raw.get("IpRanges", [])]
    cidrs += [r["CidrIpv6"] for r in raw.get("Ipv6Ranges", [])]
    lists = tuple(item["PrefixListId"] for item in raw.get("PrefixListIds", []))
    for list_id in lists:
        cidrs.extend(prefix_lists.get(list_id, ()))
    return IngressPermission(
        protocol=str(raw.get("IpProtocol", "-1")),
        from_port=raw.get("FromPort"),
        to_port=raw.get("ToPort"),
        cidrs=tuple(cidrs),
        prefix_lists=lists,
    )


def security_group_from_api(
    raw: Mapping[str, Any], prefix_lists: Mapping[str, tuple[str, ...]] | None = None
) -> SecurityGroupInfo:
    resolved = prefix_lists or {}
    return SecurityGroupInfo(
        group_id=raw["GroupId"],
        name=raw.get("GroupName", ""),
        ingress=tuple(permission_from_api(p, resolved) for p in raw.get("IpPermissions", [])),
        unresolved_prefix_lists=tuple(i for i in prefix_list_ids(raw) if i not in resolved),
    )


def image_from_api(raw: Mapping[str, Any]) -> ImageInfo:
    return ImageInfo(
        image_id=raw["ImageId"],
        owner_id=raw.get("OwnerId", ""),
        owner_alias=raw.get("ImageOwnerAlias"),
        name=raw.get("Name"),
        deprecation_time=parse_iso_time(raw.get("DeprecationTime")),
        state=raw.get("State", "available"),
    )


def ssm_status_from_api(raw: Mapping[str, Any]) -> SsmStatus:
    return SsmStatus(ping_status=raw.get("PingStatus", "Unknown"), last_ping=as_utc(raw.get("LastPingDateTime")))


def first_launch_time(raw: Mapping[str, Any]) -> datetime | None:
    """The primary interface's (device index 0) AttachTime: the first launch, kept across stops."""
    for interface in raw.get("NetworkInterfaces", []):
        attachment = interface.get("Attachment", {})
        if attachment.get("DeviceIndex") == 0 and attachment.get("AttachTime"):
            return as_utc(attachment["AttachTime"])
    return None


def _resolve(ids: Iterable[str], found: Mapping[str, Any]) -> tuple[tuple[Any, ...], bool]:
    """The found items for `ids`, and whether every id was found."""
    ids = list(ids)
    items = tuple(found[item_id] for item_id in ids if item_id in found)
    return items, len(items) == len(ids)


def _missing_sources(raw: Mapping[str, Any], instance_id: str, lookups: Lookups) -> set[str]:
    """Region-wide gaps plus the per-instance ones (a security group or attribute that did not
    come back, e.g. deleted between two calls): either way the rule must not guess."""
    missing = set(lookups.unavailable)
    groups, complete = _resolve(security_group_ids(raw), lookups.security_groups)
    if not complete:
        missing.add(sources.SECURITY_GROUPS)
    if any(group.unresolved_prefix_lists for group in groups):
        missing.add(sources.PREFIX_LISTS)
    if instance_id not in lookups.termination_protection:
        missing.add(sources.TERMINATION_PROTECTION)
    if instance_id not in lookups.user_data and instance_id not in lookups.user_data_errors:
        missing.add(sources.USER_DATA)
    return missing


def _internet_gateway(routes: list[Mapping[str, Any]], destination_key: str, destination: str) -> str | None:
    for route in routes:
        gateway = str(route.get("GatewayId") or "")
        if (
            route.get(destination_key) == destination
            and gateway.startswith("igw-")
            and route.get("State") != "blackhole"
        ):
            return gateway
    return None


def route_tables_from_api(
    tables: list[Mapping[str, Any]],
) -> tuple[dict[str, InternetRoute], dict[str, InternetRoute]]:
    """(subnet id -> route, VPC id -> main route) from DescribeRouteTables."""
    by_subnet: dict[str, InternetRoute] = {}
    main: dict[str, InternetRoute] = {}
    for table in tables:
        routes = table.get("Routes", [])
        route = InternetRoute(
            route_table_id=table["RouteTableId"],
            ipv4_gateway=_internet_gateway(routes, "DestinationCidrBlock", "0.0.0.0/0"),
            ipv6_gateway=_internet_gateway(routes, "DestinationIpv6CidrBlock", "::/0"),
        )
        for association in table.get("Associations", []):
            if association.get("Main"):
                main[table.get("VpcId", "")] = route
            elif association.get("SubnetId"):
                by_subnet[association["SubnetId"]] = route
    return by_subnet, main


def template_version_from_api(raw: Mapping[str, Any], roles: tuple[str, ...]) -> TemplateVersion:
    """A DescribeLaunchTemplateVersions entry; undecodable user data is kept as an error."""
    data = raw.get("LaunchTemplateData", {})
    options = data.get("MetadataOptions")
    user_data, problem = None, None
    try:
        user_data = decode_user_data(data.get("UserData"))
    except UndecodableUserData as exc:
        problem = str(exc)
    return TemplateVersion(
        number=int(raw.get("VersionNumber", 0)),
        roles=roles,
        metadata_options=MetadataOptions(
            options.get("HttpTokens"), options.get("HttpEndpoint"), options.get("HttpPutResponseHopLimit")
        )
        if options is not None
        else None,
        public_ip=any(nic.get("AssociatePublicIpAddress") for nic in data.get("NetworkInterfaces", [])),
        user_data=user_data,
        user_data_error=problem,
        unencrypted_devices=tuple(
            mapping.get("DeviceName", "?")
            for mapping in data.get("BlockDeviceMappings", [])
            if "Ebs" in mapping and not mapping["Ebs"].get("Encrypted")
        ),
    )


def default_group_from_api(raw: Mapping[str, Any], region: str, observed_at: datetime) -> SecurityGroupRecord:
    return SecurityGroupRecord(
        group_id=raw["GroupId"],
        vpc_id=raw.get("VpcId", ""),
        region=region,
        account_id=raw.get("OwnerId"),
        observed_at=observed_at,
        ingress=len(raw.get("IpPermissions", [])),
        egress=len(raw.get("IpPermissionsEgress", [])),
        tags=tags_from_api(raw),
    )


def instance_from_api(
    raw: Mapping[str, Any],
    region: str,
    account_id: str | None,
    observed_at: datetime,
    lookups: Lookups,
) -> InstanceRecord:
    instance_id = raw["InstanceId"]
    state = raw.get("State", {}).get("Name", "unknown")
    image_id = raw.get("ImageId")
    return InstanceRecord(
        instance_id=instance_id,
        region=region,
        account_id=account_id,
        state=state,
        instance_type=raw.get("InstanceType", ""),
        observed_at=observed_at,
        launch_time=as_utc(raw.get("LaunchTime")),
        first_launch_time=first_launch_time(raw),
        tags=tags_from_api(raw),
        public_ip=_public_ip(raw),
        ipv6_addresses=_ipv6_addresses(raw),
        iam_instance_profile=raw.get("IamInstanceProfile", {}).get("Arn"),
        metadata_options=_metadata_options(raw),
        monitoring=raw.get("Monitoring", {}).get("State"),
        eni_count=len(raw.get("NetworkInterfaces", [])),
        virtualization_type=raw.get("VirtualizationType"),
        ebs_optimized=bool(raw.get("EbsOptimized")),
        key_name=raw.get("KeyName"),
        image_id=image_id,
        security_groups=_resolve(security_group_ids(raw), lookups.security_groups)[0],
        volumes=tuple(
            VolumeInfo(volume_id, volume_id not in lookups.unencrypted_volumes) for volume_id in volume_ids(raw)
        ),
        image=lookups.images.get(image_id or ""),
        ssm_managed=instance_id in lookups.ssm,
        ssm_status=lookups.ssm.get(instance_id),
        stopped_since=parse_stopped_since(raw.get("StateTransitionReason")) if state == "stopped" else None,
        termination_protection=lookups.termination_protection.get(instance_id),
        user_data=lookups.user_data.get(instance_id),
        user_data_error=lookups.user_data_errors.get(instance_id),
        subnet_id=raw.get("SubnetId"),
        internet_route=lookups.subnet_routes.get(raw.get("SubnetId") or "")
        or lookups.main_routes.get(raw.get("VpcId") or ""),
        unavailable=frozenset(_missing_sources(raw, instance_id, lookups)),
    )
