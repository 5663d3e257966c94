"""Change-event benchmark: from PutEvents to the finding imported, for one event and for a burst.

The deployed path is EventBridge (the stack's own patterns, `events.event_patterns`) -> SQS ->
the scanner through an event source mapping, which hands it batches of messages. This script
builds that path on moto in one process: the rules with the real patterns targeting a queue,
a report bucket, an alert topic and Security Hub; a fleet of `--instances` instances spread over
`--groups` security groups; a full scan first (the latest report every change is judged
against). Then two cases:

* one event: a security group of one instance opened to the world (all traffic from 0.0.0.0/0)
  and its AuthorizeSecurityGroupIngress record (a CloudTrail record from the test fixtures) put
  on the bus, received from the queue and handed to the scanner as a batch of one: new
  failures, imported into Security Hub and alerted;
* a burst: `--burst` events over `--instances` resources (each instance gets burst/instances
  events of three kinds in turn: metadata options, a state change, an address association),
  put on the bus, received, and handed over in batches of `--batch-size` messages in queue
  order, as the event source mapping does. Events for one resource coalesce within a batch
  only: with the instances in turn, a batch of 100 holds each instance once, and a batch of 500
  (`--batch-size 500`, a larger `events.batch_size`) holds each five times.

For each case it prints: the time from the first PutEvents to the last batch's return (the
queue's batching window, 20 s by default in the stack, comes on top in AWS and is not waited for
here), the processing time of each batch once it has left the queue (the handler's own time,
what the goal of under 2 s for one event is about), the API calls the scanner made by service
(EC2 reads, and the S3, SNS, Security Hub and CloudWatch writes apart), EC2 calls per event and
per affected resource (the goal: at most 3), evaluations (resources judged) per event, the new
findings imported into Security Hub, and the peak RSS of this process.

The scanner is `changes.batch.handle_changes`, the handler's change path, called with this
script's boto3 session so its calls can be counted (the handler builds its own session from the
environment). moto's EventBridge leaves `account` out of the envelopes it delivers, which
EventBridge always sets; it is added back to each message body, and nothing else is changed.
The policy is the default one minus the rules whose reads moto does not serve
(ssm_managed and the account guardrails it answers as not offered).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "tests/unit/scanner/fixtures/events"
PLACEHOLDER = "i-0bbbbbbbbbbbbbbb1"
"""The instance of the metadata-options record."""
GROUP_PLACEHOLDER = "sg-0123456789abcdef0"
"""The group of the ingress record."""
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "bench-reports"
UNSERVED = (
    "ssm_managed",
    "imds_defaults_v2",
    "snapshot_block_public_access",
    "image_block_public_access",
    "serial_console_disabled",
)


def _policy() -> dict[str, Any]:
    from ec2c.scanner.rules import CATALOGUE

    return {"alert_threshold": 0, "rules": {rule: {"enabled": False} for rule in UNSERVED if rule in CATALOGUE}}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        import boto3

        from ec2c.scanner.assessment.policy import load_policy
        from ec2c.scanner.changes.events import event_names, event_patterns
        from ec2c.scanner.rules import CATALOGUE
        from ec2c.scanner.settings import load_settings
        from ec2c.scanner.storage import S3Store

        self.args = args
        self.session = boto3.session.Session(region_name=REGION)
        self.calls: Counter[str] = Counter()
        self.session.events.register("before-call", self._count)
        s3 = self.session.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        sns = self.session.client("sns")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        self.session.client("securityhub").enable_security_hub()
        self.sqs = self.session.client("sqs")
        self.queue = self.sqs.create_queue(QueueName="changes")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.events = self.session.client("events")
        policy = _policy()
        names = event_names(CATALOGUE[rule] for rule in load_policy(policy).enabled_rule_ids())
        for number, pattern in enumerate(event_patterns(names)):
            self.events.put_rule(Name=f"changes-{number}", EventPattern=json.dumps(pattern))
            self.events.put_targets(Rule=f"changes-{number}", Targets=[{"Id": "queue", "Arn": queue_arn}])
        self.queue_arn = queue_arn
        environment = {
            "AWS_REGION": REGION,
            "REPORT_BUCKET": BUCKET,
            "SNS_TOPIC_ARN": topic,
            "METRIC_NAMESPACE": "Bench/Compliance",
            "COMPLIANCE_POLICY": json.dumps(policy),
            "SCAN_REGIONS": REGION,
            "SECURITY_HUB_IMPORT": "true",
        }
        self.settings = load_settings(environment)
        self.store = S3Store(s3, BUCKET)
        self.ec2 = self.session.client("ec2")

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def seed(self) -> tuple[list[str], str]:
        """The fleet, and a group of its own for one more instance (the one-event case)."""
        lone = self.ec2.create_security_group(GroupName="lone", Description="bench")["GroupId"]
        self.ec2.run_instances(
            ImageId="ami-760aaa0f", MinCount=1, MaxCount=1, InstanceType="t3.micro", SecurityGroupIds=[lone]
        )
        per_group = max(1, self.args.instances // self.args.groups)
        instances: list[str] = []
        for number in range(self.args.groups):
            group = self.ec2.create_security_group(GroupName=f"g{number}", Description="bench")["GroupId"]
            count = per_group if number < self.args.groups - 1 else self.args.instances - len(instances)
            reservation = self.ec2.run_instances(
                ImageId="ami-760aaa0f",
                MinCount=count,
                MaxCount=count,
                InstanceType="t3.micro",
                SecurityGroupIds=[group],
            )
            instances += [i["InstanceId"] for i in reservation["Instances"]]
        return instances, lone

    def full_scan(self) -> None:
        from ec2c.scanner.run.handler import publish
        from ec2c.scanner.run.scanner import scan

        report = scan(self.session, self.settings.regions, self.settings.policy, self.store, account_id=ACCOUNT)
        publish(self.session, self.settings, self.store, report)

    def put(self, entries: list[dict[str, Any]]) -> None:
        for start in range(0, len(entries), 10):
            self.events.put_events(Entries=entries[start : start + 10])

    def received(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        while messages := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                body = json.dumps({"account": ACCOUNT, **json.loads(message["Body"])})
                records.append(
                    {
                        "messageId": message["MessageId"],
                        "body": body,
                        "eventSource": "aws:sqs",
                        "eventSourceARN": self.queue_arn,
                    }
                )
            self.sqs.delete_message_batch(
                QueueUrl=self.queue,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
        return records

    def handle(self, records: list[dict[str, Any]]) -> tuple[float, dict[str, Any]]:
        from ec2c.scanner.changes.batch import handle_changes

        started = time.perf_counter()
        response = handle_changes(self.session, self.settings, self.store, {"Records": records}, account_id=ACCOUNT)
        return time.perf_counter() - started, response


def _recorded(name: str, placeholder: str, value: str) -> dict[str, Any]:
    detail = json.loads((FIXTURES / f"{name}.json").read_text().replace(placeholder, value))["detail"]
    return {"Source": "aws.ec2", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(detail)}


def metadata_event(instance: str) -> dict[str, Any]:
    return _recorded("modify_instance_metadata_options", PLACEHOLDER, instance)


def opened(bench: Bench, group: str) -> dict[str, Any]:
    """The group opened to the world in EC2, and the API call's record."""
    bench.ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    return _recorded("authorize_security_group_ingress", GROUP_PLACEHOLDER, group)


def state_event(instance: str) -> dict[str, Any]:
    detail = {"instance-id": instance, "state": "running"}
    return {"Source": "aws.ec2", "DetailType": "EC2 Instance State-change Notification", "Detail": json.dumps(detail)}


def address_event(instance: str) -> dict[str, Any]:
    detail = {
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AssociateAddress",
        "requestParameters": {"instanceId": instance, "allocationId": "eipalloc-0123456789abcdef0"},
        "responseElements": {"_return": True, "associationId": "eipassoc-0123456789abcdef0"},
    }
    return {"Source": "aws.ec2", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(detail)}


KINDS = (metadata_event, state_event, address_event)


def burst(instances: list[str], count: int) -> Iterator[dict[str, Any]]:
    for number in range(count):
        yield KINDS[number // len(instances) % len(KINDS)](instances[number % len(instances)])


def records_written(bench: Bench, before: int) -> list[dict[str, Any]]:
    from datetime import UTC, datetime

    from ec2c.scanner.changes.records import records_since

    return [record for _, record in records_since(bench.store, datetime(2000, 1, 1, tzinfo=UTC))][before:]


def run_case(bench: Bench, name: str, entries: list[dict[str, Any]], batch_size: int, done: int) -> tuple[bool, int]:
    bench.calls.clear()
    started = time.perf_counter()
    bench.put(entries)
    put = time.perf_counter() - started
    messages = bench.received()
    queued = time.perf_counter() - started - put
    bench.calls.clear()
    timings: list[float] = []
    retried = 0
    for start in range(0, len(messages), batch_size):
        seconds, response = bench.handle(messages[start : start + batch_size])
        timings.append(seconds)
        retried += len(response["batchItemFailures"])
    total = time.perf_counter() - started
    written = records_written(bench, done)
    evaluated = sum(len(record["resources"]) for record in written)
    distinct = len(
        {(r["region"], r["resource_type"], r["resource_id"]) for record in written for r in record["resources"]}
    )
    new = sum(len(record["new_findings"]) for record in written)
    ec2 = sum(count for call, count in bench.calls.items() if call.startswith(("ec2:", "ssm:")))
    others = Counter({call: count for call, count in bench.calls.items() if not call.startswith(("ec2:", "ssm:"))})
    print(f"\n{name}: {len(entries)} event(s), {len(messages)} message(s) received, {len(timings)} batch(es)")
    print(
        f"  PutEvents -> last batch returned: {total:.3f} s (plus the queue's batching window in AWS), of which "
        f"moto's PutEvents {put:.3f} s and the queue's receives {queued:.3f} s"
    )
    print(
        f"  processing per batch after the queue: max {max(timings):.3f} s, "
        f"mean {sum(timings) / len(timings):.3f} s, total {sum(timings):.3f} s"
    )
    print(f"  resource evaluations: {evaluated} ({distinct} distinct), {evaluated / len(entries):.3f} per event")
    print(
        f"  EC2/SSM reads: {ec2} ({ec2 / len(entries):.3f} per event, {ec2 / max(1, distinct):.3f} per affected "
        f"resource): {dict(sorted((c, n) for c, n in bench.calls.items() if c.startswith(('ec2:', 'ssm:'))))}"
    )
    print(f"  other calls: {dict(sorted(others.items()))}")
    imported = bench.calls["securityhub:BatchImportFindings"]
    print(f"  new findings: {new} (Security Hub import calls: {imported}); messages handed back: {retried}")
    goal = max(timings) < 2.0 if len(entries) == 1 else True
    calls_goal = ec2 / max(1, distinct) <= 3
    print(
        f"  goals: one event under 2 s of processing: {'met' if goal else 'MISSED'}; "
        f"at most 3 EC2 calls per affected resource: {'met' if calls_goal else 'MISSED'}"
    )
    return retried == 0 and len(messages) == len(entries), done + len(written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=100, help="messages per batch (the stack's default)")
    args = parser.parse_args(argv)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        os.environ[name] = value
    from moto import mock_aws

    with mock_aws():
        bench = Bench(args)
        seeded = time.perf_counter()
        instances, lone = bench.seed()
        bench.full_scan()
        print(
            f"fleet: {len(instances) + 1} instances in {args.groups + 1} groups, full scan as baseline "
            f"in {time.perf_counter() - seeded:.2f} s (not in the figures)"
        )
        whole, done = run_case(bench, "one event", [opened(bench, lone)], args.batch_size, 0)
        whole_burst, _ = run_case(bench, "burst", list(burst(instances, args.burst)), args.batch_size, done)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MB")
    return 0 if whole and whole_burst else 1


if __name__ == "__main__":
    sys.exit(main())
