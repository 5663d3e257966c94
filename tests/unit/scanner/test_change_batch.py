"""`changes.batch` through `index.handler` on moto, the paths the end-to-end tests leave out: what
is skipped and why, what is handed back to the queue when the results cannot be read or written,
what is carried when a rule's data could not be read, and the touched resources found through an
interface, an image, a prefix list, a deleted launch template or the account's guardrails.

The events come through the stack's patterns (`Changes` from test_change_events) where the
policy routes them, and otherwise as the SQS records the event source mapping hands over, with
the envelope EventBridge writes. moto implements every call used here except SSM's
DescribeInstanceInformation and four of the five guardrail reads (GetInstanceMetadataDefaults,
GetSnapshotBlockPublicAccessState, GetImageBlockPublicAccessState,
GetSerialConsoleAccessStatus), which the scanner reports as unavailable; failures of S3,
CloudWatch and EC2 calls are injected with botocore event hooks on the handler's session (as
`fail_when` in test_scan.py does).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import index
import pytest
from botocore.exceptions import ClientError

from ec2c.scanner.changes.batch import is_change_batch
from ec2c.scanner.changes.events import API_CALL, STATE_CHANGE
from ec2c.scanner.changes.records import STATE_PREFIX, state_key
from ec2c.scanner.contract import CHANGES_PREFIX, LATEST_REPORT_KEY
from ec2c.scanner.registry import Severity
from ec2c.scanner.settings import ConfigError, load_settings
from ec2c.scanner.storage import get_json

from . import test_change_events
from .conftest import REGION, instance_rules_only, launch
from .test_change_events import (
    ALL_TRAFFIC,
    CONTEXT,
    FIXTURES,
    MOTO_ACCOUNT,
    WORLD,
    Changes,
    cloudtrail,
    full_scan,
    internet_facing,
)
from .test_scan import fail_when, open_group, tcp

changes = test_change_events.changes
"""The deployed change path of the end-to-end tests (a fixture): rules, queue and handler."""

SCANNED_ELSEWHERE = "eu-west-3"
FOREIGN_ACCOUNT = "999999999999"
FIXTURE_ENI = "eni-0123456789abcdef0"
FIXTURE_GROUP = "sg-0123456789abcdef0"
FIXTURE_IMAGE = "ami-0abcdef1234567890"
FIXTURE_PREFIX_LIST = "pl-0123456789abcdef0"
TEMPLATE_RULES = instance_rules_only({"alert_threshold": 0, "rules": {"launch_template_imdsv2": {"enabled": True}}})
GUARDRAIL_RULES = instance_rules_only(
    {
        "alert_threshold": 0,
        "rules": {
            rule: {"enabled": True}
            for rule in (
                "ebs_default_encryption",
                "imds_defaults_v2",
                "snapshot_block_public_access",
                "image_block_public_access",
                "serial_console_access_disabled",
            )
        },
    }
)
UNOFFERED_GUARDRAIL_READS = [
    "ec2:GetInstanceMetadataDefaults",
    "ec2:GetSnapshotBlockPublicAccessState",
    "ec2:GetImageBlockPublicAccessState",
    "ec2:GetSerialConsoleAccessStatus",
]


def envelope(name: str, replacements: dict[str, str], **fields: Any) -> dict[str, Any]:
    """A fixture's whole EventBridge event, its placeholders replaced, `fields` over its envelope."""
    text = (FIXTURES / f"{name}.json").read_text()
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    return {**json.loads(text), **fields}


def api_call(event_id: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An API-call event as EventBridge delivers it from this account and region."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": API_CALL,
        "source": "aws.ec2",
        "account": MOTO_ACCOUNT,
        "time": "2025-06-01T12:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {"eventSource": "ec2.amazonaws.com", **detail},
    }


def state_change(event_id: str, instance: str, **fields: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": STATE_CHANGE,
        "source": "aws.ec2",
        "account": MOTO_ACCOUNT,
        "time": "2025-06-01T12:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {"instance-id": instance, "state": "running"},
        **fields,
    }


def sqs(message_id: str, event: dict[str, Any]) -> dict[str, Any]:
    """One record of the event source mapping's batch."""
    return {"messageId": message_id, "body": json.dumps(event), "eventSource": "aws:sqs", "awsRegion": REGION}


def handle(*records: dict[str, Any]) -> dict[str, Any]:
    return dict(index.handler({"Records": list(records)}, CONTEXT))


def use_policy(monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]) -> None:
    monkeypatch.setenv("COMPLIANCE_POLICY", json.dumps(document))


def stored(changes: Changes) -> list[str]:
    """Every key the batch path wrote: records and states."""
    return sorted([*changes.store.keys(CHANGES_PREFIX), *changes.store.keys(STATE_PREFIX)])


def fail_call(session: Any, event: str, code: str, when: Callable[[dict[str, Any]], bool] = lambda _: True) -> None:
    """`event` ("service.Operation") fails with `code` for the calls whose parameters `when` accepts."""

    def deny(model: Any, params: dict[str, Any], **_: Any) -> None:
        if when(params):
            raise ClientError({"Error": {"Code": code, "Message": f"{code} in test"}}, model.name)

    session.events.register(f"before-parameter-build.{event}", deny)


def metric_sums(session: Any) -> dict[str, float]:
    cloudwatch = session.client("cloudwatch", region_name=REGION)
    now = datetime.now(UTC)
    sums: dict[str, float] = {}
    for metric in cloudwatch.list_metrics(Namespace="Test/Compliance")["Metrics"]:
        name = metric["MetricName"]
        points = cloudwatch.get_metric_statistics(
            Namespace="Test/Compliance",
            MetricName=name,
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(hours=1),
            Period=7200,
            Statistics=["Sum"],
        )["Datapoints"]
        sums[name] = sum(point["Sum"] for point in points)
    return sums


def open_to_the_world(changes: Changes, ec2: Any, count: int = 1) -> list[str]:
    """Instances whose group is opened to all traffic after the full scan, the change queued."""
    group = open_group(ec2, "web", [])
    users = launch(ec2, count=count, SecurityGroupIds=[group])
    full_scan(changes)
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ALL_TRAFFIC])
    changes.call(cloudtrail("authorize_security_group_ingress", {FIXTURE_GROUP: group}))
    return users


def test_is_change_batch_only_for_records_that_all_come_from_sqs() -> None:
    one = {"eventSource": "aws:sqs", "body": "{}"}

    assert is_change_batch({"Records": [one, one]})
    assert not is_change_batch({})
    assert not is_change_batch({"action": "plan"})
    assert not is_change_batch({"Records": []})
    assert not is_change_batch({"Records": "aws:sqs"})
    assert not is_change_batch({"Records": [one, {"eventSource": "aws:s3"}]})
    assert not is_change_batch({"Records": [one, "aws:sqs"]})
    assert not is_change_batch([one])
    assert not is_change_batch(None)


def test_the_alert_severity_is_high_unless_set_and_a_bad_one_names_the_variable_and_the_choices() -> None:
    env = {"AWS_REGION": REGION, "REPORT_BUCKET": "b"}

    assert load_settings(env).events_alert_severity is Severity.HIGH
    assert load_settings({**env, "EVENTS_ALERT_SEVERITY": " "}).events_alert_severity is Severity.HIGH
    assert load_settings({**env, "EVENTS_ALERT_SEVERITY": " medium "}).events_alert_severity is Severity.MEDIUM
    for bad in ("urgent", "HIGH"):
        with pytest.raises(ConfigError) as caught:
            load_settings({**env, "EVENTS_ALERT_SEVERITY": bad})
        assert str(caught.value) == (
            f"EVENTS_ALERT_SEVERITY: expected one of critical, high, medium, low, informational, got {bad!r}"
        )


def test_a_bad_alert_severity_fails_the_batch_with_the_reason_logged(changes, monkeypatch, caplog) -> None:
    monkeypatch.setenv("EVENTS_ALERT_SEVERITY", "severe")

    with pytest.raises(ConfigError), caplog.at_level(logging.ERROR, logger="ec2c.scanner"):
        handle(sqs("m-1", state_change("ev-1", "i-0123456789abcdef0")))

    assert "invalid configuration: EVENTS_ALERT_SEVERITY: expected one of" in caplog.text
    assert stored(changes) == []


def test_an_unreadable_latest_report_records_the_failures_but_nothing_new_and_alerts_nobody(
    changes, session, ec2, caplog
) -> None:
    group = open_group(ec2, "web", [ALL_TRAFFIC])
    [instance] = launch(ec2, SecurityGroupIds=[group])
    changes.store.put_bytes(LATEST_REPORT_KEY, b"{truncated", "application/json")

    with caplog.at_level(logging.INFO, logger="ec2c.scanner"):
        response = handle(sqs("m-1", state_change("ev-1", instance)))

    assert response == {"batchItemFailures": []}
    [record] = changes.records()
    assert "all_ports_open" in {f["rule_id"] for f in record["findings"]}
    assert record["new_findings"] == [] and record["resolved_findings"] == []
    assert record["base_run_id"] is None
    assert changes.alerts() == []
    assert f"latest report unusable for change events: s3://reports-bucket/{LATEST_REPORT_KEY}: not JSON" in caplog.text
    state = get_json(changes.store, state_key(REGION, "instance", instance))
    assert {f["rule_id"] for f in state["failing"]} == {f["rule_id"] for f in record["findings"]}


@pytest.mark.parametrize(
    ("body", "why"),
    [(b"{not json", "not JSON"), (b'{"evaluated_at": "2025-06-01T12:00:00Z"}', "not a resource state")],
)
def test_an_unreadable_state_hands_every_touched_message_back_and_writes_nothing(
    changes, session, ec2, caplog, body, why
) -> None:
    [instance] = open_to_the_world(changes, ec2)
    [queued] = changes.queued()
    other = launch(ec2)[0]
    broken = state_key(REGION, "instance", instance)
    changes.store.put_bytes(broken, body, "application/json")
    hub_before = changes.hub()
    elsewhere = sqs("m-elsewhere", state_change("ev-elsewhere", other, region=SCANNED_ELSEWHERE))

    with caplog.at_level(logging.ERROR, logger="ec2c.scanner"):
        response = handle(queued, sqs("m-other", state_change("ev-other", other)), elsewhere)

    assert response == {"batchItemFailures": [{"itemIdentifier": queued["messageId"]}, {"itemIdentifier": "m-other"}]}
    assert stored(changes) == [broken], "no record and no other state"
    with changes.store.open(broken) as stream:
        assert stream.read() == body
    assert changes.alerts() == []
    assert changes.hub() == hub_before
    assert f"handed back to the queue: s3://reports-bucket/{broken}: {why}" in caplog.text


def test_a_record_that_cannot_be_stored_hands_the_batch_back_before_any_alert(changes, session, ec2) -> None:
    open_to_the_world(changes, ec2)
    [queued] = changes.queued()
    hub_before = changes.hub()
    fail_call(session, "s3.PutObject", "AccessDenied", lambda params: params["Key"].startswith(CHANGES_PREFIX))

    response = handle(queued)

    assert response == {"batchItemFailures": [{"itemIdentifier": queued["messageId"]}]}
    assert stored(changes) == []
    assert changes.alerts() == []
    assert changes.hub() == hub_before


def test_states_that_cannot_be_stored_hand_the_batch_back_and_the_retry_alerts_again(changes, session, ec2) -> None:
    """The record and the alert were written, the states not: the retry judges against the old
    states, so its failures are new again and the alert is sent again (never lost)."""
    [instance] = open_to_the_world(changes, ec2)
    [queued] = changes.queued()
    denied: list[str] = []

    def deny_states(model: Any, params: dict[str, Any], **_: Any) -> None:
        if params["Key"].startswith(STATE_PREFIX) and not denied:
            denied.append(params["Key"])
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, model.name)

    session.events.register("before-parameter-build.s3.PutObject", deny_states)

    first = handle(queued)
    second = handle(queued)

    assert first == {"batchItemFailures": [{"itemIdentifier": queued["messageId"]}]}
    assert second == {"batchItemFailures": []}
    assert denied == [state_key(REGION, "instance", instance)]
    earlier, retried = changes.records()
    assert [f["finding_id"] for f in retried["new_findings"]] == [f["finding_id"] for f in earlier["new_findings"]]
    assert len(changes.alerts()) == 2
    state = get_json(changes.store, state_key(REGION, "instance", instance))
    assert "all_ports_open" in {f["rule_id"] for f in state["failing"]}


def test_metrics_that_cannot_be_put_are_logged_and_the_batch_is_done(changes, session, ec2, caplog) -> None:
    [instance] = launch(ec2)
    fail_call(session, "cloudwatch.PutMetricData", "Throttling")

    with caplog.at_level(logging.INFO, logger="ec2c.scanner"):
        response = handle(sqs("m-1", state_change("ev-1", instance)))

    assert response == {"batchItemFailures": []}
    [record] = changes.records()
    assert [r["resource_id"] for r in record["resources"]] == [instance]
    assert "change metrics not published: An error occurred (Throttling)" in caplog.text
    assert metric_sums(session) == {}


def test_without_a_topic_new_failures_are_recorded_and_nobody_is_alerted(
    changes, session, ec2, monkeypatch, caplog
) -> None:
    users = open_to_the_world(changes, ec2)
    monkeypatch.delenv("SNS_TOPIC_ARN")

    with caplog.at_level(logging.INFO, logger="ec2c.scanner"):
        assert changes.drain() == {"batchItemFailures": []}

    [record] = changes.records()
    assert {(f["resource_id"], f["rule_id"]) for f in record["new_findings"]} >= {(users[0], "all_ports_open")}
    assert changes.alerts() == []
    assert '"alerted": false' in caplog.text


def test_new_failures_below_the_alert_severity_are_recorded_without_an_alert(
    changes, session, ec2, monkeypatch
) -> None:
    [instance] = launch(ec2)
    monkeypatch.setenv("EVENTS_ALERT_SEVERITY", "critical")

    handle(sqs("m-1", state_change("ev-1", instance)))

    [record] = changes.records()
    severities = {f["severity"] for f in record["new_findings"]}
    assert "high" in severities and "critical" not in severities, "the default (high) would have alerted"
    assert changes.alerts() == []


def test_with_security_hub_off_nothing_is_imported(changes, session, ec2, monkeypatch) -> None:
    monkeypatch.setenv("SECURITY_HUB_IMPORT", "false")
    open_to_the_world(changes, ec2)

    changes.drain()

    [record] = changes.records()
    assert record["new_findings"] and len(changes.alerts()) == 1
    assert changes.hub() == {}


def test_events_of_another_account_an_unscanned_region_or_naming_no_resource_are_skipped_with_why(
    changes, session, ec2, caplog
) -> None:
    [instance] = launch(ec2)
    unnamed = envelope("disassociate_address", {})
    batch = [
        sqs("m-good", state_change("ev-good", instance)),
        sqs("m-foreign", state_change("ev-foreign", instance, account=FOREIGN_ACCOUNT)),
        sqs("m-elsewhere", state_change("ev-elsewhere", instance, region=SCANNED_ELSEWHERE)),
        sqs("m-unnamed", unnamed),
    ]

    with caplog.at_level(logging.INFO, logger="ec2c.scanner"):
        response = handle(*batch)

    assert response == {"batchItemFailures": []}
    [record] = changes.records()
    reasons = {
        "ev-foreign": f"event ev-foreign: account {FOREIGN_ACCOUNT} is not this scanner's",
        "ev-elsewhere": f"event ev-elsewhere: region {SCANNED_ELSEWHERE} is not scanned",
        unnamed["id"]: f"event {unnamed['id']}: names no resource; left to the scheduled scan",
    }
    assert {s["event_id"]: s["reason"] for s in record["skipped"]} == reasons
    assert record["event_ids"] == ["ev-good"]
    assert record["events"] == {"received": 4, "evaluated": 1, "skipped": 3, "retried": 0}
    assert [r["resource_id"] for r in record["resources"]] == [instance]
    assert all(f"change event skipped: {reason}" in caplog.text for reason in reasons.values())


def test_a_batch_of_skipped_events_writes_no_record_and_still_counts_them(changes, session, ec2, api_calls) -> None:
    [instance] = launch(ec2)
    api_calls.clear()

    response = handle(
        sqs("m-foreign", state_change("ev-foreign", instance, account=FOREIGN_ACCOUNT)),
        sqs("m-unnamed", envelope("disassociate_address", {})),
        {"messageId": "m-empty", "eventSource": "aws:sqs"},
    )

    assert response == {"batchItemFailures": []}
    assert stored(changes) == []
    assert not [call for call in api_calls if call.startswith("ec2:")]
    sums = metric_sums(session)
    assert sums["ChangeEventsReceived"] == 3 and sums["ChangeEventsSkipped"] == 3
    assert sums["ChangeResourcesEvaluated"] == 0 and sums["ChangeNewFailures"] == 0
    assert "ChangeTimeToVerdict" not in sums


def test_a_rule_whose_data_cannot_be_read_keeps_its_earlier_failure_neither_new_nor_resolved(
    changes, session, ec2
) -> None:
    [instance] = launch(ec2)
    full_scan(changes)
    latest = get_json(changes.store, LATEST_REPORT_KEY)
    fail_when(session, "DescribeVolumes", "UnauthorizedOperation")

    assert handle(sqs("m-1", state_change("ev-1", instance))) == {"batchItemFailures": []}

    [record] = changes.records()
    [carried] = [f for f in record["findings"] if f["rule_id"] == "ebs_volumes_encrypted"]
    assert carried["first_seen"] == latest["generated_at"]
    assert "ebs_volumes_encrypted" not in {f["rule_id"] for f in record["new_findings"]}
    assert "ebs_volumes_encrypted" not in {f["rule_id"] for f in record["resolved_findings"]}
    assert {(e["operation"], e["code"]) for e in record["errors"]} >= {("ec2:DescribeVolumes", "UnauthorizedOperation")}
    state = get_json(changes.store, state_key(REGION, "instance", instance))
    assert "ebs_volumes_encrypted" in {f["rule_id"] for f in state["failing"]}


def test_a_deleted_launch_template_resolves_its_earlier_findings(changes, session, ec2, monkeypatch) -> None:
    use_policy(monkeypatch, TEMPLATE_RULES)
    template = ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"MetadataOptions": {"HttpTokens": "optional"}}
    )["LaunchTemplate"]["LaunchTemplateId"]
    full_scan(changes)
    [before] = [f for f in changes.hub().values() if f["Resources"][0]["Id"].endswith(template)]
    ec2.delete_launch_template(LaunchTemplateId=template)
    # No public sample of this record: wrapped as the newer calls record it (fixtures/events/
    # README.md), the response's launchTemplate from the EC2 API reference.
    deleted = api_call(
        "ev-deleted",
        {
            "eventName": "DeleteLaunchTemplate",
            "requestParameters": {"DeleteLaunchTemplateRequest": {"LaunchTemplateId": template}},
            "responseElements": {
                "DeleteLaunchTemplateResponse": {
                    "launchTemplate": {"launchTemplateId": template, "launchTemplateName": "web"}
                }
            },
        },
    )

    assert handle(sqs("m-1", deleted)) == {"batchItemFailures": []}

    [record] = changes.records()
    assert record["resources"] == [
        {"resource_type": "launch_template", "resource_id": template, "region": REGION, "state": "gone"}
    ]
    assert [(f["resource_id"], f["rule_id"]) for f in record["resolved_findings"]] == [
        (template, "launch_template_imdsv2")
    ]
    assert record["findings"] == [] and record["new_findings"] == []
    assert changes.hub()[before["Id"]]["RecordState"] == "ARCHIVED"
    assert get_json(changes.store, state_key(REGION, "launch_template", template))["gone"] is True


def test_a_guardrail_change_evaluates_the_account_record_again(changes, session, ec2, monkeypatch) -> None:
    use_policy(monkeypatch, GUARDRAIL_RULES)
    launch(ec2)
    full_scan(changes)
    latest = get_json(changes.store, LATEST_REPORT_KEY)
    [before] = [f for f in latest["account_findings"] if f["rule_id"] == "ebs_default_encryption"]
    ec2.enable_ebs_encryption_by_default()

    response = handle(sqs("m-1", envelope("enable_ebs_encryption_by_default", {})))

    assert response == {"batchItemFailures": []}
    [record] = changes.records()
    assert record["resources"] == [
        {"resource_type": "account", "resource_id": MOTO_ACCOUNT, "region": REGION, "state": "evaluated"}
    ]
    assert [f["finding_id"] for f in record["resolved_findings"]] == [before["finding_id"]]
    assert record["findings"] == [] and record["new_findings"] == []
    assert sorted((e["operation"], e["code"]) for e in record["errors"]) == [
        (operation, "OperationUnavailable") for operation in sorted(UNOFFERED_GUARDRAIL_READS)
    ]
    assert changes.hub()[before["finding_id"]]["RecordState"] == "ARCHIVED"


def test_a_guardrail_turned_off_is_a_new_failure_of_the_account(changes, session, ec2, monkeypatch) -> None:
    use_policy(monkeypatch, GUARDRAIL_RULES)
    monkeypatch.setenv("EVENTS_ALERT_SEVERITY", "medium")
    ec2.enable_ebs_encryption_by_default()
    launch(ec2)
    full_scan(changes)
    ec2.disable_ebs_encryption_by_default()
    disabled = envelope(
        "enable_ebs_encryption_by_default",
        {"EnableEbs": "DisableEbs", '"ebsEncryptionByDefault": true': '"ebsEncryptionByDefault": false'},
    )

    handle(sqs("m-1", disabled))

    [record] = changes.records()
    assert [(f["resource_type"], f["resource_id"], f["rule_id"]) for f in record["new_findings"]] == [
        ("account", MOTO_ACCOUNT, "ebs_default_encryption")
    ]
    [alert] = changes.alerts()
    assert f"1 new medium+ failure(s) after a change in account {MOTO_ACCOUNT}" in alert["Subject"]


def test_an_interface_change_evaluates_the_instance_it_is_attached_to(changes, session, ec2, api_calls) -> None:
    internet_facing(ec2)
    [instance] = launch(ec2)
    [bystander] = launch(ec2)
    interface = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["NetworkInterfaces"][
        0
    ]
    subnet = interface["SubnetId"]
    detached = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    full_scan(changes)
    group = open_group(ec2, "web", [ALL_TRAFFIC])
    ec2.modify_network_interface_attribute(NetworkInterfaceId=interface["NetworkInterfaceId"], Groups=[group])
    changes.call(
        cloudtrail(
            "modify_network_interface_attribute", {FIXTURE_ENI: interface["NetworkInterfaceId"], FIXTURE_GROUP: group}
        )
    )
    changes.call(cloudtrail("modify_network_interface_attribute", {FIXTURE_ENI: detached, FIXTURE_GROUP: group}))
    api_calls.clear()

    assert changes.drain() == {"batchItemFailures": []}

    [record] = changes.records()
    assert [r["resource_id"] for r in record["resources"]] == [instance]
    assert bystander not in {f["resource_id"] for f in record["findings"]}
    assert (instance, "all_ports_open") in {(f["resource_id"], f["rule_id"]) for f in record["new_findings"]}
    assert record["events"]["evaluated"] == 2
    assert api_calls["ec2:DescribeNetworkInterfaces"] == 1, "both interfaces in one filtered call"


def test_an_interface_that_cannot_be_read_hands_its_message_back(changes, session, ec2) -> None:
    [instance] = launch(ec2)
    eni = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]
    changes.call(cloudtrail("modify_network_interface_attribute", {FIXTURE_ENI: eni["NetworkInterfaceId"]}))
    [queued] = changes.queued()
    fail_call(session, "ec2.DescribeNetworkInterfaces", "UnauthorizedOperation")

    response = handle(queued)

    assert response == {"batchItemFailures": [{"itemIdentifier": queued["messageId"]}]}
    [record] = changes.records()
    assert record["resources"] == [] and record["events"]["retried"] == 1
    assert [(e["operation"], e["code"]) for e in record["errors"]] == [
        ("ec2:DescribeNetworkInterfaces", "UnauthorizedOperation")
    ]


def test_a_deregistered_image_evaluates_the_instances_launched_from_it(changes, session, ec2) -> None:
    [source] = launch(ec2)
    image = ec2.create_image(InstanceId=source, Name="golden")["ImageId"]
    children = launch(ec2, count=2, ImageId=image)
    full_scan(changes)
    ec2.deregister_image(ImageId=image)
    changes.call(cloudtrail("deregister_image", {FIXTURE_IMAGE: image}))

    assert changes.drain() == {"batchItemFailures": []}

    [record] = changes.records()
    assert sorted(r["resource_id"] for r in record["resources"]) == sorted(children)
    deprecated = {(f["resource_id"], f["rule_id"]) for f in record["new_findings"]}
    assert {(child, "ami_deprecated") for child in children} <= deprecated
    assert source not in {f["resource_id"] for f in record["findings"]}


def test_a_prefix_list_change_evaluates_the_instances_whose_group_references_it(changes, session, ec2) -> None:
    internet_facing(ec2)
    prefix_list = ec2.create_managed_prefix_list(
        PrefixListName="office", AddressFamily="IPv4", MaxEntries=5, Entries=[{"Cidr": "198.51.100.0/24"}]
    )["PrefixList"]["PrefixListId"]
    referencing = open_group(ec2, "office", [tcp(22, PrefixListIds=[{"PrefixListId": prefix_list}])])
    unrelated = open_group(ec2, "other", [tcp(443, **WORLD)])
    [user] = launch(ec2, SecurityGroupIds=[referencing])
    [bystander] = launch(ec2, SecurityGroupIds=[unrelated])
    full_scan(changes)
    ec2.modify_managed_prefix_list(PrefixListId=prefix_list, CurrentVersion=1, AddEntries=[{"Cidr": "0.0.0.0/0"}])
    changes.call(cloudtrail("modify_managed_prefix_list", {FIXTURE_PREFIX_LIST: prefix_list}))

    assert changes.drain() == {"batchItemFailures": []}

    [record] = changes.records()
    assert [r["resource_id"] for r in record["resources"]] == [user]
    assert (user, "ssh_open_to_internet") in {(f["resource_id"], f["rule_id"]) for f in record["new_findings"]}
    assert bystander not in {r["resource_id"] for r in record["resources"]}


def test_an_alert_lists_twenty_new_failures_and_counts_the_rest(changes, session, ec2) -> None:
    internet_facing(ec2)
    open_to_the_world(changes, ec2, count=12)

    changes.drain()

    [record] = changes.records()
    alerting = [f for f in record["new_findings"] if f["severity"] in ("critical", "high")]
    assert len(alerting) > 20
    [alert] = changes.alerts()
    lines = alert["Message"].split("\n")
    assert lines[0] == f"New failures at high or worse, found after a change: {len(alerting)}"
    assert len([line for line in lines if line.startswith("- [")]) == 20
    assert f"... and {len(alerting) - 20} more: see the change record." in lines
    assert lines[-1].startswith(f"Change record: s3://reports-bucket/{CHANGES_PREFIX}")
