"""Collects only the resources a change touched in one region, with the full scan's collector.

Event-driven re-evaluation knows which instances, security groups, launch templates or account
guardrails changed; reading the whole region again for that would cost a full scan per event.
Here the instances come from filtered DescribeInstances listings (the ids themselves, and the
instances using a changed group), enriched by `RegionCollector`'s own page fetchers, and the
templates, default groups and guardrails from `region_resources`' own builders: the records,
and so the verdicts, are those a full scan would produce for the same resources. Filters rather
than id lists, so a resource that has gone simply does not come back: it is reported missing,
not as an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3

from .. import sources
from ..collection.budget import TimeBudget
from ..collection.collector import ID_BATCH, RegionCollector
from ..collection.region_resources import ACCOUNT_FETCHERS, default_security_groups_among, launch_templates_named
from ..model import AccountRecord, InstanceRecord, LaunchTemplateRecord, ScanError, SecurityGroupRecord

INSTANCE_ID_FILTER = "instance-id"
GROUP_ID_FILTER = "instance.group-id"
"""The groups of the instance itself; several filters on one call would all have to match, so
the instances of changed groups are a listing of their own."""
IMAGE_ID_FILTER = "image-id"
INTERFACE_ID_FILTER = "network-interface-id"

TargetedRecord = InstanceRecord | LaunchTemplateRecord | SecurityGroupRecord | AccountRecord


@dataclass(frozen=True)
class Targets:
    """What changed in one region: the resources to collect again."""

    region: str
    instance_ids: frozenset[str] = frozenset()
    security_group_ids: frozenset[str] = frozenset()
    """Changed groups: the instances using them are collected, and a group that is a VPC's
    default group is collected itself (for the default-group rule)."""
    network_interface_ids: frozenset[str] = frozenset()
    """Changed interfaces: the instances they are attached to are collected."""
    prefix_list_ids: frozenset[str] = frozenset()
    """Changed prefix lists: the instances using a group that references one are collected."""
    image_ids: frozenset[str] = frozenset()
    """Changed images (deregistered, deprecated): the instances launched from them are collected."""
    launch_template_ids: frozenset[str] = frozenset()
    launch_template_names: frozenset[str] = frozenset()
    account_guardrails: bool = False
    """The region's guardrails (EBS default encryption, IMDS defaults, snapshot and image block
    public access, serial console) changed: the account record is collected again."""


@dataclass
class TargetedCollection:
    """The collected records, in the full scan's order (instances, templates, default groups,
    then the account record), with what could not be read and what no longer exists."""

    records: list[TargetedRecord]
    errors: list[ScanError]
    complete: bool
    """False when a listing failed or the budget ran out: what was not read must not pass."""
    missing_instance_ids: frozenset[str]
    """Asked for, but no longer live (terminated or unknown): no finding and no error."""
    calls: int
    """API calls made, every one through the collector's budgeted calls."""
    missing_launch_templates: frozenset[str] = field(default_factory=frozenset)
    """Template ids or names asked for that no longer exist."""


def collect_targets(
    session: boto3.session.Session,
    targets: Targets,
    needed: frozenset[str],
    budget: TimeBudget,
    observed_at: datetime,
    account_id: str | None = None,
) -> TargetedCollection:
    """The records of `targets`, reading only the sources in `needed`. API failures and an
    exhausted budget are recorded in the result, never raised.

    `account_id` is the account the targets belong to: a full scan names the account record
    after the owner of the region's instances, which a change to a guardrail alone never lists;
    without it that record would be "unknown", another resource than the full scan's."""
    guardrails = frozenset(source for source in ACCOUNT_FETCHERS if source in needed and targets.account_guardrails)
    with RegionCollector(
        session, targets.region, needed, budget, observed_at, regional_sources=guardrails
    ) as collector:
        instances, missing_instances = _instances(collector, targets)
        templates, missing_templates = _templates(collector, targets, needed, observed_at)
        groups = _default_groups(collector, targets, needed, observed_at)
        collector.owner_id = collector.owner_id or account_id
        account = collector.resources()
        return TargetedCollection(
            records=[*instances, *templates, *groups, *account],
            errors=collector.all_errors(),
            complete=collector.complete,
            missing_instance_ids=missing_instances,
            calls=collector.calls_made,
            missing_launch_templates=missing_templates,
        )


def _instances(collector: RegionCollector, targets: Targets) -> tuple[list[InstanceRecord], frozenset[str]]:
    """The live instances named, attached to a named interface, launched from a named image or
    using a named group (or a group referencing a named prefix list), each once. The named ones
    that did not come back are missing only when their listing succeeded: an unread one is not
    a gone one."""
    found: dict[str, InstanceRecord] = {}
    _list(collector, INSTANCE_ID_FILTER, targets.instance_ids, found)
    missing = targets.instance_ids - found.keys() if collector.complete else frozenset()
    attached = _attached_instances(collector, targets.network_interface_ids) - found.keys()
    _list(collector, INSTANCE_ID_FILTER, frozenset(attached), found)
    groups = targets.security_group_ids | _groups_referencing(collector, targets.prefix_list_ids)
    _list(collector, GROUP_ID_FILTER, groups, found)
    _list(collector, IMAGE_ID_FILTER, targets.image_ids, found)
    return list(found.values()), frozenset(missing)


def _attached_instances(collector: RegionCollector, interface_ids: frozenset[str]) -> frozenset[str]:
    """The instances the interfaces are attached to (a detached or deleted one leads nowhere)."""
    if not interface_ids:
        return frozenset()

    def read(calls: Any, ec2: Any) -> frozenset[str]:
        interfaces = calls.by_id_filter(
            ec2,
            sources.INTERFACES_ACTION,
            "describe_network_interfaces",
            "NetworkInterfaces",
            INTERFACE_ID_FILTER,
            list(interface_ids),
        )
        return frozenset(
            instance for item in interfaces if (instance := (item.get("Attachment") or {}).get("InstanceId"))
        )

    return collector.read(sources.INSTANCES, read, action=sources.INTERFACES_ACTION) or frozenset()


def _groups_referencing(collector: RegionCollector, prefix_list_ids: frozenset[str]) -> frozenset[str]:
    """The groups with an inbound rule on one of the prefix lists. The region's groups are read
    page by page and matched here (bounded by the groups' own count, never the instances): the
    prefix-list filter of DescribeSecurityGroups is not offered everywhere the scanner runs."""
    if not prefix_list_ids:
        return frozenset()

    def read(calls: Any, ec2: Any) -> frozenset[str]:
        found: set[str] = set()
        for page in calls.pages(ec2, sources.GROUPS_ACTION, "describe_security_groups", "SecurityGroups"):
            for group in page:
                referenced = {
                    entry.get("PrefixListId")
                    for permission in group.get("IpPermissions", [])
                    for entry in permission.get("PrefixListIds", [])
                }
                if referenced & prefix_list_ids:
                    found.add(group["GroupId"])
        return frozenset(found)

    return collector.read(sources.SECURITY_GROUPS, read, action=sources.GROUPS_ACTION) or frozenset()


def _list(collector: RegionCollector, name: str, values: frozenset[str], found: dict[str, InstanceRecord]) -> None:
    """The instances matching `name` for any of `values`, ID_BATCH values a listing, into `found`."""
    ordered = sorted(values)
    for start in range(0, len(ordered), ID_BATCH):
        for page in collector.pages([{"Name": name, "Values": ordered[start : start + ID_BATCH]}]):
            for record in page:
                found.setdefault(record.instance_id, record)


def _templates(
    collector: RegionCollector, targets: Targets, needed: frozenset[str], observed_at: datetime
) -> tuple[list[LaunchTemplateRecord], frozenset[str]]:
    if sources.LAUNCH_TEMPLATES not in needed or not (targets.launch_template_ids or targets.launch_template_names):
        return [], frozenset()

    def read(calls: Any, ec2: Any) -> tuple[list[LaunchTemplateRecord], frozenset[str]]:
        return launch_templates_named(
            calls, ec2, targets.region, observed_at, targets.launch_template_ids, targets.launch_template_names
        )

    return collector.read(sources.LAUNCH_TEMPLATES, read) or ([], frozenset())


def _default_groups(
    collector: RegionCollector, targets: Targets, needed: frozenset[str], observed_at: datetime
) -> list[SecurityGroupRecord]:
    if sources.DEFAULT_SECURITY_GROUPS not in needed or not targets.security_group_ids:
        return []

    known, unread = collector.groups_read(targets.security_group_ids)

    def read(calls: Any, ec2: Any) -> list[SecurityGroupRecord]:
        return default_security_groups_among(calls, ec2, targets.region, observed_at, unread, known)

    return collector.read(sources.DEFAULT_SECURITY_GROUPS, read) or []
