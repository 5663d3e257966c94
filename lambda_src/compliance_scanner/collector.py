"""Collects one region's instances and the data their rules need, in batched calls.

Cloud Custodian style: page through DescribeInstances once, then fetch security groups and images
only for the ids seen, a batch of ids per call, and the unencrypted volumes of the region, so the
number of API calls grows with pages rather than with instances. Only the per-instance
attributes of opt-in rules cost one call per instance. Every call first asks the time budget, and
a failing call is recorded as an error while the rest of the region is still collected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from . import sources
from .budget import BudgetExhausted, TimeBudget
from .clients import make_client
from .model import InstanceRecord, ScanError
from .normalize import (
    Lookups,
    decode_user_data,
    image_from_api,
    instance_from_api,
    security_group_from_api,
    security_group_ids,
)

PAGE_SIZE = 1000
ID_BATCH = 200
SSM_PAGE_SIZE = 50
VOLUME_PAGE_SIZE = 500
LIVE_STATES = ("pending", "running", "stopping", "stopped")

API_ERRORS = (ClientError, BotoCoreError, NotImplementedError)
"""What one failing call may raise. NotImplementedError is what emulators such as moto raise for
an operation they lack; catching it keeps the local demo scanning instead of crashing."""

Progress = Callable[[str, int], None]


@dataclass
class RegionScan:
    """The outcome of one region: records, errors, and whether collection was cut short."""

    region: str
    instances: list[InstanceRecord] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    owner_id: str | None = None
    complete: bool = True
    stopped_reason: str | None = None


def error_from(region: str, operation: str, exc: Exception) -> ScanError:
    """The report's error entry: AWS's own code and message when it sent one."""
    if isinstance(exc, ClientError):
        details = exc.response.get("Error", {})
        return ScanError(
            region, operation, details.get("Code", "Unknown"), details.get("Message", str(exc))
        )
    return ScanError(region, operation, type(exc).__name__, str(exc))


def _batches(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class _Calls:
    """The API calls of one region: each is preceded by a budget check."""

    def __init__(self, region: str, budget: TimeBudget) -> None:
        self.region = region
        self.budget = budget

    def call(self, client: Any, operation: str, method: str, **params: Any) -> dict[str, Any]:
        self.budget.check(operation, self.region)
        return getattr(client, method)(**params)

    def pages(
        self, client: Any, operation: str, method: str, key: str, **params: Any
    ) -> Iterator[list[Any]]:
        """Items of every page, following NextToken."""
        token = None
        while True:
            extra = {"NextToken": token} if token else {}
            response = self.call(client, operation, method, **params, **extra)
            yield response.get(key, [])
            token = response.get("NextToken")
            if not token:
                return

    def by_id_filter(
        self,
        client: Any,
        operation: str,
        method: str,
        key: str,
        filter_name: str,
        ids: list[str],
        **params: Any,
    ) -> list[Any]:
        """Items for `ids`, a filter of up to ID_BATCH values per call.

        A filter, unlike an id list, does not fail the whole batch when one id has vanished.
        """
        items: list[Any] = []
        for batch in _batches(sorted(set(ids)), ID_BATCH):
            filters = [{"Name": filter_name, "Values": batch}]
            for page in self.pages(client, operation, method, key, Filters=filters, **params):
                items.extend(page)
        return items


@dataclass
class _Region:
    """What the fetchers of one region share: its calls, clients and listed instances."""

    calls: _Calls
    session: boto3.session.Session
    ec2: Any
    raws: list[tuple[str | None, Mapping[str, Any]]] = field(default_factory=list)

    def instance_ids(self) -> list[str]:
        return [raw["InstanceId"] for _, raw in self.raws]

    def referenced(self, ids_of: Callable[[Mapping[str, Any]], list[str]]) -> list[str]:
        return [item for _, raw in self.raws for item in ids_of(raw)]


def _image_ids(raw: Mapping[str, Any]) -> list[str]:
    return [raw["ImageId"]] if raw.get("ImageId") else []


def _volumes(region: _Region) -> dict[str, Any]:
    """The region's unencrypted attached volumes: every other volume in a block device mapping
    is encrypted. Asking for the exceptions instead of every volume by id costs no call per 200
    volumes, and nothing at all in an estate that encrypts by default."""
    unencrypted: set[str] = set()
    for page in region.calls.pages(
        region.ec2,
        "ec2:DescribeVolumes",
        "describe_volumes",
        "Volumes",
        Filters=[
            {"Name": "encrypted", "Values": ["false"]},
            {"Name": "attachment.status", "Values": ["attaching", "attached", "detaching"]},
        ],
        MaxResults=VOLUME_PAGE_SIZE,
    ):
        unencrypted.update(volume["VolumeId"] for volume in page)
    return {"unencrypted_volumes": frozenset(unencrypted)}


def _security_groups(region: _Region) -> dict[str, Any]:
    found = region.calls.by_id_filter(
        region.ec2,
        "ec2:DescribeSecurityGroups",
        "describe_security_groups",
        "SecurityGroups",
        "group-id",
        region.referenced(security_group_ids),
    )
    return {"security_groups": {g["GroupId"]: security_group_from_api(g) for g in found}}


def _images(region: _Region) -> dict[str, Any]:
    """Deprecated images are included: they are exactly what ami_deprecated looks for."""
    found = region.calls.by_id_filter(
        region.ec2,
        "ec2:DescribeImages",
        "describe_images",
        "Images",
        "image-id",
        region.referenced(_image_ids),
        IncludeDeprecated=True,
    )
    return {"images": {i["ImageId"]: image_from_api(i) for i in found}}


def _ssm(region: _Region) -> dict[str, Any]:
    """Every managed EC2 node of the region, rather than id-filtered batches: SSM pages hold at
    most 50 entries either way, and listing costs calls only for instances that are managed."""
    ssm = make_client(region.session, "ssm", region.calls.region)
    managed: set[str] = set()
    for page in region.calls.pages(
        ssm,
        "ssm:DescribeInstanceInformation",
        "describe_instance_information",
        "InstanceInformationList",
        Filters=[{"Key": "ResourceType", "Values": ["EC2Instance"]}],
        MaxResults=SSM_PAGE_SIZE,
    ):
        managed.update(item["InstanceId"] for item in page)
    return {"ssm_managed": frozenset(managed)}


def _attribute(
    region: _Region, attribute: str, key: str, convert: Callable[[Any], Any]
) -> dict[str, Any]:
    """One DescribeInstanceAttribute call per instance: the API has no batch form, which is why
    only opt-in rules use it. Returns the converted `<key>.Value` per instance id."""
    values = {}
    for instance_id in region.instance_ids():
        response = region.calls.call(
            region.ec2,
            "ec2:DescribeInstanceAttribute",
            "describe_instance_attribute",
            InstanceId=instance_id,
            Attribute=attribute,
        )
        values[instance_id] = convert(response.get(key, {}).get("Value"))
    return values


def _termination(region: _Region) -> dict[str, Any]:
    protected = _attribute(region, "disableApiTermination", "DisableApiTermination", bool)
    return {"termination_protection": protected}


def _user_data(region: _Region) -> dict[str, Any]:
    return {"user_data": _attribute(region, "userData", "UserData", decode_user_data)}


FETCHERS: dict[str, Callable[[_Region], dict[str, Any]]] = {
    sources.VOLUMES: _volumes,
    sources.SECURITY_GROUPS: _security_groups,
    sources.IMAGES: _images,
    sources.SSM: _ssm,
    sources.TERMINATION_PROTECTION: _termination,
    sources.USER_DATA: _user_data,
}
"""Enrichment steps in call order; each returns keyword arguments for `Lookups`."""


def collect_region(
    session: boto3.session.Session,
    region: str,
    needed: frozenset[str],
    budget: TimeBudget,
    observed_at: datetime,
    on_progress: Progress | None = None,
) -> RegionScan:
    """Collect one region; API failures and an exhausted budget are recorded, never raised."""
    result = RegionScan(region)
    context = _Region(_Calls(region, budget), session, make_client(session, "ec2", region))
    parts: dict[str, Any] = {}
    fetched: set[str] = set()
    try:
        _list_instances(context, result, on_progress)
        for source, fetch in FETCHERS.items():
            if source in needed and context.raws:
                try:
                    parts.update(fetch(context))
                    fetched.add(source)
                except API_ERRORS as exc:
                    result.errors.append(error_from(region, sources.IAM_ACTIONS[source], exc))
    except BudgetExhausted as exc:
        result.complete = False
        result.stopped_reason = str(exc)
    lookups = Lookups(**parts, unavailable=frozenset(FETCHERS) - fetched)
    result.instances = [
        instance_from_api(raw, region, owner, observed_at, lookups) for owner, raw in context.raws
    ]
    return result


def _list_instances(context: _Region, result: RegionScan, on_progress: Progress | None) -> None:
    """Page through live instances; a failure keeps the pages already read."""
    filters = [{"Name": "instance-state-name", "Values": list(LIVE_STATES)}]
    try:
        for page in context.calls.pages(
            context.ec2,
            "ec2:DescribeInstances",
            "describe_instances",
            "Reservations",
            Filters=filters,
            MaxResults=PAGE_SIZE,
        ):
            for reservation in page:
                owner = reservation.get("OwnerId")
                result.owner_id = result.owner_id or owner
                context.raws.extend((owner, raw) for raw in reservation.get("Instances", []))
            if on_progress is not None:
                on_progress(result.region, len(context.raws))
    except API_ERRORS as exc:
        result.complete = False
        result.errors.append(error_from(result.region, "ec2:DescribeInstances", exc))
