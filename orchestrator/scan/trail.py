"""`ec2c doctor`'s service: can the change-event path see the API calls of each scan region?

EventBridge receives "AWS API Call via CloudTrail" events only for what a trail records: a trail
that covers the region (multi-region, or single-region at home there), is logging, and records
management write events. This module reads the trails with the caller's credentials (describe
and get calls only: nothing is created or changed) and decides, per region, one of three
verdicts: ok, not ok (with the one-line fix), or cannot tell (a call failed; its error code).

The check is pure (`check_region` on `TrailFacts`); the AWS read is `read_trails`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..deploy.inputs.environments import Environment
from ..errors import OperationFailed
from .aws import caller_account, describe_aws_error

NEEDED_PERMISSIONS = "cloudtrail:DescribeTrails, cloudtrail:GetTrailStatus and cloudtrail:GetEventSelectors"
WRITE_TYPES = ("All", "WriteOnly")
"""The `ReadWriteType`s of an event selector that record management write calls."""
NEW_TRAIL = "management-events"
"""The name the fix's commands give a new trail (any name would do)."""


class Verdict(StrEnum):
    """A region's answer: its API calls reach EventBridge, do not, or a call failed to say."""

    ok = "ok"
    not_ok = "not_ok"
    cannot_tell = "cannot_tell"


@dataclass(frozen=True)
class CallError:
    """A CloudTrail call that failed: which one, its error code and its message (one line)."""

    operation: str
    code: str
    message: str

    def describe(self) -> str:
        said = f": {self.message}" if self.message != self.code else ""
        return f"{self.operation}: {self.code}{said}"


@dataclass(frozen=True)
class TrailFacts:
    """What a region's `DescribeTrails` says of a trail, and (read in its home region) whether
    it is logging and records management write events; None where that read failed."""

    name: str
    arn: str
    home_region: str
    multi_region: bool
    logging: bool | None = None
    management_writes: bool | None = None
    error: CallError | None = None

    def covers(self, region: str) -> bool:
        return self.multi_region or self.home_region == region

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.logging) and bool(self.management_writes)


@dataclass(frozen=True)
class RegionListing:
    """A region's trails as its `DescribeTrails(includeShadowTrails=True)` returned them, or why
    that call failed."""

    region: str
    trails: tuple[TrailFacts, ...] = ()
    error: CallError | None = None


@dataclass(frozen=True)
class RegionCheck:
    """One region's verdict: the trail that decided it (if any), what is wrong, and the fix."""

    region: str
    verdict: Verdict
    trail: str | None = None
    trail_arn: str | None = None
    logging: bool | None = None
    management_events: bool | None = None
    problem: str | None = None
    fix: str | None = None
    error_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict.value}


@dataclass(frozen=True)
class Diagnosis:
    """The doctor's answer for an environment: whether its change-event path is on, and each
    scan region's check."""

    env: str
    account: str | None
    events_enabled: bool
    regions: tuple[RegionCheck, ...]

    @property
    def ok(self) -> bool:
        return all(check.verdict is Verdict.ok for check in self.regions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "account": self.account,
            "events_enabled": self.events_enabled,
            "ok": self.ok,
            "regions": [check.to_dict() for check in self.regions],
        }


# ------------------------------------------------------------------------------------------------
# The check (pure)
# ------------------------------------------------------------------------------------------------


def records_management_writes(selectors: Mapping[str, Any]) -> bool:
    """`GetEventSelectors`' answer: does any selector record management events that write?

    Basic selectors: `IncludeManagementEvents` true with `ReadWriteType` All or WriteOnly (true and
    All are the API's defaults). Advanced selectors: one whose field selectors include
    `eventCategory` Equals `Management` and do not keep read-only calls alone (`readOnly` Equals
    `true`, or NotEquals `false`): the rules match write calls, which a read-only trail never has.
    """
    for selector in selectors.get("EventSelectors") or ():
        if selector.get("IncludeManagementEvents", True) and selector.get("ReadWriteType", "All") in WRITE_TYPES:
            return True
    for advanced in selectors.get("AdvancedEventSelectors") or ():
        fields = {field.get("Field"): field for field in advanced.get("FieldSelectors") or ()}
        management = "Management" in (fields.get("eventCategory", {}).get("Equals") or ())
        if management and not _reads_only(fields.get("readOnly", {})):
            return True
    return False


def _reads_only(field: Mapping[str, Any]) -> bool:
    """A `readOnly` field selector that keeps read-only calls alone."""

    def values(operator: str) -> list[str]:
        return [str(value).lower() for value in field.get(operator) or ()]

    return "true" in values("Equals") or "false" in values("NotEquals")


def create_trail_fix(region: str) -> str:
    """The commands that make a multi-region trail recording management events (the default
    selectors of a new trail), started at once."""
    return (
        f"create a multi-region trail logging management events: aws cloudtrail create-trail --name {NEW_TRAIL} "
        f"--s3-bucket-name BUCKET --is-multi-region-trail --region {region} && aws cloudtrail start-logging "
        f"--name {NEW_TRAIL} --region {region} (BUCKET: an S3 bucket whose policy lets CloudTrail write to it)"
    )


def _closest(trails: Sequence[TrailFacts]) -> TrailFacts:
    """The trail nearest to doing the job: the one with fewest fixes to make."""
    return max(trails, key=lambda trail: (bool(trail.management_writes), bool(trail.logging)))


def _not_ok(region: str, trail: TrailFacts) -> RegionCheck:
    if not trail.management_writes:
        problem = f"trail {trail.name} records no management write events"
        if not trail.logging:
            problem += " and is not logging"
        start = "" if trail.logging else " and start its logging"
        fix = (
            f"add a selector with management events (ReadWriteType All or WriteOnly) to {trail.name}{start}; "
            f"or {create_trail_fix(region)}"
        )
    else:
        problem = f"trail {trail.name} is not logging"
        fix = f"start it: aws cloudtrail start-logging --name {trail.arn} --region {trail.home_region}"
    return RegionCheck(
        region,
        Verdict.not_ok,
        trail=trail.name,
        trail_arn=trail.arn,
        logging=trail.logging,
        management_events=trail.management_writes,
        problem=problem,
        fix=fix,
    )


def check_region(listing: RegionListing, elsewhere: Iterable[TrailFacts] = ()) -> RegionCheck:
    """The verdict of one region: ok when one trail covering it logs management write events.

    Else cannot tell when a call that could have found one failed, else not ok with the trail
    nearest to doing it (or none) and the fix. `elsewhere` (trails other regions listed) names the
    single-region trails that live in another region, so "no trail" says why.
    """
    region = listing.region
    if listing.error is not None:
        return _cannot_tell(region, listing.error, "listing the trails")
    covering = [trail for trail in listing.trails if trail.covers(region)]
    good = next((trail for trail in covering if trail.ok), None)
    if good is not None:
        return RegionCheck(region, Verdict.ok, good.name, good.arn, True, True)
    failed = next((trail for trail in covering if trail.error is not None), None)
    if failed is not None and failed.error is not None:
        return replace(_cannot_tell(region, failed.error, f"reading trail {failed.name}"), trail=failed.name)
    if covering:
        return _not_ok(region, _closest(covering))
    others = sorted({f"{t.name} in {t.home_region}" for t in elsewhere if not t.covers(region)})
    away = f" (single-region trail{'s' if len(others) > 1 else ''} elsewhere: {', '.join(others)})" if others else ""
    return RegionCheck(region, Verdict.not_ok, problem=f"no trail covers {region}{away}", fix=create_trail_fix(region))


def _cannot_tell(region: str, error: CallError, doing: str) -> RegionCheck:
    denied = "AccessDenied" in error.code
    fix = f"the check needs {NEEDED_PERMISSIONS}" if denied else "run it again; if it persists, check the error"
    return RegionCheck(
        region,
        Verdict.cannot_tell,
        problem=f"cannot tell: {doing} failed ({error.describe()})",
        fix=fix,
        error_code=error.code,
    )


def check_regions(listings: Sequence[RegionListing]) -> tuple[RegionCheck, ...]:
    """Every region's verdict, each told of the trails the other regions listed."""
    seen = [trail for listing in listings for trail in listing.trails]
    return tuple(check_region(listing, seen) for listing in listings)


# ------------------------------------------------------------------------------------------------
# The AWS read (describe and get calls only)
# ------------------------------------------------------------------------------------------------


def call_error(operation: str, exc: Exception) -> CallError:
    """A failed call as its code and one-line message (the SDK's own failures by class name)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        message = " ".join(str(error.get("Message") or "").split()) or code
        return CallError(operation, code, message)
    return CallError(operation, type(exc).__name__, describe_aws_error(exc))


def _listed(region: str, client: Any) -> RegionListing:
    try:
        found = client.describe_trails(includeShadowTrails=True).get("trailList") or []
    except (BotoCoreError, ClientError) as exc:
        return RegionListing(region, error=call_error("DescribeTrails", exc))
    trails = tuple(
        TrailFacts(
            name=str(item.get("Name") or item.get("TrailARN")),
            arn=str(item.get("TrailARN") or item.get("Name")),
            home_region=str(item.get("HomeRegion") or region),
            multi_region=bool(item.get("IsMultiRegionTrail")),
        )
        for item in found
    )
    return RegionListing(region, trails)


def _examined(trail: TrailFacts, client: Any) -> TrailFacts:
    """Its status and selectors, read in its home region (a shadow trail's ARN names its home)."""
    try:
        logging = bool(client.get_trail_status(Name=trail.arn).get("IsLogging"))
    except (BotoCoreError, ClientError) as exc:
        return replace(trail, error=call_error("GetTrailStatus", exc))
    try:
        selectors = client.get_event_selectors(TrailName=trail.arn)
    except (BotoCoreError, ClientError) as exc:
        return replace(trail, logging=logging, error=call_error("GetEventSelectors", exc))
    return replace(trail, logging=logging, management_writes=records_management_writes(selectors))


def read_trails(regions: Sequence[str], client_for: Callable[[str], Any]) -> list[RegionListing]:
    """Each region's trails, every trail examined once (in its home region) however many regions
    list it; `client_for(region)` is a CloudTrail client there."""
    clients: dict[str, Any] = {}

    def client(region: str) -> Any:
        if region not in clients:
            clients[region] = client_for(region)
        return clients[region]

    listings = [_listed(region, client(region)) for region in regions]
    examined: dict[str, TrailFacts] = {}
    for listing in listings:
        for trail in listing.trails:
            if trail.arn not in examined:
                examined[trail.arn] = _examined(trail, client(trail.home_region))
    return [replace(listing, trails=tuple(examined[t.arn] for t in listing.trails)) for listing in listings]


def cloudtrail_client(session: boto3.session.Session, region: str) -> Any:
    """A CloudTrail client of the caller's session in `region`."""
    return session.client("cloudtrail", region_name=region)


def diagnose(environment: Environment, session: boto3.session.Session) -> Diagnosis:
    """The environment's diagnosis, read with `session` (the caller's credentials).

    The credentials are proven first (STS), and must be those of the environment's account when
    it names one: another account's trails would answer for the wrong account.
    """
    account = caller_account(session, environment.aws.region)
    expected = environment.aws.account_id
    if expected and account and account != expected:
        raise OperationFailed(
            f"the credentials are of account {account}, environment {environment.name} is in account {expected} "
            f"({environment.source}: aws.account_id): use credentials of {expected} (e.g. AWS_PROFILE)"
        )
    regions = list(environment.scan_regions)
    listings = read_trails(regions, lambda region: cloudtrail_client(session, region))
    return Diagnosis(environment.name, account, environment.events.enabled, check_regions(listings))
