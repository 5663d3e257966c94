"""Partitions, resource ARNs and finding ids."""

from __future__ import annotations

import pytest

from ec2c.scanner.identity import finding_id, partition_of, resource_arn


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-central-2", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
        ("eu-isoe-west-1", "aws-iso-e"),
        ("us-isof-south-1", "aws-iso-f"),
    ],
)
def test_partition_of_region(region: str, partition: str) -> None:
    assert partition_of(region) == partition


def test_resource_arn_names_partition_region_account_and_type() -> None:
    assert resource_arn("cn-north-1", "111122223333", "instance", "i-1") == (
        "arn:aws-cn:ec2:cn-north-1:111122223333:instance/i-1"
    )
    assert resource_arn("us-east-1", None, "instance", "i-1") == "arn:aws:ec2:us-east-1::instance/i-1"


def test_finding_id_depends_on_every_part() -> None:
    base = finding_id("1", "us-east-1", "i-1", "r")
    assert base == finding_id("1", "us-east-1", "i-1", "r")
    others = {
        finding_id("2", "us-east-1", "i-1", "r"),
        finding_id("1", "eu-west-1", "i-1", "r"),
        finding_id("1", "us-east-1", "i-2", "r"),
        finding_id("1", "us-east-1", "i-1", "s"),
    }
    assert base not in others and len(others) == 4
