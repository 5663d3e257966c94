"""The change-event model: which calls the event-driven scan subscribes to, what each recorded
event touches, and how a batch coalesces (fixtures: fixtures/events/, sources in its README)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ec2c.scanner import sources
from ec2c.scanner.changes import events
from ec2c.scanner.changes.events import Affected, Skipped, affected, coalesce, event_names, event_patterns
from ec2c.scanner.rules import CATALOGUE

FIXTURES = Path(__file__).parent / "fixtures" / "events"
ACCOUNT = "123456789012"
REGION = "us-east-1"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return document


def touched(name: str) -> Affected:
    result = affected(load(name))
    assert isinstance(result, Affected), result
    return result


EXPECTED_NAMES = (
    "AssignIpv6Addresses",
    "AssociateAddress",
    "AssociateIamInstanceProfile",
    "AttachNetworkInterface",
    "AttachVolume",
    "AuthorizeSecurityGroupEgress",
    "AuthorizeSecurityGroupIngress",
    "CreateLaunchTemplate",
    "CreateLaunchTemplateVersion",
    "CreateTags",
    "DeleteLaunchTemplate",
    "DeleteLaunchTemplateVersions",
    "DeleteTags",
    "DeregisterImage",
    "DetachNetworkInterface",
    "DetachVolume",
    "DisableEbsEncryptionByDefault",
    "DisableImage",
    "DisableImageBlockPublicAccess",
    "DisableImageDeprecation",
    "DisableSerialConsoleAccess",
    "DisableSnapshotBlockPublicAccess",
    "DisassociateAddress",
    "DisassociateIamInstanceProfile",
    "EnableEbsEncryptionByDefault",
    "EnableImage",
    "EnableImageBlockPublicAccess",
    "EnableImageDeprecation",
    "EnableSerialConsoleAccess",
    "EnableSnapshotBlockPublicAccess",
    "ModifyInstanceAttribute",
    "ModifyInstanceMetadataDefaults",
    "ModifyInstanceMetadataOptions",
    "ModifyLaunchTemplate",
    "ModifyManagedPrefixList",
    "ModifyNetworkInterfaceAttribute",
    "ModifySecurityGroupRules",
    "MonitorInstances",
    "ReplaceIamInstanceProfileAssociation",
    "RevokeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RunInstances",
    "UnassignIpv6Addresses",
    "UnmonitorInstances",
)


# --- which calls matter ---------------------------------------------------------------------


def test_every_source_has_change_events_and_every_event_an_extractor() -> None:
    assert set(sources.CHANGE_EVENTS) == set(sources.IAM_ACTIONS)
    assert set(events.EXTRACTORS) == set(events.ALL_EVENT_NAMES)


def test_the_full_catalogue_subscribes_to_exactly_these_calls() -> None:
    assert event_names(CATALOGUE.values()) == EXPECTED_NAMES
    assert events.ALL_EVENT_NAMES == EXPECTED_NAMES


def test_disabling_rules_drops_their_sources_calls() -> None:
    without = [rule for rule in CATALOGUE.values() if rule.resource_type != "launch_template"]
    names = event_names(without)

    assert not {name for name in names if "LaunchTemplate" in name}
    assert "RunInstances" in names
    only_serial = event_names([CATALOGUE["serial_console_access_disabled"]])
    assert only_serial == ("DisableSerialConsoleAccess", "EnableSerialConsoleAccess")


def test_instance_rules_read_instances_without_declaring_it() -> None:
    assert CATALOGUE["single_eni"].sources == ()
    assert event_names([CATALOGUE["single_eni"]]) == tuple(sorted(sources.CHANGE_EVENTS[sources.INSTANCES]))
    assert "AttachVolume" in event_names([CATALOGUE["ebs_volumes_encrypted"]])
    assert "RunInstances" not in event_names([CATALOGUE["default_security_group_closed"]])


# --- patterns -------------------------------------------------------------------------------


def test_patterns_match_the_calls_and_the_state_changes_within_the_size_limit() -> None:
    patterns = event_patterns(EXPECTED_NAMES)

    assert patterns == [
        {
            "source": ["aws.ec2"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {"eventSource": ["ec2.amazonaws.com"], "eventName": list(EXPECTED_NAMES)},
        },
        {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    ]
    assert all(len(json.dumps(pattern, separators=(",", ":"))) <= events.PATTERN_LIMIT for pattern in patterns)


def test_names_beyond_one_pattern_are_split_over_several() -> None:
    names = [f"Call{index:03d}{'x' * 40}" for index in range(100)]

    patterns = event_patterns(names)

    api = patterns[:-1]
    assert len(api) > 1
    assert all(len(json.dumps(pattern, separators=(",", ":"))) <= events.PATTERN_LIMIT for pattern in api)
    assert [name for pattern in api for name in pattern["detail"]["eventName"]] == sorted(names)


def test_no_names_gives_only_the_state_change_pattern() -> None:
    assert event_patterns([]) == [{"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]}]


# --- what an event touches ------------------------------------------------------------------

INSTANCE_FIXTURES = {
    "run_instances": {"i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2", "i-0aaaaaaaaaaaaaaa3"},
    "modify_instance_metadata_options": {"i-0bbbbbbbbbbbbbbb1"},
    "modify_instance_attribute": {"i-0ccccccccccccccc1"},
    "associate_address": {"i-0ddddddddddddddd1"},
    "associate_iam_instance_profile": {"i-0fffffffffffffff1"},
    "disassociate_iam_instance_profile": {"i-0123456789abcde12"},
    "attach_volume": {"i-0a1a1a1a1a1a1a1a1"},
    "detach_volume_by_id": {"i-0a1a1a1a1a1a1a1a1"},
    "monitor_instances": {"i-0a3a3a3a3a3a3a3a3"},
    "instance_state_change": {"i-0a4a4a4a4a4a4a4a4"},
}


@pytest.mark.parametrize(("fixture", "instance_ids"), INSTANCE_FIXTURES.items())
def test_instance_events_name_their_instances(fixture: str, instance_ids: set[str]) -> None:
    result = touched(fixture)

    assert result.instance_ids == instance_ids
    assert (result.account, result.region) == (ACCOUNT, REGION)
    assert not (result.security_group_ids or result.all_instances or result.account_guardrails)


def test_run_instances_of_three_instances_gives_three_ids() -> None:
    assert len(touched("run_instances").instance_ids) == 3


def test_the_event_id_and_time_come_from_the_envelope() -> None:
    result = touched("instance_state_change")

    assert result.event_id == "7bf73129-1428-4cd3-a780-95db273d1602"
    assert result.event_ids == (result.event_id,)
    assert result.event_time == result.earliest == datetime(2025, 6, 1, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fixture", "group_ids"),
    [
        ("authorize_security_group_ingress", {"sg-0123456789abcdef0"}),
        ("authorize_security_group_ingress_by_name", {"sg-0bbbbbbbbbbbbbbb0"}),
        ("revoke_security_group_ingress", {"sg-0123456789abcdef0"}),
        ("modify_security_group_rules", {"sg-0cccccccccccccccc"}),
    ],
)
def test_security_group_calls_name_their_group(fixture: str, group_ids: set[str]) -> None:
    result = touched(fixture)

    assert result.security_group_ids == group_ids
    assert not result.instance_ids


def test_interface_calls_name_the_interface() -> None:
    assert touched("modify_network_interface_attribute").network_interface_ids == {"eni-0123456789abcdef0"}
    by_interface = touched("associate_address_by_interface")
    assert by_interface.network_interface_ids == {"eni-0eeeeeeeeeeeeeee1"}
    assert not by_interface.instance_ids


@pytest.mark.parametrize(
    ("name", "request_parameters"),
    [
        ("DisassociateAddress", {"associationId": "eipassoc-0123456789abcdef0"}),
        ("DetachNetworkInterface", {"attachmentId": "eni-attach-0123456789abcdef0"}),
    ],
)
def test_calls_naming_no_instance_re_read_every_instance(name: str, request_parameters: dict[str, Any]) -> None:
    event = load("disassociate_address")
    event["detail"].update(eventName=name, requestParameters=request_parameters)

    result = affected(event)

    assert isinstance(result, Affected)
    assert result.all_instances
    assert not result.instance_ids


def test_a_profile_disassociation_without_the_instance_re_reads_every_instance() -> None:
    event = load("disassociate_iam_instance_profile")
    event["detail"]["responseElements"] = None

    result = affected(event)

    assert isinstance(result, Affected)
    assert result.all_instances


@pytest.mark.parametrize(
    ("fixture", "ids", "names"),
    [
        ("create_launch_template", {"lt-0123456789abcdef0"}, set()),
        ("create_launch_template_version_by_name", {"lt-0123456789abcdef0"}, set()),
        ("modify_launch_template", {"lt-0123456789abcdef0"}, set()),
        ("delete_launch_template_versions_by_name", set(), {"web"}),
    ],
)
def test_launch_template_calls_name_their_template(fixture: str, ids: set[str], names: set[str]) -> None:
    result = touched(fixture)

    assert (result.launch_template_ids, result.launch_template_names) == (ids, names)


def test_a_template_call_without_a_response_falls_back_to_the_request_id() -> None:
    event = load("modify_launch_template")
    event["detail"]["responseElements"] = None

    result = affected(event)

    assert isinstance(result, Affected)
    assert result.launch_template_ids == {"lt-0123456789abcdef0"}


@pytest.mark.parametrize(
    "fixture",
    ["enable_ebs_encryption_by_default", "modify_instance_metadata_defaults", "disable_serial_console_access"],
)
def test_guardrail_toggles_flag_the_account_settings(fixture: str) -> None:
    result = touched(fixture)

    assert result.account_guardrails
    assert not (result.instance_ids or result.all_instances)


def test_tags_touch_the_instances_groups_and_templates_among_the_resources() -> None:
    result = touched("create_tags")

    assert result.instance_ids == {"i-0a2a2a2a2a2a2a2a2"}
    assert result.security_group_ids == {"sg-0123456789abcdef0"}
    assert result.launch_template_ids == {"lt-0123456789abcdef0"}


def test_prefix_list_and_image_calls_name_them() -> None:
    assert touched("modify_managed_prefix_list").prefix_list_ids == {"pl-0123456789abcdef0"}
    assert touched("deregister_image").image_ids == {"ami-0abcdef1234567890"}


# --- skipped --------------------------------------------------------------------------------


def skipped(event: Any, **kwargs: Any) -> Skipped:
    result = affected(event, **kwargs)
    assert isinstance(result, Skipped), result
    return result


def test_a_call_no_enabled_rule_cares_about_is_skipped_before_the_record_is_read() -> None:
    event = load("run_instances")
    event["detail"]["requestParameters"] = "not even an object"

    result = skipped(event, names=("EnableSerialConsoleAccess",))

    assert result == Skipped(
        "e0000001-aaaa-bbbb-cccc-dddddddddddd",
        ("event e0000001-aaaa-bbbb-cccc-dddddddddddd: 'RunInstances' changes nothing the enabled rules read"),
    )


def test_a_missing_detail_names_the_event() -> None:
    event = load("run_instances")
    del event["detail"]

    assert skipped(event).reason == "event e0000001-aaaa-bbbb-cccc-dddddddddddd: no detail field"


def test_a_failed_call_changed_nothing() -> None:
    result = skipped(load("failed_modify_instance_metadata_options"))

    assert "ModifyInstanceMetadataOptions failed (Client.InvalidParameterValue): nothing changed" in result.reason


def test_tags_on_resources_no_rule_reads_are_skipped() -> None:
    assert "CreateTags names no resource the rules read" in skipped(load("create_tags_on_a_vpc")).reason


def _broken(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    event = copy.deepcopy(load("modify_instance_attribute"))
    target = event
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return event


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("id",), _DELETE, "event has no id"),
        (("id",), 7, "event has no id"),
        (("detail-type",), "Scheduled Event", "is not a change event"),
        (("detail",), ["not", "an", "object"], "detail is not an object"),
        (("detail", "eventName"), _DELETE, "None changes nothing"),
        (("account",), _DELETE, "account, region or time missing or malformed"),
        (("region",), "", "account, region or time missing or malformed"),
        (("time",), "yesterday", "account, region or time missing or malformed"),
        (("time",), "2025-06-01T12:00:00", "account, region or time missing or malformed"),
        (("time",), 1748779200, "account, region or time missing or malformed"),
        (("detail", "requestParameters"), "instanceId=i-1", "names no resource"),
        (("detail", "requestParameters", "instanceId"), ["i-1"], "names no resource"),
        (("detail", "requestParameters", "instanceId"), "", "names no resource"),
    ],
)
def test_malformed_events_are_skipped_never_raised(path: tuple[str, ...], value: Any, reason: str) -> None:
    assert reason in skipped(_broken(path, value)).reason


@pytest.mark.parametrize(
    ("fixture", "path", "value"),
    [
        ("run_instances", ("detail", "responseElements", "instancesSet"), {"items": "i-1"}),
        ("run_instances", ("detail", "responseElements", "instancesSet", "items"), ["i-1", 2]),
        ("instance_state_change", ("detail", "instance-id"), None),
        ("authorize_security_group_ingress_by_name", ("detail", "responseElements"), None),
        ("delete_launch_template_versions_by_name", ("detail", "requestParameters"), {}),
    ],
)
def test_records_without_usable_ids_are_skipped(fixture: str, path: tuple[str, ...], value: Any) -> None:
    event = load(fixture)
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    assert "names no resource the rules read" in skipped(event).reason


def test_an_event_that_is_not_an_object_is_skipped() -> None:
    assert skipped("RunInstances").reason == "event is not an object"


# --- coalescing -----------------------------------------------------------------------------


def _burst(count: int) -> list[Affected]:
    start = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    items = []
    for index in range(count):
        event = load("modify_instance_attribute")
        event["id"] = f"event-{index}"
        event["time"] = (start + timedelta(seconds=index)).isoformat()
        result = affected(event)
        assert isinstance(result, Affected)
        items.append(result)
    return items


def test_a_burst_for_one_instance_coalesces_into_one_evaluation() -> None:
    burst = _burst(50)

    merged = coalesce(reversed(burst))

    assert len(merged) == 1
    [one] = merged
    assert one.instance_ids == {"i-0ccccccccccccccc1"}
    assert one.earliest == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert one.latest == datetime(2025, 6, 1, 12, 0, 49, tzinfo=UTC)
    assert sorted(one.event_ids) == sorted(f"event-{index}" for index in range(50))


def test_coalescing_merges_per_account_and_region_and_keeps_redelivered_ids_once() -> None:
    other_region = load("create_tags")
    other_region["region"] = "eu-west-1"
    items = [
        touched("run_instances"),
        touched("authorize_security_group_ingress"),
        touched("enable_ebs_encryption_by_default"),
        touched("disassociate_address"),
        touched("run_instances"),
        affected(other_region),
    ]

    merged = coalesce(item for item in items if isinstance(item, Affected))

    assert [(item.account, item.region) for item in merged] == [(ACCOUNT, REGION), (ACCOUNT, "eu-west-1")]
    first = merged[0]
    assert first.instance_ids == INSTANCE_FIXTURES["run_instances"]
    assert first.security_group_ids == {"sg-0123456789abcdef0"}
    assert first.account_guardrails and first.all_instances
    assert len(first.event_ids) == 4
    assert merged[1].launch_template_ids == {"lt-0123456789abcdef0"}


def test_coalescing_nothing_gives_nothing() -> None:
    assert coalesce([]) == []
