"""Change events end to end on moto: the stack's real event patterns on EventBridge route
CloudTrail-shaped events (fixtures/events/, from AWS's documentation) to an SQS queue, and
`index.handler` consumes them from it as the event source mapping hands them over: re-reads
what changed, writes the change record, imports into Security Hub, alerts once per batch.

moto implements every call used here except SSM's DescribeInstanceInformation, which both the
full scan and the change path report as unavailable (an error of the read, not of the batch).
moto's EventBridge leaves the envelope's `account` out of the events it delivers, which
EventBridge always sets; `Changes.queued` adds it back, and nothing else.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import index
import pytest
from botocore.exceptions import ClientError

from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.changes.events import event_names, event_patterns
from ec2c.scanner.changes.records import STATE_PREFIX, records_since
from ec2c.scanner.contract import CHANGES_PREFIX
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.run import handler as handler_module
from ec2c.scanner.storage import S3Store

from .conftest import BUCKET, REGION, LambdaContext, instance_rules_only, launch
from .test_scan import open_group, tcp

FIXTURES = Path(__file__).parent / "fixtures" / "events"
MOTO_ACCOUNT = "123456789012"
INSTANCE_PLACEHOLDER = "i-0bbbbbbbbbbbbbbb1"
"""The instance of the metadata-options fixture."""
CONTEXT = LambdaContext(invoked_function_arn=f"arn:aws:lambda:{REGION}:{MOTO_ACCOUNT}:function:scanner")
POLICY = instance_rules_only({"alert_threshold": 0})
WORLD = {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
ALL_TRAFFIC = {"IpProtocol": "-1", **WORLD}


def cloudtrail(name: str, replacements: dict[str, str]) -> dict[str, Any]:
    """A fixture's `detail`, its documentation placeholders replaced by the moto ids."""
    text = (FIXTURES / f"{name}.json").read_text()
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    return dict(json.loads(text)["detail"])


class Changes:
    """The stack's change path on moto: rules with the real patterns -> queue -> handler."""

    def __init__(self, session: boto3.session.Session, alerts: Callable[[], list[dict[str, Any]]]) -> None:
        self.session = session
        self.events = session.client("events", region_name=REGION)
        self.sqs = session.client("sqs", region_name=REGION)
        self.queue_url = self.sqs.create_queue(QueueName="changes")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        enabled = load_policy(POLICY).enabled_rule_ids()
        for number, pattern in enumerate(event_patterns(event_names(CATALOGUE[rule] for rule in enabled))):
            self.events.put_rule(Name=f"changes-{number}", EventPattern=json.dumps(pattern))
            self.events.put_targets(Rule=f"changes-{number}", Targets=[{"Id": "queue", "Arn": queue_arn}])
        self.queue_arn = queue_arn
        self.alerts = alerts
        self.store = S3Store(session.client("s3", region_name=REGION), BUCKET)

    def put(self, detail_type: str, detail: dict[str, Any], count: int = 1) -> None:
        entry = {"Source": "aws.ec2", "DetailType": detail_type, "Detail": json.dumps(detail)}
        for start in range(0, count, 10):
            self.events.put_events(Entries=[entry] * min(10, count - start))

    def call(self, detail: dict[str, Any], count: int = 1) -> None:
        self.put("AWS API Call via CloudTrail", detail, count)

    def queued(self) -> list[dict[str, Any]]:
        """Every message waiting, as the event source mapping's records."""
        records: list[dict[str, Any]] = []
        while messages := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages"):
            records += [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": json.dumps({"account": MOTO_ACCOUNT, **json.loads(m["Body"])}),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        return records

    def drain(self, extra: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
        """One batch of everything queued (plus `extra` records) through the handler."""
        records = [*self.queued(), *extra]
        assert records, "nothing reached the queue"
        return dict(index.handler({"Records": records}, CONTEXT))

    def records(self) -> list[dict[str, Any]]:
        from datetime import UTC, datetime

        return [record for _, record in records_since(self.store, datetime(2000, 1, 1, tzinfo=UTC))]

    def hub(self) -> dict[str, dict[str, Any]]:
        findings = self.session.client("securityhub", region_name=REGION).get_findings()["Findings"]
        return {f["Id"]: f for f in findings}


@pytest.fixture
def changes(session, topic, monkeypatch) -> Iterator[Changes]:
    """The deployed change path; the handler's session is the test's, so `api_calls` counts
    the handler's calls and `fail_when`-style hooks reach them."""
    monkeypatch.setattr(handler_module.boto3.session, "Session", lambda region_name: session)
    session.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    _, topic_arn, received = topic
    for name, value in {
        "AWS_REGION": REGION,
        "REPORT_BUCKET": BUCKET,
        "SNS_TOPIC_ARN": topic_arn,
        "METRIC_NAMESPACE": "Test/Compliance",
        "COMPLIANCE_POLICY": json.dumps(POLICY),
        "SCAN_REGIONS": REGION,
        "SECURITY_HUB_IMPORT": "true",
        "EVENTS_ALERT_SEVERITY": "high",
    }.items():
        monkeypatch.setenv(name, value)
    yield Changes(session, received)


def internet_facing(ec2: Any) -> None:
    """The default VPC routed to an internet gateway: its public instances are reachable, so
    exposure findings keep their full severity (reachability grading)."""
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    [table] = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"]
    ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)


def full_scan(changes: Changes) -> None:
    """The scheduled scan: the latest report every change is judged against; its alert read."""
    index.handler({}, CONTEXT)
    changes.alerts()


def test_a_group_opened_to_the_world_fails_each_instance_using_it_at_once_with_one_alert(
    changes, session, ec2, api_calls
) -> None:
    internet_facing(ec2)
    group = open_group(ec2, "web", [tcp(443, **WORLD)])
    users = launch(ec2, count=2, SecurityGroupIds=[group])
    bystander = launch(ec2)
    full_scan(changes)
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ALL_TRAFFIC])
    changes.call(cloudtrail("authorize_security_group_ingress", {"sg-0123456789abcdef0": group}))
    api_calls.clear()

    response = changes.drain()

    assert response == {"batchItemFailures": []}
    [record] = changes.records()
    assert sorted(r["resource_id"] for r in record["resources"]) == sorted(users)
    assert bystander[0] not in {r["resource_id"] for r in record["resources"]}
    critical = {(f["resource_id"], f["rule_id"]) for f in record["new_findings"] if f["severity"] == "critical"}
    assert {(user, "all_ports_open") for user in users} <= critical
    assert {f["resource_id"] for f in record["new_findings"]} == set(users)
    [alert] = changes.alerts()
    alerting = [f for f in record["new_findings"] if f["severity"] in ("critical", "high")]
    assert f"{len(alerting)} new high+ failure(s)" in alert["Subject"]
    assert all(user in alert["Message"] for user in users) and CHANGES_PREFIX in alert["Message"]
    hub = changes.hub()
    assert {hub[f["finding_id"]]["RecordState"] for f in record["new_findings"]} == {"ACTIVE"}
    assert api_calls["ec2:DescribeInstances"] == 1, "the group's instances, one filtered listing"


def test_a_fix_archives_the_findings_on_evidence_and_alerts_nobody(changes, session, ec2) -> None:
    group = open_group(ec2, "web", [ALL_TRAFFIC])
    users = launch(ec2, count=2, SecurityGroupIds=[group])
    full_scan(changes)
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[ALL_TRAFFIC])
    changes.call(cloudtrail("revoke_security_group_ingress", {"sg-0123456789abcdef0": group}))

    assert changes.drain() == {"batchItemFailures": []}

    [record] = changes.records()
    fixed = {(f["resource_id"], f["rule_id"]) for f in record["resolved_findings"]}
    assert {(user, "all_ports_open") for user in users} <= fixed
    assert not [f for f in record["findings"] if f["rule_id"] == "all_ports_open"]
    assert record["new_findings"] == [] and changes.alerts() == []
    hub = changes.hub()
    assert {hub[f["finding_id"]]["RecordState"] for f in record["resolved_findings"]} == {"ARCHIVED"}
    assert {hub[f["finding_id"]]["Workflow"]["Status"] for f in record["resolved_findings"]} == {"RESOLVED"}


def test_run_instances_of_three_evaluates_the_three(changes, ec2) -> None:
    launched = launch(ec2, count=3)
    placeholders = {f"i-0aaaaaaaaaaaaaaa{n}": launched[n - 1] for n in (1, 2, 3)}
    changes.call(cloudtrail("run_instances", placeholders))

    changes.drain()

    [record] = changes.records()
    assert sorted(r["resource_id"] for r in record["resources"]) == sorted(launched)
    assert {r["state"] for r in record["resources"]} == {"evaluated"}
    assert record["events"]["evaluated"] == 1


def test_a_burst_of_fifty_events_for_one_instance_is_one_evaluation(changes, ec2, api_calls) -> None:
    [instance] = launch(ec2)
    changes.call(cloudtrail("modify_instance_metadata_options", {INSTANCE_PLACEHOLDER: instance}), count=50)
    api_calls.clear()

    changes.drain()

    [record] = changes.records()
    assert record["events"] == {"received": 50, "evaluated": 50, "skipped": 0, "retried": 0}
    assert [r["resource_id"] for r in record["resources"]] == [instance]
    assert api_calls["ec2:DescribeInstances"] == 1


def test_an_event_for_a_resource_already_gone_gives_no_finding_and_no_error(changes, ec2) -> None:
    [instance] = launch(ec2)
    ec2.terminate_instances(InstanceIds=[instance])
    changes.call(cloudtrail("modify_instance_metadata_options", {INSTANCE_PLACEHOLDER: instance}))

    assert changes.drain() == {"batchItemFailures": []}

    [record] = changes.records()
    assert record["resources"] == [
        {"resource_type": "instance", "resource_id": instance, "region": REGION, "state": "gone"}
    ]
    assert record["findings"] == [] and record["new_findings"] == [] and record["errors"] == []


def test_an_event_the_rules_do_not_read_is_never_queued_and_skipped_cheaply_if_it_is(
    changes, ec2, api_calls, caplog
) -> None:
    changes.call({"eventSource": "ec2.amazonaws.com", "eventName": "CreateVolume", "requestParameters": {}})
    assert changes.queued() == [], "the patterns do not route it"
    foreign = json.dumps(
        {
            "id": "ev-not-read",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.ec2",
            "account": MOTO_ACCOUNT,
            "region": REGION,
            "time": "2026-12-03T09:00:00Z",
            "detail": {"eventName": "CreateVolume"},
        }
    )
    api_calls.clear()
    with caplog.at_level(logging.INFO, logger="ec2c.scanner"):
        response = changes.drain(
            [{"messageId": "m-1", "body": foreign, "eventSource": "aws:sqs", "eventSourceARN": changes.queue_arn}]
        )
    assert response == {"batchItemFailures": []}
    assert not [call for call in api_calls if call.startswith("ec2:")]
    assert changes.records() == []
    assert "ev-not-read: 'CreateVolume' changes nothing the enabled rules read" in caplog.text


def test_malformed_messages_are_logged_by_id_and_skipped_while_the_rest_is_evaluated(changes, ec2, caplog) -> None:
    [instance] = launch(ec2)
    changes.put("EC2 Instance State-change Notification", {"instance-id": instance, "state": "stopped"})
    no_detail = json.dumps(
        {"id": "ev-without-detail", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2"}
    )
    bad = [
        {"messageId": "m-not-json", "body": "{not json", "eventSource": "aws:sqs"},
        {"messageId": "m-no-detail", "body": no_detail, "eventSource": "aws:sqs"},
    ]
    with caplog.at_level(logging.INFO, logger="ec2c.scanner"):
        response = changes.drain(bad)

    assert response == {"batchItemFailures": []}
    [record] = changes.records()
    assert [r["resource_id"] for r in record["resources"]] == [instance]
    assert {s["event_id"]: s["reason"] for s in record["skipped"]} == {
        "m-not-json": "message m-not-json: the body is not a JSON event",
        "ev-without-detail": "event ev-without-detail: no detail field",
    }
    assert "event ev-without-detail: no detail field" in caplog.text


def test_a_region_that_cannot_be_listed_hands_back_only_its_messages(changes, session, ec2) -> None:
    [instance] = launch(ec2)
    changes.call(cloudtrail("modify_instance_metadata_options", {INSTANCE_PLACEHOLDER: instance}))
    queued = changes.queued()

    def deny(model: Any, **_: Any) -> None:
        raise ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}, model.name)

    session.events.register("before-call.ec2.DescribeInstances", deny)
    elsewhere = {"messageId": "m-elsewhere", "body": queued[0]["body"].replace(REGION, "eu-west-3")}
    response = dict(index.handler({"Records": [*queued, {**elsewhere, "eventSource": "aws:sqs"}]}, CONTEXT))

    assert response == {"batchItemFailures": [{"itemIdentifier": queued[0]["messageId"]}]}
    [record] = changes.records()
    assert record["events"]["retried"] == 1 and record["resources"] == []


def test_a_known_failure_is_not_new_again_and_a_second_change_builds_on_the_first(changes, ec2) -> None:
    group = open_group(ec2, "web", [])
    [instance] = launch(ec2, SecurityGroupIds=[group])
    full_scan(changes)
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ALL_TRAFFIC])
    changes.call(cloudtrail("authorize_security_group_ingress", {"sg-0123456789abcdef0": group}))
    changes.drain()
    assert len(changes.alerts()) == 1
    changes.put("EC2 Instance State-change Notification", {"instance-id": instance, "state": "running"})

    changes.drain()

    first, second = changes.records()
    assert [f["rule_id"] for f in second["new_findings"]] == []
    assert "all_ports_open" in {f["rule_id"] for f in second["findings"]}
    carried = next(f for f in second["findings"] if f["rule_id"] == "all_ports_open")
    assert carried["first_seen"] == first["generated_at"]
    assert changes.alerts() == []
    states = list(changes.store.keys(STATE_PREFIX))
    assert states == [f"{STATE_PREFIX}{REGION}/instance/{instance}.json"]


def test_metrics_count_the_batch_and_the_time_to_verdict(changes, session, ec2) -> None:
    [instance] = launch(ec2)
    changes.put("EC2 Instance State-change Notification", {"instance-id": instance, "state": "stopped"}, count=3)

    changes.drain()

    cloudwatch = session.client("cloudwatch", region_name=REGION)
    names = Counter(m["MetricName"] for m in cloudwatch.list_metrics(Namespace="Test/Compliance")["Metrics"])
    assert {"ChangeEventsReceived", "ChangeResourcesEvaluated", "ChangeTimeToVerdict"} <= set(names)
