"""The change-event model: which EventBridge events can change a verdict, and what each touches.

Event-driven re-evaluation listens to two kinds of `aws.ec2` events: "AWS API Call via
CloudTrail" for the calls listed in `sources.CHANGE_EVENTS` (derived from the enabled rules'
declared sources, so the subscription cannot drift from the catalogue), and "EC2 Instance
State-change Notification". `affected` turns one event into the resources it touches, read from
the CloudTrail record as the service writes it, or a `Skipped` with the reason (never an
exception: one bad message must not fail a batch); `coalesce` merges a batch into one `Affected`
per account and region, so a burst of events for one instance costs one evaluation.

Pure: no AWS calls. Resolving ENI, image, prefix-list and template ids to instances is the
collector's job (one filtered describe each).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .. import sources
from ..registry import INSTANCE
from ..rules.base import Rule

EVENT_SOURCE = "aws.ec2"
API_CALL = "AWS API Call via CloudTrail"
STATE_CHANGE = "EC2 Instance State-change Notification"
PATTERN_LIMIT = 2048
"""EventBridge's default maximum size of an event pattern, in characters (adjustable to 4096 by a
quota increase; staying under the default needs no request)."""


def rule_sources(rule: Rule) -> tuple[str, ...]:
    """The sources a rule reads: those it declares, plus DescribeInstances for an instance rule
    (the collector always reads it, so instance rules do not declare it)."""
    implicit = (sources.INSTANCES,) if rule.resource_type == INSTANCE else ()
    return (*implicit, *rule.sources)


def event_names(rules: Iterable[Rule]) -> tuple[str, ...]:
    """Sorted CloudTrail event names that can change a verdict of the given (enabled) rules."""
    return sources.change_events_for(source for rule in rules for source in rule_sources(rule))


def _compact(pattern: Mapping[str, Any]) -> str:
    return json.dumps(pattern, separators=(",", ":"))


def _api_pattern(names: list[str]) -> dict[str, Any]:
    return {
        "source": [EVENT_SOURCE],
        "detail-type": [API_CALL],
        "detail": {"eventSource": ["ec2.amazonaws.com"], "eventName": names},
    }


def event_patterns(names: Iterable[str]) -> list[dict[str, Any]]:
    """The EventBridge patterns (JSON-ready) for the given CloudTrail event names, then the
    state-change notification's.

    The names are split over as many API-call patterns as keep each within `PATTERN_LIMIT`
    compact characters; no names gives no API-call pattern (an empty list matches nothing and
    EventBridge rejects it). A single name too long for a pattern is not an EC2 event name.
    """
    patterns: list[dict[str, Any]] = []
    chunk: list[str] = []
    for name in sorted(set(names)):
        if chunk and len(_compact(_api_pattern([*chunk, name]))) > PATTERN_LIMIT:
            patterns.append(_api_pattern(chunk))
            chunk = []
        chunk.append(name)
    if chunk:
        patterns.append(_api_pattern(chunk))
    patterns.append({"source": [EVENT_SOURCE], "detail-type": [STATE_CHANGE]})
    return patterns


@dataclass(frozen=True)
class Affected:
    """What one event (or, after `coalesce`, a batch of events) touched in one account and region.

    Instances come by id where the event names them; otherwise by what the collector can filter
    instances on: network interface, image, or (through their groups) security group and prefix
    list ids. `all_instances` means the record names nothing that leads to the instance (an
    address disassociated by association id, an interface detached by attachment id), so every
    instance of the region is re-read. `account_guardrails` means a region-level setting changed.
    """

    account: str
    region: str
    event_ids: tuple[str, ...]
    earliest: datetime
    """The earliest event time: the start of the time-to-verdict measure."""
    latest: datetime
    instance_ids: frozenset[str] = frozenset()
    network_interface_ids: frozenset[str] = frozenset()
    security_group_ids: frozenset[str] = frozenset()
    prefix_list_ids: frozenset[str] = frozenset()
    image_ids: frozenset[str] = frozenset()
    launch_template_ids: frozenset[str] = frozenset()
    launch_template_names: frozenset[str] = frozenset()
    """Templates the record names only by name (the collector filters on `launch-template-name`)."""
    all_instances: bool = False
    account_guardrails: bool = False

    @property
    def event_id(self) -> str:
        """The first event's id (the only one before coalescing)."""
        return self.event_ids[0]

    @property
    def event_time(self) -> datetime:
        """When the latest change happened."""
        return self.latest


@dataclass(frozen=True)
class Skipped:
    """An event that changes nothing to re-evaluate, and why (reported per message, not raised)."""

    event_id: str
    reason: str


@dataclass
class _Touch:
    """The ids one event names, filled by its extractor."""

    instance_ids: set[str] = field(default_factory=set)
    network_interface_ids: set[str] = field(default_factory=set)
    security_group_ids: set[str] = field(default_factory=set)
    prefix_list_ids: set[str] = field(default_factory=set)
    image_ids: set[str] = field(default_factory=set)
    launch_template_ids: set[str] = field(default_factory=set)
    launch_template_names: set[str] = field(default_factory=set)
    all_instances: bool = False
    account_guardrails: bool = False

    def empty(self) -> bool:
        return self == _Touch()


def _key(mapping: Mapping[str, Any], key: str) -> Any:
    """`key` as the query-style calls record it (camelCase), or as the newer calls do, whose
    CloudTrail records keep the SDK's PascalCase (e.g. `ModifyInstanceMetadataOptionsRequest`)."""
    value = mapping.get(key)
    return mapping.get(key[0].upper() + key[1:]) if value is None else value


def _section(detail: Mapping[str, Any], name: str, part: str) -> Mapping[str, Any]:
    """`requestParameters` or `responseElements`, unwrapped from `<eventName>Request`/`Response`
    when the newer calls wrap it; empty when absent or not an object (CloudTrail writes null for
    calls without a response)."""
    section = detail.get(part)
    if not isinstance(section, Mapping):
        return {}
    wrapped = section.get(name + ("Request" if part == "requestParameters" else "Response"))
    return wrapped if isinstance(wrapped, Mapping) else section


def _text(mapping: Mapping[str, Any], key: str) -> str | None:
    value = _key(mapping, key)
    return value if isinstance(value, str) and value else None


def _object(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = _key(mapping, key)
    return value if isinstance(value, Mapping) else {}


def _items(mapping: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The objects of a CloudTrail list, recorded as `{"items": [...]}`."""
    items = _object(mapping, key).get("items")
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, Mapping)]


def _ids(values: Iterable[str | None]) -> set[str]:
    return {value for value in values if value}


def _request(detail: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return _section(detail, name, "requestParameters")


def _response(detail: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return _section(detail, name, "responseElements")


def _launched(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    """RunInstances: the ids exist only in the response, one item per instance launched."""
    touch.instance_ids |= _ids(_text(item, "instanceId") for item in _items(_response(detail, name), "instancesSet"))


def _instance_set(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    """MonitorInstances / UnmonitorInstances: a set of instances in the request."""
    touch.instance_ids |= _ids(_text(item, "instanceId") for item in _items(_request(detail, name), "instancesSet"))


def _instance(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    """Calls naming the instance in the request (attribute, metadata options, volume or interface
    attachment, profile association); the address or interface id when the instance is absent
    (AssociateAddress by interface), and the response's instance for a volume detached by id."""
    request = _request(detail, name)
    touch.instance_ids |= _ids([_text(request, "instanceId")])
    touch.network_interface_ids |= _ids([_text(request, "networkInterfaceId")])
    if not touch.instance_ids:
        touch.instance_ids |= _ids([_text(_response(detail, name), "instanceId")])


def _profile_association(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    """Disassociate / ReplaceIamInstanceProfileAssociation: the request names only the
    association, the response's association names the instance; without it, every instance."""
    association = _object(_response(detail, name), "iamInstanceProfileAssociation")
    touch.instance_ids |= _ids([_text(association, "instanceId")])
    touch.all_instances = not touch.instance_ids


def _unnamed(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    """DisassociateAddress (association id or address) and DetachNetworkInterface (attachment
    id): nothing in the record leads to the instance once the call has succeeded."""
    touch.all_instances = True


def _interface(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    """Interface calls (attribute incl. groups, IPv6 addresses): the instance is the interface's."""
    touch.network_interface_ids |= _ids([_text(_request(detail, name), "networkInterfaceId")])


_TAGGED = {"i-": "instance_ids", "sg-": "security_group_ids", "lt-": "launch_template_ids"}


def _tags(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    """CreateTags / DeleteTags: the instances, groups and templates among the tagged resources."""
    for item in _items(_request(detail, name), "resourcesSet"):
        resource = _text(item, "resourceId") or ""
        for prefix, attribute in _TAGGED.items():
            if resource.startswith(prefix):
                getattr(touch, attribute).add(resource)


def _group(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    """Security group rule calls: the group in the request, else the groups of the created rules
    (a request may name the group by name only, in a default VPC)."""
    touch.security_group_ids |= _ids([_text(_request(detail, name), "groupId")])
    if not touch.security_group_ids:
        rules = _items(_response(detail, name), "securityGroupRuleSet")
        touch.security_group_ids |= _ids(_text(rule, "groupId") for rule in rules)


def _prefix_list(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    touch.prefix_list_ids |= _ids([_text(_request(detail, name), "prefixListId")])


def _image(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    touch.image_ids |= _ids([_text(_request(detail, name), "imageId")])


def _template(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    """Launch template calls: the id from the response's template or version (CreateLaunchTemplate
    names only the new name in its request), else the request's id, else its name."""
    response = _response(detail, name)
    found = _text(_object(response, "launchTemplate"), "launchTemplateId") or _text(
        _object(response, "launchTemplateVersion"), "launchTemplateId"
    )
    request = _request(detail, name)
    template_id = found or _text(request, "launchTemplateId")
    if template_id:
        touch.launch_template_ids.add(template_id)
    else:
        touch.launch_template_names |= _ids([_text(request, "launchTemplateName")])


def _guardrail(detail: Mapping[str, Any], name: str, touch: _Touch) -> None:
    touch.account_guardrails = True


Extractor = Callable[[Mapping[str, Any], str, _Touch], None]

_GUARDRAIL_EVENTS = sources.change_events_for(
    (
        sources.EBS_DEFAULT_ENCRYPTION,
        sources.IMDS_DEFAULTS,
        sources.SNAPSHOT_BLOCK_PUBLIC_ACCESS,
        sources.IMAGE_BLOCK_PUBLIC_ACCESS,
        sources.SERIAL_CONSOLE,
    )
)

EXTRACTORS: Mapping[str, Extractor] = {
    "RunInstances": _launched,
    "MonitorInstances": _instance_set,
    "UnmonitorInstances": _instance_set,
    "ModifyInstanceAttribute": _instance,
    "ModifyInstanceMetadataOptions": _instance,
    "AssociateAddress": _instance,
    "AssociateIamInstanceProfile": _instance,
    "AttachNetworkInterface": _instance,
    "AttachVolume": _instance,
    "DetachVolume": _instance,
    "DisassociateIamInstanceProfile": _profile_association,
    "ReplaceIamInstanceProfileAssociation": _profile_association,
    "DisassociateAddress": _unnamed,
    "DetachNetworkInterface": _unnamed,
    "ModifyNetworkInterfaceAttribute": _interface,
    "AssignIpv6Addresses": _interface,
    "UnassignIpv6Addresses": _interface,
    "CreateTags": _tags,
    "DeleteTags": _tags,
    **dict.fromkeys(sources.change_events_for([sources.DEFAULT_SECURITY_GROUPS]), _group),
    "ModifyManagedPrefixList": _prefix_list,
    **dict.fromkeys(sources.change_events_for([sources.IMAGES]), _image),
    **dict.fromkeys(sources.change_events_for([sources.LAUNCH_TEMPLATES]), _template),
    **dict.fromkeys(_GUARDRAIL_EVENTS, _guardrail),
}
"""How to read what each event of `sources.CHANGE_EVENTS` touches (a test holds the two equal)."""

ALL_EVENT_NAMES = sources.change_events_for(sources.CHANGE_EVENTS)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def affected(event: Mapping[str, Any], names: Collection[str] = ALL_EVENT_NAMES) -> Affected | Skipped:
    """What an EventBridge event touches, or why it is skipped.

    `names` are the CloudTrail event names the enabled rules care about (`event_names`); any other
    call is skipped from its detail-type and name alone, before the record is read. A failed call
    (`errorCode` set) changed nothing. Malformed events are skipped with the reason.
    """
    if not isinstance(event, Mapping):
        return Skipped("", "event is not an object")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        return Skipped("", "event has no id")
    kind = event.get("detail-type")
    if kind not in (API_CALL, STATE_CHANGE):
        return Skipped(event_id, f"event {event_id}: detail-type {kind!r} is not a change event")
    if "detail" not in event:
        return Skipped(event_id, f"event {event_id}: no detail field")
    detail = event["detail"]
    if not isinstance(detail, Mapping):
        return Skipped(event_id, f"event {event_id}: detail is not an object")
    name = detail.get("eventName") if kind == API_CALL else STATE_CHANGE
    if kind == API_CALL and name not in names:
        return Skipped(event_id, f"event {event_id}: {name!r} changes nothing the enabled rules read")
    if kind == API_CALL and detail.get("errorCode"):
        return Skipped(event_id, f"event {event_id}: {name} failed ({detail['errorCode']}): nothing changed")
    account, region, moment = event.get("account"), event.get("region"), _when(event.get("time"))
    if not (isinstance(account, str) and account and isinstance(region, str) and region and moment):
        return Skipped(event_id, f"event {event_id}: account, region or time missing or malformed")
    touch = _Touch()
    if kind == STATE_CHANGE:
        touch.instance_ids |= _ids([_text(detail, "instance-id")])
    else:
        EXTRACTORS[str(name)](detail, str(name), touch)
    if touch.empty():
        return Skipped(event_id, f"event {event_id}: {name} names no resource the rules read")
    return Affected(
        account=account,
        region=region,
        event_ids=(event_id,),
        earliest=moment,
        latest=moment,
        instance_ids=frozenset(touch.instance_ids),
        network_interface_ids=frozenset(touch.network_interface_ids),
        security_group_ids=frozenset(touch.security_group_ids),
        prefix_list_ids=frozenset(touch.prefix_list_ids),
        image_ids=frozenset(touch.image_ids),
        launch_template_ids=frozenset(touch.launch_template_ids),
        launch_template_names=frozenset(touch.launch_template_names),
        all_instances=touch.all_instances,
        account_guardrails=touch.account_guardrails,
    )


def _merge(first: Affected, second: Affected) -> Affected:
    return replace(
        first,
        event_ids=tuple(dict.fromkeys((*first.event_ids, *second.event_ids))),
        earliest=min(first.earliest, second.earliest),
        latest=max(first.latest, second.latest),
        instance_ids=first.instance_ids | second.instance_ids,
        network_interface_ids=first.network_interface_ids | second.network_interface_ids,
        security_group_ids=first.security_group_ids | second.security_group_ids,
        prefix_list_ids=first.prefix_list_ids | second.prefix_list_ids,
        image_ids=first.image_ids | second.image_ids,
        launch_template_ids=first.launch_template_ids | second.launch_template_ids,
        launch_template_names=first.launch_template_names | second.launch_template_names,
        all_instances=first.all_instances or second.all_instances,
        account_guardrails=first.account_guardrails or second.account_guardrails,
    )


def coalesce(items: Iterable[Affected]) -> list[Affected]:
    """One `Affected` per (account, region), in the order each pair first appears: ids and flags
    merged, event ids kept once each (SQS may deliver a message twice), earliest and latest kept."""
    merged: dict[tuple[str, str], Affected] = {}
    for item in items:
        key = (item.account, item.region)
        merged[key] = _merge(merged[key], item) if key in merged else item
    return list(merged.values())
