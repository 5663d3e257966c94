"""Collects one region's instances and the data their rules need, in batched calls.

Cloud Custodian style: page through DescribeInstances once, then fetch security groups and images
only for the ids seen, a batch of ids per call, and the unencrypted volumes of the region, so the
number of API calls grows with pages rather than with instances. Only the per-instance
attributes of opt-in rules cost one call per instance (run with bounded concurrency). The
describes that do not depend on each other (volumes, security groups with their prefix lists,
images, SSM) overlap. Every call first asks the time budget, and a failing call is recorded as an
error while the rest of the region is still collected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from . import sources
from .budget import BudgetExhausted, TimeBudget
from .clients import RETRY_CONFIG, make_client
from .model import AccountRecord, InstanceRecord, LaunchTemplateRecord, ScanError, SecurityGroupRecord
from .region_resources import ACCOUNT_FETCHERS, RESOURCE_LISTERS
from .normalize import (
    Lookups,
    UndecodableUserData,
    decode_user_data,
    image_from_api,
    instance_from_api,
    prefix_list_ids,
    route_tables_from_api,
    security_group_from_api,
    security_group_ids,
    ssm_status_from_api,
)

PAGE_SIZE = 1000
ID_BATCH = 200
SSM_PAGE_SIZE = 50
VOLUME_PAGE_SIZE = 500
PREFIX_LIST_PAGE_SIZE = 100
LIVE_STATES = ("pending", "running", "stopping", "stopped")
FETCH_WORKERS = 4
ATTRIBUTE_WORKERS = 8
NOT_FOUND_CODES = ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")
UNAVAILABLE_CODE = "OperationUnavailable"
SINGLE_ATTEMPT = RETRY_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))

API_ERRORS = (ClientError, BotoCoreError, NotImplementedError, ResponseParserError)
"""What one failing call may raise. NotImplementedError is what emulators such as moto raise for
an operation they lack, and ResponseParserError what botocore raises when an XML API answers with
an HTML error page (an emulator's server again); catching them keeps the scan going."""

Progress = Callable[[str, int], None]


@dataclass
class RegionScan:
    """The outcome of one region: records, errors, and whether collection was cut short."""

    region: str
    instances: list[InstanceRecord] = field(default_factory=list)
    resources: list[LaunchTemplateRecord | SecurityGroupRecord | AccountRecord] = field(default_factory=list)
    """The region's launch templates, default security groups and account guardrail record (when
    rules need them)."""
    errors: list[ScanError] = field(default_factory=list)
    owner_id: str | None = None
    complete: bool = True
    stopped_reason: str | None = None


class OperationUnavailable(Exception):
    """The endpoint does not offer the operation (an emulator, a partition without the service)."""


def not_offered(exc: Exception) -> bool:
    """An error that no AWS service sends: NotImplementedError, an HTTP status with a non-AWS body
    (an HTML error page) where botocore found no error code to parse, or an XML API's answer that
    is not XML at all."""
    if isinstance(exc, (NotImplementedError, ResponseParserError)):
        return True
    if isinstance(exc, ClientError):
        details = exc.response.get("Error", {})
        return str(details.get("Code", "")).isdigit() or str(details.get("Message", "")).lstrip().startswith("<")
    return False


def error_from(region: str, operation: str, exc: Exception) -> ScanError:
    """The report's error entry: AWS's own code and message when it sent one, on one line."""
    if isinstance(exc, OperationUnavailable) or not_offered(exc):
        return ScanError(region, operation, UNAVAILABLE_CODE, f"{operation} is not offered by this endpoint")
    if isinstance(exc, ClientError):
        details = exc.response.get("Error", {})
        return ScanError(
            region, operation, details.get("Code", "Unknown"), _first_line(details.get("Message", str(exc)))
        )
    return ScanError(region, operation, type(exc).__name__, _first_line(str(exc)))


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


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

    def probe(self, probe: Any, client: Any, operation: str, method: str, **params: Any) -> dict[str, Any]:
        """Ask once without retries (`probe` is a single-attempt client), then as usual.

        An endpoint that does not offer the operation (an emulator answering with an HTML 500)
        is reported in one line instead of after a storm of retries; any other failure of the
        first attempt is retried with `client`'s adaptive retries.
        """
        try:
            return self.call(probe, operation, method, **params)
        except API_ERRORS as exc:
            if not_offered(exc):
                raise OperationUnavailable(operation) from None
        return self.call(client, operation, method, **params)

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
    needed: frozenset[str] = frozenset()
    errors: list[ScanError] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _probe: Any = None

    def report(self, error: ScanError) -> None:
        """Errors a fetcher records without failing as a whole (fetchers run concurrently)."""
        with self._lock:
            self.errors.append(error)

    def probe_ec2(self) -> Any:
        """The region's single-attempt EC2 client for `_Calls.probe`, made once (making a client
        costs CPU that the concurrent fetchers would otherwise spend five times over)."""
        with self._lock:
            if self._probe is None:
                self._probe = self.session.client("ec2", region_name=self.calls.region, config=SINGLE_ATTEMPT)
            return self._probe

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
    """The instances' groups, with the managed prefix lists they name resolved to CIDRs.

    Each list is read once per region; a list that cannot be read leaves its groups marked
    unresolved (their exposure rules are skipped, never guessed) and is reported as an error.
    """
    found = region.calls.by_id_filter(
        region.ec2,
        "ec2:DescribeSecurityGroups",
        "describe_security_groups",
        "SecurityGroups",
        "group-id",
        region.referenced(security_group_ids),
    )
    resolved: dict[str, tuple[str, ...]] = {}
    wanted = {i for group in found for i in prefix_list_ids(group)} if sources.PREFIX_LISTS in region.needed else ()
    for list_id in sorted(wanted):
        try:
            resolved[list_id] = _prefix_list_entries(region, list_id)
        except API_ERRORS as exc:
            region.report(error_from(region.calls.region, sources.IAM_ACTIONS[sources.PREFIX_LISTS], exc))
    return {"security_groups": {g["GroupId"]: security_group_from_api(g, resolved) for g in found}}


def _prefix_list_entries(region: _Region, list_id: str) -> tuple[str, ...]:
    cidrs: list[str] = []
    for page in region.calls.pages(
        region.ec2,
        "ec2:GetManagedPrefixListEntries",
        "get_managed_prefix_list_entries",
        "Entries",
        PrefixListId=list_id,
        MaxResults=PREFIX_LIST_PAGE_SIZE,
    ):
        cidrs.extend(entry["Cidr"] for entry in page)
    return tuple(cidrs)


def _vpc_ids(raw: Mapping[str, Any]) -> list[str]:
    return [raw["VpcId"]] if raw.get("VpcId") else []


def _route_tables(region: _Region) -> dict[str, Any]:
    """Every route table of the instances' VPCs, a batch of VPC ids per call: one table list gives
    both the explicit subnet associations and each VPC's main table. The instance itself names
    its subnet and VPC, so DescribeSubnets would add a call and a permission for nothing."""
    tables = region.calls.by_id_filter(
        region.ec2,
        "ec2:DescribeRouteTables",
        "describe_route_tables",
        "RouteTables",
        "vpc-id",
        region.referenced(_vpc_ids),
    )
    subnet_routes, main_routes = route_tables_from_api(tables)
    return {"subnet_routes": subnet_routes, "main_routes": main_routes}


def _images(region: _Region) -> dict[str, Any]:
    """Deprecated and disabled images are included: ami_deprecated tells them apart, and a
    disabled image is not a vanished one."""
    found = region.calls.by_id_filter(
        region.ec2,
        "ec2:DescribeImages",
        "describe_images",
        "Images",
        "image-id",
        region.referenced(_image_ids),
        IncludeDeprecated=True,
        IncludeDisabled=True,
    )
    return {"images": {i["ImageId"]: image_from_api(i) for i in found}}


def _ssm(region: _Region) -> dict[str, Any]:
    """Every managed EC2 node of the region with its ping status, rather than id-filtered batches:
    SSM pages hold at most 50 entries either way, and listing costs calls only for managed nodes.

    The first page is asked through `_Calls.probe`: an endpoint without SSM inventory (an
    emulator) is reported in one line.
    """
    operation = "ssm:DescribeInstanceInformation"
    params: dict[str, Any] = {
        "Filters": [{"Key": "ResourceType", "Values": ["EC2Instance"]}],
        "MaxResults": SSM_PAGE_SIZE,
    }
    probe = region.session.client("ssm", region_name=region.calls.region, config=SINGLE_ATTEMPT)
    ssm = make_client(region.session, "ssm", region.calls.region)
    first = region.calls.probe(probe, ssm, operation, "describe_instance_information", **params)
    items = list(first.get("InstanceInformationList", []))
    if first.get("NextToken"):
        for page in region.calls.pages(
            ssm, operation, "describe_instance_information", "InstanceInformationList",
            NextToken=first["NextToken"], **params,
        ):
            items.extend(page)
    return {"ssm": {item["InstanceId"]: ssm_status_from_api(item) for item in items}}


def _attribute(
    region: _Region, attribute: str, key: str
) -> dict[str, Any]:
    """One DescribeInstanceAttribute call per instance: the API has no batch form, which is why
    only opt-in rules use it. The calls run with bounded concurrency; an instance terminated
    mid-scan (`InvalidInstanceID.NotFound`) drops out on its own instead of failing the region.
    Returns the raw `<key>.Value` per instance id."""

    def one(instance_id: str) -> tuple[str, Any] | None:
        try:
            response = region.calls.call(
                region.ec2,
                "ec2:DescribeInstanceAttribute",
                "describe_instance_attribute",
                InstanceId=instance_id,
                Attribute=attribute,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
                return None
            raise
        return instance_id, response.get(key, {}).get("Value")

    with ThreadPoolExecutor(max_workers=ATTRIBUTE_WORKERS) as pool:
        return dict(pair for pair in pool.map(one, region.instance_ids()) if pair is not None)


def _termination(region: _Region) -> dict[str, Any]:
    values = _attribute(region, "disableApiTermination", "DisableApiTermination")
    return {"termination_protection": {i: bool(v) for i, v in values.items()}}


def _user_data(region: _Region) -> dict[str, Any]:
    """Decoded user data; an instance whose data cannot be decoded skips its rule, with why."""
    texts: dict[str, str] = {}
    problems: dict[str, str] = {}
    for instance_id, encoded in _attribute(region, "userData", "UserData").items():
        try:
            texts[instance_id] = decode_user_data(encoded)
        except UndecodableUserData as exc:
            problems[instance_id] = str(exc)
    return {"user_data": texts, "user_data_errors": problems}


FETCHERS: dict[str, Callable[[_Region], dict[str, Any]]] = {
    sources.VOLUMES: _volumes,
    sources.SECURITY_GROUPS: _security_groups,
    sources.IMAGES: _images,
    sources.SSM: _ssm,
    sources.TERMINATION_PROTECTION: _termination,
    sources.USER_DATA: _user_data,
    sources.ROUTE_TABLES: _route_tables,
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
    """Collect one region; API failures and an exhausted budget are recorded, never raised.

    What the region holds besides instances (guardrails, launch templates) does not depend on the
    instance listing, so it is read while the instances are paged: on a large region those calls
    cost no wall time at all. Their calls check the same budget as every other.
    """
    result = RegionScan(region)
    context = _Region(_Calls(region, budget), session, make_client(session, "ec2", region), needed=needed)
    parts: dict[str, Any] = {}
    fetched: set[str] = set()
    with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
        regional = {
            source: pool.submit(_fetch, fetch, context) for source, fetch in _regional_fetchers(needed, observed_at).items()
        }
        try:
            _list_instances(context, result, on_progress)
        except BudgetExhausted as exc:
            result.complete, result.stopped_reason = False, str(exc)
        wanted = [s for s in FETCHERS if s in needed and context.raws] if result.stopped_reason is None else []
        futures = {source: pool.submit(_fetch, FETCHERS[source], context) for source in wanted}
        futures.update(regional)
    for source, future in futures.items():
        outcome = future.result()
        if isinstance(outcome, BudgetExhausted):
            result.complete = False
            result.stopped_reason = result.stopped_reason or str(outcome)
        elif isinstance(outcome, Exception):
            result.errors.append(error_from(region, sources.IAM_ACTIONS[source], outcome))
        else:
            parts.update(outcome)
            fetched.add(source)
    result.errors.extend(context.errors)
    if sources.SECURITY_GROUPS in fetched and sources.PREFIX_LISTS in needed:
        fetched.add(sources.PREFIX_LISTS)
    listed = [record for source in RESOURCE_LISTERS for record in parts.pop(source, [])]
    account = {key: parts.pop(key) for key in list(parts) if key in _ACCOUNT_FIELDS}
    lookups = Lookups(**parts, unavailable=frozenset((*FETCHERS, sources.PREFIX_LISTS)) - fetched)
    result.instances = [
        instance_from_api(raw, region, owner, observed_at, lookups) for owner, raw in context.raws
    ]
    result.resources = listed
    if any(source in regional and source not in fetched for source in RESOURCE_LISTERS):
        result.complete = False  # templates or groups not listed must not pass for fixed ones
    account_sources = [source for source in ACCOUNT_FETCHERS if source in regional]
    if account_sources:
        result.resources.append(
            AccountRecord(
                account_id=result.owner_id,
                region=region,
                observed_at=observed_at,
                **account,
                unavailable=frozenset(account_sources) - fetched,
            )
        )
    return result


_ACCOUNT_FIELDS = frozenset(field.name for field in dataclass_fields(AccountRecord))


def _regional_fetchers(needed: frozenset[str], observed_at: datetime) -> dict[str, Callable[[_Region], dict[str, Any]]]:
    """Fetchers for what a region holds besides instances, run whether or not it has any."""
    fetchers: dict[str, Callable[[_Region], dict[str, Any]]] = {
        source: (lambda context, fetch=fetch: fetch(context.calls, context.ec2, context.probe_ec2()))
        for source, fetch in ACCOUNT_FETCHERS.items()
        if source in needed
    }
    fetchers.update({
        source: (lambda context, source=source, lister=lister: {
            source: lister(context.calls, context.ec2, context.calls.region, observed_at)
        })
        for source, lister in RESOURCE_LISTERS.items()
        if source in needed
    })  # fmt: skip
    return fetchers


def _fetch(fetch: Callable[[_Region], dict[str, Any]], context: _Region) -> dict[str, Any] | Exception:
    """Run one fetcher; its failure is returned, to be recorded in the fetchers' fixed order."""
    try:
        return fetch(context)
    except (*API_ERRORS, OperationUnavailable, BudgetExhausted) as exc:
        return exc


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
