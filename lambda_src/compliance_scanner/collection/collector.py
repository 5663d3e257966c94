"""Collects one region's instances and the data their rules need, one page at a time, in
batched calls.

Cloud Custodian style: page through DescribeInstances (1,000 a page), and for each page fetch the
security groups, images and route tables only for the ids that page names and the region has not
read yet, and the page's unencrypted volumes, a batch of ids per call, so API calls grow with
pages rather than with instances. What is cached per region is bounded by its own count (groups,
prefix lists, images, route tables), never by the instances: a page's records are handed to the
caller and dropped before the next page is read, so memory does not grow with the fleet. Only the
per-instance attributes of opt-in rules cost one call per instance (bounded concurrency). The describes of one page that do not depend on each
other overlap. Every call first asks the time budget, and a failing call is recorded as an error
while the rest of the region is still collected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from .. import sources
from ..model import AccountRecord, InstanceRecord, LaunchTemplateRecord, ScanError, SecurityGroupRecord
from .budget import BudgetExhausted, TimeBudget
from .clients import RETRY_CONFIG, make_client
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
from .region_resources import ACCOUNT_FETCHERS, RESOURCE_LISTERS, Fetch, Lister, is_default_group

if TYPE_CHECKING:
    from types_boto3_ec2 import EC2Client

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
_T = TypeVar("_T")


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
    """The API calls of one region: each is preceded by a budget check, and counted."""

    def __init__(self, region: str, budget: TimeBudget) -> None:
        self.region = region
        self.budget = budget
        self.not_offered: set[str] = set()
        """Operations the endpoint answered as not offered: not asked again on later pages."""
        self.made = 0
        """Calls sent (answered or failed), what a collection costs; the fetchers run concurrently."""
        self._lock = threading.Lock()

    def call(self, client: Any, operation: str, method: str, **params: Any) -> dict[str, Any]:
        self.budget.check(operation, self.region)
        with self._lock:
            self.made += 1
        response: dict[str, Any] = getattr(client, method)(**params)
        return response

    def probe(self, probe: Any, client: Any, operation: str, method: str, **params: Any) -> dict[str, Any]:
        """Ask once without retries (`probe` is a single-attempt client), then as usual.

        An endpoint that does not offer the operation (an emulator answering with an HTML 500)
        is reported in one line instead of after a storm of retries, and not asked again in this
        region; any other failure of the first attempt is retried with `client`'s adaptive
        retries.
        """
        if operation in self.not_offered:
            raise OperationUnavailable(operation)
        try:
            return self.call(probe, operation, method, **params)
        except API_ERRORS as exc:
            if not_offered(exc):
                self.not_offered.add(operation)
                raise OperationUnavailable(operation) from None
        return self.call(client, operation, method, **params)

    def pages(self, client: Any, operation: str, method: str, key: str, **params: Any) -> Iterator[list[Any]]:
        """Items of every page, following NextToken (a NextToken in `params` is where to start;
        each answer's token replaces it)."""
        token = None
        while True:
            extra: dict[str, str] = {"NextToken": token} if token else {}
            response = self.call(client, operation, method, **{**params, **extra})
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
        extra_filters: list[dict[str, Any]] | None = None,
        **params: Any,
    ) -> list[Any]:
        """Items for `ids`, a filter of up to ID_BATCH values per call.

        A filter, unlike an id list, does not fail the whole batch when one id has vanished.
        """
        items: list[Any] = []
        for batch in _batches(sorted(set(ids)), ID_BATCH):
            filters = [{"Name": filter_name, "Values": batch}, *(extra_filters or [])]
            for page in self.pages(client, operation, method, key, Filters=filters, **params):
                items.extend(page)
        return items


@dataclass
class _Region:
    """What the fetchers of one region share: its calls, clients, caches and the current page."""

    calls: _Calls
    session: boto3.session.Session
    ec2: EC2Client
    needed: frozenset[str] = frozenset()
    raws: list[tuple[str | None, Mapping[str, Any]]] = field(default_factory=list)
    """The page being enriched."""
    errors: list[ScanError] = field(default_factory=list)
    security_groups: dict[str, Any] = field(default_factory=dict)
    default_groups: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """The VPC default groups among those read, as the API gave them, when the default-group rule
    needs them: a re-evaluation of a changed group need not read it a second time."""
    prefix_lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    images: dict[str, Any] = field(default_factory=dict)
    subnet_routes: dict[str, Any] = field(default_factory=dict)
    main_routes: dict[str, Any] = field(default_factory=dict)
    asked: dict[str, set[str]] = field(default_factory=dict)
    """Per cached source, the ids already asked for (found or not): never asked twice."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _probe: EC2Client | None = None
    _seen_errors: set[tuple[str, str, str]] = field(default_factory=set)

    def report(self, error: ScanError) -> None:
        """Errors a fetcher records without failing as a whole (fetchers run concurrently); the
        same failure on every page is recorded once."""
        with self._lock:
            key = (error.operation, error.code, error.message)
            if key not in self._seen_errors:
                self._seen_errors.add(key)
                self.errors.append(error)

    def probe_ec2(self) -> EC2Client:
        """The region's single-attempt EC2 client for `_Calls.probe`, made once (making a client
        costs CPU that the concurrent fetchers would otherwise spend five times over)."""
        with self._lock:
            if self._probe is None:
                self._probe = self.session.client("ec2", region_name=self.calls.region, config=SINGLE_ATTEMPT)
            return self._probe

    def instance_ids(self) -> list[str]:
        return [raw["InstanceId"] for _, raw in self.raws]

    def not_yet_asked(self, source: str, ids_of: Callable[[Mapping[str, Any]], list[str]]) -> list[str]:
        """The ids this page references that the region has not asked for yet."""
        asked = self.asked.setdefault(source, set())
        return sorted({item for _, raw in self.raws for item in ids_of(raw)} - asked)

    def mark_asked(self, source: str, ids: list[str]) -> None:
        self.asked.setdefault(source, set()).update(ids)


def _image_ids(raw: Mapping[str, Any]) -> list[str]:
    return [raw["ImageId"]] if raw.get("ImageId") else []


def _volumes(region: _Region) -> dict[str, Any]:
    """The page's unencrypted attached volumes: every other volume in a block device mapping is
    encrypted. Asking for the exceptions, a batch of instance ids per call, costs nothing more
    than those calls in an estate that encrypts by default, and the answer is bounded by the
    page (an emulator that ignores MaxResults cannot hand back the whole region at once)."""
    found = region.calls.by_id_filter(
        region.ec2,
        "ec2:DescribeVolumes",
        "describe_volumes",
        "Volumes",
        "attachment.instance-id",
        region.instance_ids(),
        extra_filters=[
            {"Name": "encrypted", "Values": ["false"]},
            {"Name": "attachment.status", "Values": ["attaching", "attached", "detaching"]},
        ],
        MaxResults=VOLUME_PAGE_SIZE,
    )
    return {"unencrypted_volumes": frozenset(volume["VolumeId"] for volume in found)}


def _security_groups(region: _Region) -> dict[str, Any]:
    """The page's groups not read yet, with the managed prefix lists they name resolved to CIDRs.

    Each list is read once per region; a list that cannot be read leaves its groups marked
    unresolved (their exposure rules are skipped, never guessed) and is reported as an error.
    """
    wanted_groups = region.not_yet_asked(sources.SECURITY_GROUPS, security_group_ids)
    found = region.calls.by_id_filter(
        region.ec2,
        "ec2:DescribeSecurityGroups",
        "describe_security_groups",
        "SecurityGroups",
        "group-id",
        wanted_groups,
    )
    if sources.PREFIX_LISTS in region.needed:
        wanted = {i for group in found for i in prefix_list_ids(group)} - region.asked.setdefault(
            sources.PREFIX_LISTS, set()
        )
        for list_id in sorted(wanted):
            try:
                region.prefix_lists[list_id] = _prefix_list_entries(region, list_id)
                region.mark_asked(sources.PREFIX_LISTS, [list_id])
            except API_ERRORS as exc:
                region.report(error_from(region.calls.region, sources.IAM_ACTIONS[sources.PREFIX_LISTS], exc))
    region.security_groups.update({g["GroupId"]: security_group_from_api(g, region.prefix_lists) for g in found})
    if sources.DEFAULT_SECURITY_GROUPS in region.needed:
        region.default_groups.update({g["GroupId"]: g for g in found if is_default_group(g)})
    region.mark_asked(sources.SECURITY_GROUPS, wanted_groups)
    return {"security_groups": region.security_groups}


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
    """Every route table of the page's VPCs not read yet, a batch of VPC ids per call: one table
    list gives both the explicit subnet associations and each VPC's main table. The instance
    itself names its subnet and VPC, so DescribeSubnets would add a call and a permission for
    nothing."""
    wanted = region.not_yet_asked(sources.ROUTE_TABLES, _vpc_ids)
    tables = region.calls.by_id_filter(
        region.ec2,
        "ec2:DescribeRouteTables",
        "describe_route_tables",
        "RouteTables",
        "vpc-id",
        wanted,
    )
    subnet_routes, main_routes = route_tables_from_api(tables)
    region.subnet_routes.update(subnet_routes)
    region.main_routes.update(main_routes)
    region.mark_asked(sources.ROUTE_TABLES, wanted)
    return {"subnet_routes": region.subnet_routes, "main_routes": region.main_routes}


def _images(region: _Region) -> dict[str, Any]:
    """The page's images not read yet. Deprecated and disabled images are included:
    ami_deprecated tells them apart, and a disabled image is not a vanished one."""
    wanted = region.not_yet_asked(sources.IMAGES, _image_ids)
    found = region.calls.by_id_filter(
        region.ec2,
        "ec2:DescribeImages",
        "describe_images",
        "Images",
        "image-id",
        wanted,
        IncludeDeprecated=True,
        IncludeDisabled=True,
    )
    region.images.update({i["ImageId"]: image_from_api(i) for i in found})
    region.mark_asked(sources.IMAGES, wanted)
    return {"images": region.images}


def _ssm(region: _Region) -> dict[str, Any]:
    """The page's managed nodes with their ping status, 50 instance ids a call (SSM's page size):
    as many calls as listing the region's managed nodes would cost when most instances are
    managed, and the answer is bounded by the page.

    The first call is asked through `_Calls.probe`: an endpoint without SSM inventory (an
    emulator) is reported in one line.
    """
    operation = "ssm:DescribeInstanceInformation"
    probe = region.session.client("ssm", region_name=region.calls.region, config=SINGLE_ATTEMPT)
    ssm = make_client(region.session, "ssm", region.calls.region)
    items: list[Mapping[str, Any]] = []
    for number, batch in enumerate(_batches(region.instance_ids(), SSM_PAGE_SIZE)):
        params: dict[str, Any] = {"Filters": [{"Key": "InstanceIds", "Values": batch}], "MaxResults": SSM_PAGE_SIZE}
        first = (
            region.calls.call(ssm, operation, "describe_instance_information", **params)
            if number
            else region.calls.probe(probe, ssm, operation, "describe_instance_information", **params)
        )
        items.extend(first.get("InstanceInformationList", []))
        if first.get("NextToken"):
            for page in region.calls.pages(
                ssm,
                operation,
                "describe_instance_information",
                "InstanceInformationList",
                NextToken=first["NextToken"],
                **params,
            ):
                items.extend(page)
    return {"ssm": {item["InstanceId"]: ssm_status_from_api(item) for item in items}}


def _attribute(region: _Region, attribute: str, key: str) -> dict[str, Any]:
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
"""Per-page enrichment steps in call order; each returns keyword arguments for `Lookups`."""

PAGE_SOURCES = (*FETCHERS, sources.PREFIX_LISTS)
"""Every source an instance record can lack."""


class RegionCollector:
    """One region, collected a page at a time: `pages()` yields each page's instance records,
    then `resources()` returns what the region holds besides instances (launch templates, default
    security groups, the account guardrail record). API failures and an exhausted budget are
    recorded (`errors`, `complete`, `stopped_reason`), never raised.

    What the region holds besides instances does not depend on the instance listing, so it is
    read while the instances are paged: on a large region those calls cost no wall time at all.
    `start_token` resumes the listing at a DescribeInstances NextToken; `next_token` is where it
    stopped when the budget ran out (None once the listing is complete), so a caller can continue
    in a later invocation without reading a page twice or skipping one. `regional_sources` narrows
    the region's own reads to those named (a re-evaluation that needs the guardrails alone), and
    `pages(instance_filters)` lists only some instances: together they collect a few resources
    with the very fetchers, and so the very records, of a full scan.
    """

    def __init__(
        self,
        session: boto3.session.Session,
        region: str,
        needed: frozenset[str],
        budget: TimeBudget,
        observed_at: datetime,
        on_progress: Progress | None = None,
        *,
        start_token: str | None = None,
        region_wide: bool = True,
        regional_sources: Collection[str] | None = None,
    ) -> None:
        self.region = region
        self.needed = needed
        self.observed_at = observed_at
        self.on_progress = on_progress
        self.start_token = start_token
        self.next_token: str | None = None
        self.owner_id: str | None = None
        self.complete = True
        self.stopped_reason: str | None = None
        self.listed = 0
        self.errors: list[ScanError] = []
        self._context = _Region(_Calls(region, budget), session, make_client(session, "ec2", region), needed=needed)
        self._pool = ThreadPoolExecutor(max_workers=FETCH_WORKERS)
        self._regional = (
            {
                source: self._pool.submit(_fetch, fetch, self._context)
                for source, fetch in _regional_fetchers(needed, observed_at).items()
                if regional_sources is None or source in regional_sources
            }
            if region_wide
            else {}
        )

    def __enter__(self) -> RegionCollector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def stop(self, reason: str) -> None:
        self.complete = False
        self.stopped_reason = self.stopped_reason or reason

    @property
    def calls_made(self) -> int:
        """API calls sent so far for this region, by the listing, the fetchers and `read`."""
        return self._context.calls.made

    def pages(self, instance_filters: Sequence[Mapping[str, Any]] = ()) -> Iterator[list[InstanceRecord]]:
        """Each page of live instances as records, enriched; a failing listing keeps the pages
        already yielded and leaves the region incomplete.

        `instance_filters` are DescribeInstances filters added to the live-state one (all must
        match): e.g. `instance-id` values, which, unlike InstanceIds, do not fail the call when
        an instance has gone. The caches (groups, images, route tables) are shared by every
        listing of the collector, so a group is read once however many listings name it.
        """
        filters = [{"Name": "instance-state-name", "Values": list(LIVE_STATES)}, *instance_filters]
        token = self.start_token
        while True:
            extra = {"NextToken": token} if token else {}
            try:
                response = self._context.calls.call(
                    self._context.ec2,
                    "ec2:DescribeInstances",
                    "describe_instances",
                    Filters=filters,
                    MaxResults=PAGE_SIZE,
                    **extra,
                )
            except BudgetExhausted as exc:
                self.next_token = token
                self.stop(str(exc))
                return
            except API_ERRORS as exc:
                self.complete = False
                self.errors.append(error_from(self.region, "ec2:DescribeInstances", exc))
                return
            raws = [
                (reservation.get("OwnerId"), raw)
                for reservation in response.get("Reservations", [])
                for raw in reservation.get("Instances", [])
            ]
            self.owner_id = self.owner_id or next((owner for owner, _ in raws if owner), None)
            following = response.get("NextToken")
            del response  # the raw page goes before the next one is read: one page in memory
            records = self._enrich(raws) if raws else []
            del raws
            if records is None:
                self.next_token = token
                return
            self.listed += len(records)
            if self.on_progress is not None:
                self.on_progress(self.region, self.listed)
            yield records
            del records
            if not following:
                return
            token = following

    def _enrich(self, raws: list[tuple[str | None, Mapping[str, Any]]]) -> list[InstanceRecord] | None:
        """The page's records, or None when the budget ran out while enriching it (the page is
        then read again by whoever continues)."""
        context = self._context
        context.raws = raws
        parts: dict[str, Any] = {}
        unavailable: set[str] = set()
        futures = {
            source: self._pool.submit(_fetch, FETCHERS[source], context) for source in FETCHERS if source in self.needed
        }
        for source, future in futures.items():
            outcome = future.result()
            if isinstance(outcome, BudgetExhausted):
                self.stop(str(outcome))
            elif isinstance(outcome, Exception):
                unavailable.add(source)
                context.report(error_from(self.region, sources.IAM_ACTIONS[source], outcome))
            else:
                parts.update(outcome)
        context.raws = []
        if self.stopped_reason is not None:
            return None
        fetched = {source for source in futures if source not in unavailable}
        if sources.SECURITY_GROUPS in fetched and sources.PREFIX_LISTS in self.needed:
            fetched.add(sources.PREFIX_LISTS)
        lookups = Lookups(**parts, unavailable=frozenset(PAGE_SOURCES) - fetched)
        return [instance_from_api(raw, self.region, owner, self.observed_at, lookups) for owner, raw in raws]

    def resources(self) -> list[LaunchTemplateRecord | SecurityGroupRecord | AccountRecord]:
        """The region's launch templates, default security groups and account guardrail record
        (those the rules need), once their reads are done."""
        parts: dict[str, Any] = {}
        fetched: set[str] = set()
        for source, future in self._regional.items():
            outcome = future.result()
            if isinstance(outcome, BudgetExhausted):
                self.stop(str(outcome))
            elif isinstance(outcome, Exception):
                self.errors.append(error_from(self.region, sources.IAM_ACTIONS[source], outcome))
            else:
                parts.update(outcome)
                fetched.add(source)
        if any(source in self._regional and source not in fetched for source in RESOURCE_LISTERS):
            self.complete = False  # templates or groups not listed must not pass for fixed ones
        listed: list[LaunchTemplateRecord | SecurityGroupRecord | AccountRecord] = [
            record for source in RESOURCE_LISTERS for record in parts.pop(source, [])
        ]
        account_sources = [source for source in ACCOUNT_FETCHERS if source in self._regional]
        if account_sources:
            listed.append(
                AccountRecord(
                    account_id=self.owner_id,
                    region=self.region,
                    observed_at=self.observed_at,
                    **{key: value for key, value in parts.items() if key in _ACCOUNT_FIELDS},
                    unavailable=frozenset(account_sources) - fetched,
                )
            )
        return listed

    def read(self, source: str, reader: Callable[[Any, Any], _T], action: str | None = None) -> _T | None:
        """`reader(calls, ec2)` through the region's budgeted, counted calls: None when it failed,
        the failure recorded under `action` (by default `source`'s) and the region left
        incomplete (what was not read must not pass for fixed), or when the budget ran out."""
        try:
            return reader(self._context.calls, self._context.ec2)
        except BudgetExhausted as exc:
            self.stop(str(exc))
        except (*API_ERRORS, OperationUnavailable) as exc:
            self.complete = False
            self.errors.append(error_from(self.region, action or sources.IAM_ACTIONS[source], exc))
        return None

    def groups_read(self, group_ids: Collection[str]) -> tuple[list[Mapping[str, Any]], frozenset[str]]:
        """Of `group_ids`, the default groups the page fetchers have read, and the ids they never
        asked for (a group whose read failed was not asked): only those remain to be read."""
        context = self._context
        known = [context.default_groups[i] for i in sorted(group_ids) if i in context.default_groups]
        return known, frozenset(group_ids) - context.asked.get(sources.SECURITY_GROUPS, set())

    def all_errors(self) -> list[ScanError]:
        """The listing's and the regional reads' errors, then those the page fetchers recorded."""
        return [*self.errors, *self._context.errors]


_ACCOUNT_FIELDS = frozenset(field.name for field in dataclass_fields(AccountRecord))


def _regional_fetchers(needed: frozenset[str], observed_at: datetime) -> dict[str, Callable[[_Region], dict[str, Any]]]:
    """Fetchers for what a region holds besides instances, run whether or not it has any."""
    fetchers = {source: _account_fetcher(fetch) for source, fetch in ACCOUNT_FETCHERS.items() if source in needed}
    fetchers.update(
        {
            source: _resource_fetcher(source, lister, observed_at)
            for source, lister in RESOURCE_LISTERS.items()
            if source in needed
        }
    )
    return fetchers


def _account_fetcher(fetch: Fetch) -> Callable[[_Region], dict[str, Any]]:
    """A guardrail fetcher given the region's calls, EC2 client and single-attempt probe."""
    return lambda context: fetch(context.calls, context.ec2, context.probe_ec2())


def _resource_fetcher(source: str, lister: Lister, observed_at: datetime) -> Callable[[_Region], dict[str, Any]]:
    """A resource lister's records under its source's name."""
    return lambda context: {source: lister(context.calls, context.ec2, context.calls.region, observed_at)}


def _fetch(fetch: Callable[[_Region], dict[str, Any]], context: _Region) -> dict[str, Any] | Exception:
    """Run one fetcher; its failure is returned, to be recorded in the fetchers' fixed order."""
    try:
        return fetch(context)
    except (*API_ERRORS, OperationUnavailable, BudgetExhausted) as exc:
        return exc
