"""Fixtures for the scanner tests: moto-backed AWS, a call counter, a report store, record
builders, and one-document (schema 2 shaped) reports for the readers that need no AWS."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ec2c.scanner.assessment.evaluation import evaluate_resources
from ec2c.scanner.assessment.policy import Policy
from ec2c.scanner.documents import iso_utc
from ec2c.scanner.model import FAIL, InstanceRecord, Record
from ec2c.scanner.reports.reader import Report, load_report
from ec2c.scanner.reports.report import SummaryCounter, finding_document, policy_document
from ec2c.scanner.run.scanner import scan
from ec2c.scanner.storage import DirStore

REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
ACCOUNT = "123456789012"
LINUX_AMI = "ami-760aaa0f"
"""An Amazon-owned Amazon Linux image from moto's default catalogue."""
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def instance_rules_only(document: dict[str, Any] | None = None) -> dict[str, Any]:
    """A policy document with the account and launch template rules off: the region-level reads
    have tests of their own (test_region_resources.py), and four of them are calls moto lacks."""
    from ec2c.scanner.rules import CATALOGUE

    document = dict(document or {})
    rules = {rule_id: {"enabled": False} for rule_id, rule in CATALOGUE.items() if rule.resource_type != "instance"}
    document["rules"] = {**rules, **document.get("rules", {})}
    return document


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, so nothing can ever reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def session(aws: None) -> boto3.session.Session:
    return boto3.session.Session(region_name=REGION)


@pytest.fixture
def ec2(session: boto3.session.Session) -> Any:
    return session.client("ec2", region_name=REGION)


@pytest.fixture
def store(tmp_path: Path) -> DirStore:
    """A local folder with the bucket's layout: where `run` stores its reports."""
    return DirStore(tmp_path / "store")


Scan = Callable[..., Report]


@pytest.fixture
def run(session: boto3.session.Session, store: DirStore) -> Scan:
    """`scan()` on moto into the test's store: `run(regions, policy, **keywords)` returns the
    stored Report. Every run of one test goes to the same store, as the Lambda's runs go to
    one bucket."""

    def run_scan(regions: Sequence[str], policy: Policy, **keywords: Any) -> Report:
        return scan(session, regions, policy, store, **keywords)

    return run_scan


@pytest.fixture
def api_calls(session: boto3.session.Session) -> Counter[str]:
    """Counts every API call the session's clients make, as 'service:Operation'."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    session.events.register("before-call", count)
    return calls


@pytest.fixture
def topic(session: boto3.session.Session) -> tuple[Any, str, Any]:
    """An SNS topic with an SQS subscription, so published messages can be read back.

    Returns (sns client, topic ARN, a function listing the SNS envelopes received so far).
    """
    sns = session.client("sns", region_name=REGION)
    sqs = session.client("sqs", region_name=REGION)
    arn = sns.create_topic(Name="compliance")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=attributes["Attributes"]["QueueArn"])

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]

    return sns, arn, received


def launch(ec2: Any, count: int = 1, **kwargs: Any) -> list[str]:
    """Run `count` instances of the Amazon Linux image; returns their ids."""
    kwargs.setdefault("ImageId", LINUX_AMI)
    response = ec2.run_instances(MinCount=count, MaxCount=count, **kwargs)
    return [instance["InstanceId"] for instance in response["Instances"]]


def tag_spec(**tags: str) -> list[dict[str, Any]]:
    return [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


BASE_RECORD = InstanceRecord(
    instance_id="i-0123456789abcdef0",
    region=REGION,
    account_id=ACCOUNT,
    state="running",
    instance_type="t3.micro",
    observed_at=NOW,
)


def record(**changes: Any) -> InstanceRecord:
    """A minimal record with `changes` applied, for testing one rule at a time."""
    return replace(BASE_RECORD, **changes)


def inline_report(**fields: Any) -> Report:
    """A one-document report (schema 2 shaped, findings inline) through the reader's boundary:
    `load_report` upgrades it as it would a stored schema 2 report."""
    document: dict[str, Any] = {
        "schema_version": 2,
        "run_id": "run-1",
        "generated_at": iso_utc(NOW),
        "account_id": ACCOUNT,
        "regions": [REGION],
        "summary": SummaryCounter([]).summary(),
        **fields,
    }
    return load_report(document, None, "test")


def report_from_records(
    records: Iterable[Record], policy: Policy, *, regions: Sequence[str] = (REGION,), **fields: Any
) -> Report:
    """The one-document report of a first run over `records`: their FAILs as findings (every
    unsuppressed one new), the summary counted by the scanner's own SummaryCounter."""
    records = list(records)
    outcomes = evaluate_resources(records, policy, NOW.date())
    counter = SummaryCounter(policy.enabled_rule_ids())
    counter.add(outcomes, instances=len(records))
    generated = iso_utc(NOW)
    findings = [finding_document(o, ACCOUNT, generated) for o in outcomes if o.result.status == FAIL]
    return inline_report(
        regions=list(regions),
        summary=counter.summary(),
        policy=policy_document(policy),
        findings=findings,
        new_findings=[f for f in findings if not f["suppressed"]],
        **fields,
    )


BUCKET = "reports-bucket"


@dataclass
class LambdaContext:
    """The two attributes of the Lambda context object that the handler reads."""

    remaining_ms: int = 300_000
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:210987654321:function:scanner"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def deployed(session, topic, monkeypatch):
    """What the stack creates: bucket, topic (read through SQS) and the environment."""
    session.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    _, topic_arn, received = topic
    env = {
        "AWS_REGION": REGION,
        "REPORT_BUCKET": BUCKET,
        "SNS_TOPIC_ARN": topic_arn,
        "METRIC_NAMESPACE": "Test/Compliance",
        "COMPLIANCE_POLICY": json.dumps(instance_rules_only({"alert_threshold": 0})),
        "SCAN_REGIONS": f"{REGION}, {OTHER_REGION}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    return received
