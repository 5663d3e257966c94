"""API response shapes -> records: the quirks of where EC2 puts things."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime

import pytest

from ec2c.scanner import sources
from ec2c.scanner.collection.normalize import (
    Lookups,
    UndecodableUserData,
    as_utc,
    decode_user_data,
    first_launch_time,
    image_from_api,
    instance_from_api,
    parse_iso_time,
    parse_stopped_since,
    permission_from_api,
    security_group_from_api,
)
from ec2c.scanner.model import IngressPermission, VolumeInfo

from .conftest import NOW, REGION

RAW = {
    "InstanceId": "i-1",
    "State": {"Name": "stopped"},
    "InstanceType": "t3.micro",
    "StateTransitionReason": "User initiated (2024-01-01 10:00:00 GMT)",
    "LaunchTime": datetime(2023, 12, 1),
    "Ipv6Address": "2600:1f18::1",
    "SecurityGroups": [{"GroupId": "sg-1"}],
    "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": "vol-1"}},
        {"DeviceName": "/dev/xvdb", "Ebs": {"VolumeId": "vol-2"}},
        {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral0"},
    ],
    "NetworkInterfaces": [
        {
            "Association": {"PublicIp": "54.1.2.3"},
            "Groups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}],
            "Ipv6Addresses": [{"Ipv6Address": "2600:1f18::1"}, {"Ipv6Address": "2600:1f18::2"}],
        },
        {"Groups": []},
    ],
}


def test_instance_fields_are_gathered_from_every_place_ec2_puts_them() -> None:
    lookups = Lookups(unencrypted_volumes=frozenset({"vol-2", "vol-elsewhere"}))
    instance = instance_from_api(RAW, REGION, "123456789012", NOW, lookups)
    assert instance.public_ip == "54.1.2.3"
    assert instance.ipv6_addresses == ("2600:1f18::1", "2600:1f18::2")
    assert instance.eni_count == 2
    assert instance.stopped_since == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert instance.launch_time == datetime(2023, 12, 1, tzinfo=UTC)
    assert instance.metadata_options is None
    assert instance.volumes == (VolumeInfo("vol-1", True), VolumeInfo("vol-2", False))
    # neither group came back: the exposure rules must not guess
    assert sources.SECURITY_GROUPS in instance.unavailable
    assert instance.ssm_managed is False


def test_a_bare_instance_gets_safe_defaults() -> None:
    instance = instance_from_api({"InstanceId": "i-2"}, REGION, None, NOW, Lookups())
    assert instance.state == "unknown"
    assert instance.public_ip is None and instance.ipv6_addresses == ()
    assert instance.stopped_since is None and instance.launch_time is None
    assert instance.tags == {} and instance.security_groups == () and instance.image is None
    assert sources.SECURITY_GROUPS not in instance.unavailable  # nothing referenced


def test_stop_time_parsing() -> None:
    assert parse_stopped_since("User initiated (2024-01-01 10:00:00 UTC)") == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert parse_stopped_since("Server.InternalError") is None
    assert parse_stopped_since(None) is None


def test_times_are_made_aware() -> None:
    aware = datetime(2024, 1, 1, tzinfo=UTC)
    assert as_utc(aware) is aware
    assert as_utc(None) is None
    assert parse_iso_time("2024-06-01T00:00:00.000Z") == datetime(2024, 6, 1, tzinfo=UTC)
    assert parse_iso_time(None) is None


def test_user_data_plain_and_gzipped() -> None:
    assert decode_user_data(base64.b64encode(b"#!/bin/sh").decode()) == "#!/bin/sh"
    assert decode_user_data(base64.b64encode(gzip.compress(b"hi")).decode()) == "hi"
    assert decode_user_data(None) == ""


def test_permissions_merge_ipv4_and_ipv6_ranges() -> None:
    raw = {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
        "PrefixListIds": [{"PrefixListId": "pl-1"}],
    }
    assert permission_from_api(raw, {}) == IngressPermission(
        "tcp", 22, 22, ("0.0.0.0/0", "::/0"), prefix_lists=("pl-1",)
    )
    resolved = permission_from_api(raw, {"pl-1": ("203.0.113.0/24", "2001:db8::/32")})
    assert resolved.cidrs == ("0.0.0.0/0", "::/0", "203.0.113.0/24", "2001:db8::/32")
    assert permission_from_api({}, {}) == IngressPermission("-1", None, None, ())


def test_security_groups_name_their_unresolved_prefix_lists() -> None:
    raw = {
        "GroupId": "sg-1",
        "IpPermissions": [
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "PrefixListIds": [{"PrefixListId": "pl-1"}, {"PrefixListId": "pl-2"}],
            },
        ],
    }
    group = security_group_from_api(raw, {"pl-1": ("0.0.0.0/0",)})
    assert group.unresolved_prefix_lists == ("pl-2",)
    assert group.ingress[0].cidrs == ("0.0.0.0/0",)


def test_first_launch_comes_from_the_primary_interface() -> None:
    attached = datetime(2020, 1, 1, tzinfo=UTC)
    raw = {
        "NetworkInterfaces": [
            {"Attachment": {"DeviceIndex": 1, "AttachTime": datetime(2024, 1, 1, tzinfo=UTC)}},
            {"Attachment": {"DeviceIndex": 0, "AttachTime": attached}},
        ]
    }
    assert first_launch_time(raw) == attached
    assert first_launch_time({"NetworkInterfaces": [{"Attachment": {"DeviceIndex": 1}}]}) is None


@pytest.mark.parametrize(
    "encoded, reason",
    [
        (base64.b64encode(b"\x1f\x8bnot gzip at all").decode(), "gzip header but not valid gzip"),
        ("!!!not base64!!!", "not valid base64"),
    ],
)
def test_undecodable_user_data_is_named(encoded, reason) -> None:
    with pytest.raises(UndecodableUserData, match=reason):
        decode_user_data(encoded)


def test_image_deprecation_time() -> None:
    image = image_from_api({"ImageId": "ami-1", "OwnerId": "1", "DeprecationTime": "2024-06-01T00:00:00.000Z"})
    assert image.deprecation_time == datetime(2024, 6, 1, tzinfo=UTC)
    assert image.owner_alias is None
