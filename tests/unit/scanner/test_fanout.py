"""The Step Functions scan run on moto's interpreter of the States Language.

The state machine is `workflow.definition()` as the stack deploys it; its Lambda tasks reach the
real handler through the one seam in `tests/sfn_seam.py` (moto's Lambda would need Docker).
moto's retrier sleeps for real between attempts: `retries` records the intervals instead.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.collection import collector
from ec2c.scanner.reports.reader import Report, load_latest
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.run import workflow
from ec2c.scanner.run.handler import handler
from ec2c.scanner.run.scanner import scan
from ec2c.scanner.storage import S3Store, read_lines, read_text_lines
from tests.sfn_seam import Handler, LocalLambda, scanner_function

from .conftest import LINUX_AMI, OTHER_REGION, REGION, tag_spec
from .test_streaming import Clock

THIRD_REGION = "us-west-2"
BUCKET = "reports"
TAGS_ONLY_DOCUMENT = {"rules": {rule: {"enabled": rule == "required_tags"} for rule in CATALOGUE}}
INSTANCE_RULES = {
    "rules": {rule_id: {"enabled": rule.resource_type == "instance"} for rule_id, rule in CATALOGUE.items()}
}


@dataclass
class StepFunctions:
    """A moto account with the reports bucket, the scanner function and its state machine."""

    session: boto3.session.Session
    seam: LocalLambda
    function_arn: str
    role_arn: str
    retries: list[float]
    store: S3Store = field(init=False)

    def __post_init__(self) -> None:
        self.store = S3Store(self.session.client("s3"), BUCKET)

    def state_machine(self, concurrency: int = 4) -> str:
        definition = json.dumps(workflow.definition(self.function_arn, concurrency))
        name = f"scan-{concurrency}-{time.monotonic_ns()}"
        return self.session.client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=self.role_arn
        )["stateMachineArn"]

    def execute(self, execution_input: dict[str, Any] | None = None, concurrency: int = 4) -> dict[str, Any]:
        """Start an execution and wait for its end; its description, output parsed."""
        client = self.session.client("stepfunctions")
        arn = client.start_execution(
            stateMachineArn=self.state_machine(concurrency), input=json.dumps(execution_input or {})
        )["executionArn"]
        deadline = time.monotonic() + 120
        while (described := client.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not end in 120 s"
            time.sleep(0.05)
        described["history"] = client.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        described["result"] = json.loads(described["output"]) if described.get("output") else None
        return described

    def ec2(self, region: str) -> Any:
        return self.session.client("ec2", region_name=region)

    def latest(self) -> Report:
        report = load_latest(self.store)
        assert report is not None
        return report

    def scan_regions(self) -> list[str]:
        return [
            str(event["region"])
            for event in self.seam.invocations
            if event.get("action") == workflow.ACTION_SCAN_REGION
        ]


def launch(ec2: Any, count: int = 1, **keywords: Any) -> list[str]:
    """`count` one-instance reservations (moto pages DescribeInstances by reservation)."""
    return [
        ec2.run_instances(ImageId=LINUX_AMI, MinCount=1, MaxCount=1, **keywords)["Instances"][0]["InstanceId"]
        for _ in range(count)
    ]


def configure(monkeypatch: pytest.MonkeyPatch, policy: dict[str, Any], regions: tuple[str, ...]) -> None:
    """The function's environment, as the stack sets it."""
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("REPORT_BUCKET", BUCKET)
    monkeypatch.setenv("SCAN_REGIONS", ",".join(regions))
    monkeypatch.setenv("COMPLIANCE_POLICY", json.dumps(policy))


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., StepFunctions]]:
    """`sfn(handler=..., clock=..., throttle=...)` sets up the account once per test."""
    retries: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=retries.append))
    configure(monkeypatch, TAGS_ONLY_DOCUMENT, (REGION, OTHER_REGION, THIRD_REGION))
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        session = boto3.session.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        function_arn, role = scanner_function(session)

        def make(handler_function: Handler = handler, **keywords: Any) -> StepFunctions:
            seam = LocalLambda(handler_function, **keywords)
            seam.install(monkeypatch)
            return StepFunctions(session, seam, function_arn, role, retries)

        yield make


def untagged(fleet: StepFunctions, region: str, count: int) -> list[str]:
    return launch(fleet.ec2(region), count)


def test_three_regions_run_as_one_map_and_one_aggregate(sfn) -> None:
    fleet = sfn()
    ids = {region: untagged(fleet, region, n) for region, n in ((REGION, 2), (OTHER_REGION, 1), (THIRD_REGION, 3))}

    execution = fleet.execute()

    assert execution["status"] == "SUCCEEDED"
    assert Counter(fleet.seam.actions()) == {"plan": 1, "scan_region": 3, "aggregate": 1}
    report = fleet.latest()
    assert execution["result"]["run_id"] == report.index["run_id"]
    assert execution["result"]["status"] == "ok" and report.index["partial"] is False
    assert report.index["regions"] == [REGION, OTHER_REGION, THIRD_REGION]
    assert [entry["region"] for entry in report.index["region_shards"]] == [REGION, OTHER_REGION, THIRD_REGION]
    assert report.summary["total_instances"] == 6
    for region, instances in ids.items():
        assert sorted(f["resource_id"] for f in report.findings(region)) == sorted(instances)
    map_state = next(e for e in execution["history"] if e["type"] == "MapStateStarted")
    assert map_state["mapStateStartedEventDetails"]["length"] == 3


def test_the_execution_input_narrows_the_regions(sfn) -> None:
    fleet = sfn()
    untagged(fleet, OTHER_REGION, 1)
    untagged(fleet, REGION, 1)
    execution = fleet.execute({"regions": [OTHER_REGION]})
    assert execution["status"] == "SUCCEEDED"
    assert fleet.latest().index["regions"] == [OTHER_REGION]
    assert fleet.scan_regions() == [OTHER_REGION]


def one_page_each(event: dict[str, Any]) -> Callable[[], int]:
    """Each worker invocation has time for one DescribeInstances page (the budget's first
    reading, one check, then all but nothing): a region of N pages takes N invocations."""
    return Clock(checks=1) if event.get("action") == workflow.ACTION_SCAN_REGION else (lambda: 900_000)


def test_a_region_of_three_pages_finishes_in_three_invocations_each_page_once(sfn, monkeypatch) -> None:
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    fleet = sfn(clock=one_page_each)
    instances = untagged(fleet, REGION, 3)
    monkeypatch.setenv("SCAN_REGIONS", REGION)

    execution = fleet.execute()

    assert execution["status"] == "SUCCEEDED"
    assert fleet.scan_regions() == [REGION] * 3
    resumes = [
        event["resume"] for event in fleet.seam.invocations if event.get("action") == workflow.ACTION_SCAN_REGION
    ]
    assert [r and r["part"] for r in resumes] == [None, 1, 2]
    report = fleet.latest()
    assert report.index["partial"] is False and report.index["incomplete_regions"] == []
    [entry] = report.index["region_shards"]
    assert (entry["instances"], entry["findings"], entry["new"], entry["complete"]) == (3, 3, 3, True)
    findings = list(report.findings(REGION))
    assert sorted(f["resource_id"] for f in findings) == sorted(instances)  # none twice, none skipped
    csv_lines = list(read_text_lines(report.store, entry["shards"]["csv"]))
    assert csv_lines[0].startswith("instance_id,region,") and len(csv_lines) == 4  # one header, three rows
    assert sorted(f["resource_id"] for f in report.new_findings()) == sorted(instances)
    assert report.summary["by_rule"]["required_tags"] == {"failed": 3, "passed": 0, "suppressed": 0, "skipped": 0}


def verdicts(report: Report) -> list[tuple[Any, ...]]:
    return sorted(
        (f["region"], f["resource_id"], f["rule_id"], f["severity"], f["message"], f["suppressed"])
        for f in report.findings()
    )


def test_the_aggregate_equals_a_one_process_scan_of_the_same_fleet(sfn, monkeypatch, tmp_path) -> None:
    """Instance rules on a mixed fleet in three regions, one of them continued over several
    invocations, and a previous run: the same summary, verdicts, new and resolved findings as
    `scan()` in one process with the same previous report."""
    configure(monkeypatch, INSTANCE_RULES, (REGION, OTHER_REGION, THIRD_REGION))
    monkeypatch.setattr(collector, "PAGE_SIZE", 2)
    fleet = sfn(clock=lambda event: Clock(checks=12) if event.get("region") == REGION else (lambda: 900_000))
    fixed = untagged(fleet, REGION, 5)
    launch(fleet.ec2(REGION), 1, TagSpecifications=tag_spec(Owner="a", Environment="b"))
    untagged(fleet, OTHER_REGION, 2)
    launch(fleet.ec2(THIRD_REGION), 2, MetadataOptions={"HttpTokens": "required"})
    policy = load_policy(INSTANCE_RULES)
    regions = [REGION, OTHER_REGION, THIRD_REGION]
    first = scan(fleet.session, regions, policy, fleet.store)
    fleet.ec2(REGION).create_tags(
        Resources=fixed[:2], Tags=[{"Key": "Owner", "Value": "a"}, {"Key": "Environment", "Value": "b"}]
    )
    untagged(fleet, OTHER_REGION, 1)
    local_store = S3Store(fleet.session.client("s3"), BUCKET)

    execution = fleet.execute()
    stepped = fleet.latest()
    local = scan(fleet.session, regions, policy, local_store, previous=first, run_id="local")

    assert execution["status"] == "SUCCEEDED"
    assert fleet.scan_regions().count(REGION) > 1  # the region was continued
    assert stepped.index["previous_run_id"] == first.index["run_id"]
    assert stepped.summary == local.summary
    assert verdicts(stepped) == verdicts(local)
    assert sorted(f["finding_id"] for f in stepped.new_findings()) == sorted(
        f["finding_id"] for f in local.new_findings()
    )
    resolved = sorted((f["resource_id"], f["rule_id"]) for f in stepped.resolved_findings())
    assert resolved == sorted((f["resource_id"], f["rule_id"]) for f in local.resolved_findings())
    assert {resource for resource, rule in resolved if rule == "required_tags"} == set(fixed[:2])
    assert [(e["region"], e["findings"], e["new"], e["resolved"]) for e in stepped.index["region_shards"]] == [
        (e["region"], e["findings"], e["new"], e["resolved"]) for e in local.index["region_shards"]
    ]
    first_seen = {f["finding_id"]: f["first_seen"] for f in first.findings()}
    assert all(
        f["first_seen"] == first_seen.get(f["finding_id"], stepped.index["generated_at"]) for f in stepped.findings()
    )


def failing_in(region: str, error: type[Exception] = RuntimeError) -> Handler:
    def failing(event: Any, context: Any) -> Any:
        if event.get("action") == workflow.ACTION_SCAN_REGION and event.get("region") == region:
            raise error(f"cannot scan {region}")
        return handler(event, context)

    return failing


def test_a_region_failing_every_retry_is_named_in_a_partial_report_and_the_others_stand(sfn) -> None:
    fleet = sfn(failing_in(OTHER_REGION))
    for region in (REGION, OTHER_REGION, THIRD_REGION):
        untagged(fleet, region, 1)

    execution = fleet.execute()

    assert execution["status"] == "SUCCEEDED"
    assert fleet.scan_regions().count(OTHER_REGION) == 1 + workflow.WORKER_RETRY["MaxAttempts"]
    assert fleet.retries == [5, 10]  # WORKER_RETRY's backoff
    report = fleet.latest()
    assert execution["result"]["status"] == "partial"
    assert execution["result"]["incomplete_regions"] == [OTHER_REGION]
    assert report.index["partial"] is True
    assert report.index["partial_reason"] == f"regions not fully scanned: {OTHER_REGION} (see errors)"
    assert report.index["errors"] == [
        {
            "region": OTHER_REGION,
            "operation": "states:ScanRegion",
            "code": "RuntimeError",
            "message": f"RuntimeError: cannot scan {OTHER_REGION}",
        }
    ]
    assert [e["region"] for e in report.index["region_shards"]] == [REGION, THIRD_REGION]
    assert report.summary["total_instances"] == 2


def test_a_worker_that_crashes_after_storing_its_part_is_retried_without_counting_twice(sfn, monkeypatch) -> None:
    """The second invocation of the region dies after its part and state are stored (a Lambda
    killed on its way out): the retry writes the same part again, nothing twice."""
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    monkeypatch.setenv("SCAN_REGIONS", REGION)
    calls: list[int] = []

    def crash_once(event: Any, context: Any) -> Any:
        outcome = handler(event, context)
        if event.get("action") == workflow.ACTION_SCAN_REGION:
            calls.append(1)
            if len(calls) == 2:
                raise ConnectionError("the invocation was lost after its part was stored")
        return outcome

    fleet = sfn(crash_once, clock=one_page_each)
    instances = untagged(fleet, REGION, 3)

    execution = fleet.execute()

    assert execution["status"] == "SUCCEEDED"
    assert len(calls) == 4 and fleet.retries == [5]
    report = fleet.latest()
    assert sorted(f["resource_id"] for f in report.findings()) == sorted(instances)
    assert report.summary["total_instances"] == 3 and report.index["partial"] is False


def test_throttling_is_retried_with_backoff(sfn) -> None:
    """The first two invocations are refused as Lambda refuses when its concurrency is taken
    (TooManyRequestsException: Lambda.TooManyRequestsException to Step Functions)."""
    refused: list[str] = []

    def throttle(event: dict[str, Any]) -> bool:
        if len(refused) < 2:
            refused.append(str(event.get("action")))
            return True
        return False

    fleet = sfn(throttle=throttle)
    untagged(fleet, REGION, 1)

    execution = fleet.execute({"regions": [REGION]})

    assert execution["status"] == "SUCCEEDED"
    assert refused == ["plan", "plan"]
    assert len(fleet.retries) == 2
    assert all(0 <= wait <= limit for wait, limit in zip(fleet.retries, (2, 4), strict=True))  # full jitter
    assert fleet.latest().summary["total_instances"] == 1


def test_a_worker_without_time_for_one_page_fails_instead_of_looping(sfn, monkeypatch) -> None:
    monkeypatch.setenv("SCAN_REGIONS", REGION)
    fleet = sfn(
        clock=lambda event: Clock(checks=0) if event.get("action") == workflow.ACTION_SCAN_REGION else (lambda: 900_000)
    )
    untagged(fleet, REGION, 1)

    execution = fleet.execute()

    assert execution["status"] == "SUCCEEDED"
    assert fleet.scan_regions() == [REGION] * 3
    [error] = fleet.latest().index["errors"]
    assert error["code"] == "NoProgress"
    assert "ran out before one page of instances was done" in error["message"]


def test_shards_read_back_whole_after_a_continued_region(sfn, monkeypatch) -> None:
    """A region continued over parts reads as one gzip stream (members joined)."""
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    monkeypatch.setenv("SCAN_REGIONS", REGION)
    fleet = sfn(clock=one_page_each)
    untagged(fleet, REGION, 2)
    fleet.execute()
    entry = fleet.latest().region_entry(REGION)
    assert entry is not None and entry["shards"] is not None
    assert len(list(read_lines(fleet.store, entry["shards"]["findings"]))) == 2
