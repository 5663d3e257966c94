"""Who a finding is about: the partition, the resource ARN and a finding id stable across runs.

Security Hub, ticketing and the run-to-run diff all key on these, so they are derived only from
what does not change between scans (account, region, resource, rule), never from a run id or time.
"""

from __future__ import annotations

import hashlib

from .registry import ResourceType

_PARTITIONS = (
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-iso-", "aws-iso"),
    ("us-gov-", "aws-us-gov"),
    ("cn-", "aws-cn"),
)


def partition_of(region: str) -> str:
    """The ARN partition of a region (`aws` unless the region belongs to an isolated one)."""
    return next((name for prefix, name in _PARTITIONS if region.startswith(prefix)), "aws")


def resource_arn(region: str, account_id: str | None, resource_type: str, resource_id: str) -> str:
    """`arn:<partition>:ec2:<region>:<account>:instance/<id>` (or `launch-template/<id>`,
    `security-group/<id>`, the type's `arn_kind`); an account's guardrails belong to the account
    itself, `arn:<partition>:iam::<account>:root`. The account is empty when unknown."""
    kind = ResourceType.of(resource_type).arn_kind
    if kind is None:
        return f"arn:{partition_of(region)}:iam::{account_id or ''}:root"
    return f"arn:{partition_of(region)}:ec2:{region}:{account_id or ''}:{kind}/{resource_id}"


def finding_id(account_id: str | None, region: str, resource_id: str, rule_id: str) -> str:
    """A SHA-256 over (account, region, resource, rule): the same finding keeps its id forever."""
    key = "|".join((account_id or "", region, resource_id, rule_id))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
