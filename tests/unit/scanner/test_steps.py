"""The Step Functions steps and the worker's continuation, called directly: what the state
machine tests (test_fanout.py) cannot reach, such as malformed events and per-resource gaps
carried from one invocation of a region to the next."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from ec2c.scanner.collection import collector
from ec2c.scanner.collection.budget import TimeBudget
from ec2c.scanner.run import steps, workflow
from ec2c.scanner.run.handler import handler
from ec2c.scanner.run.scanner import new_run, run_document, run_from_document
from ec2c.scanner.run.worker import NoProgress, scan_region
from ec2c.scanner.settings import ConfigError, Settings
from ec2c.scanner.storage import DirStore, read_lines

from .conftest import ACCOUNT, NOW, REGION, launch
from .test_history import OPT_IN_ONLY, failure, pairs, previous_of
from .test_streaming import Clock

SETTINGS = Settings(
    bucket="reports",
    topic_arn=None,
    namespace="EC2Compliance",
    policy=OPT_IN_ONLY,
    regions=(REGION,),
    home_region=REGION,
)


def test_a_per_resource_gap_of_an_earlier_invocation_still_keeps_its_finding_unresolved(
    session, ec2, store, monkeypatch
) -> None:
    """Page 1 (an instance whose user data cannot be decoded) is done by the first invocation,
    page 2 by the second: the gap stored in part 0 still keeps the previous user data finding
    from being called resolved, and the fixed termination protection is resolved."""
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    [odd] = launch(ec2)
    ec2.modify_instance_attribute(InstanceId=odd, UserData={"Value": base64.b64encode(b"\x1f\x8b\x08 not gzip")})
    ec2.modify_instance_attribute(InstanceId=odd, DisableApiTermination={"Value": True})
    [other] = launch(ec2)
    previous = previous_of(failure(odd, "user_data_secrets"), failure(odd, "termination_protection"))
    run = new_run(OPT_IN_ONLY, NOW, ACCOUNT)

    first = scan_region(session, REGION, run, store, previous, TimeBudget(Clock(checks=3)), can_continue=True)
    assert first.resume is not None and first.resume.part == 1 and first.entry["shards"] is None
    last = scan_region(session, REGION, run, store, previous, TimeBudget(None), resume=first.resume, can_continue=True)

    assert last.resume is None and last.complete
    assert (last.entry["instances"], last.entry["unevaluated"]) == (2, 1)
    assert last.counter.instances == 2
    assert pairs(read_lines(store, last.entry["shards"]["resolved"])) == {(odd, "termination_protection")}
    assert {f["resource_id"] for f in read_lines(store, last.entry["shards"]["findings"])} == {other}


def test_without_continuation_a_budget_stop_is_a_partial_region_as_before(session, ec2, store, monkeypatch) -> None:
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    launch(ec2)
    launch(ec2)
    run = new_run(OPT_IN_ONLY, NOW, ACCOUNT)
    result = scan_region(session, REGION, run, store, None, TimeBudget(Clock(checks=3)))
    assert result.resume is None and not result.complete and result.entry["instances"] == 1


def test_an_invocation_without_time_for_a_page_raises_no_progress(session, ec2, store) -> None:
    launch(ec2)
    run = new_run(OPT_IN_ONLY, NOW, ACCOUNT)
    with pytest.raises(NoProgress, match=f"{REGION}: the time budget ran out before one page"):
        scan_region(session, REGION, run, store, None, TimeBudget(Clock(checks=0)), can_continue=True)


def test_the_plan_records_an_unreadable_previous_report_for_every_worker(tmp_path) -> None:
    store = DirStore(tmp_path)
    store.put_bytes("reports/latest.json", b"{not json", "application/json")
    planned = steps.plan(SETTINGS, store, {"input": {}}, ACCOUNT, NOW)
    assert planned["regions"] == [REGION]
    assert planned["run"]["previous_key"] is None
    assert planned["run"]["history_error"] == f"{store.uri('reports/latest.json')}: not JSON"
    run = run_from_document(planned["run"], OPT_IN_ONLY)
    assert (run.account_id, run.history_error, run.observed_at) == (ACCOUNT, planned["run"]["history_error"], NOW)


def test_the_plan_takes_the_regions_of_the_execution_input(tmp_path) -> None:
    planned = steps.plan(SETTINGS, DirStore(tmp_path), {"input": {"regions": ["eu-west-1", "eu-west-1"]}}, None, NOW)
    assert planned["regions"] == ["eu-west-1"]
    with pytest.raises(ConfigError, match="event.regions: 'mars-1' is not an AWS region name"):
        steps.plan(SETTINGS, DirStore(tmp_path), {"input": {"regions": ["mars-1"]}}, None, NOW)


RUN = run_document(new_run(OPT_IN_ONLY, NOW, ACCOUNT, run_id="r-1"), None)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"run": RUN, "region": "nowhere"}, "event.region: 'nowhere' is not an AWS region name"),
        ({"run": "r-1", "region": REGION}, "event.run: expected an object, got 'r-1'"),
        ({"run": RUN, "region": REGION, "resume": {"part": 1}}, "event.resume: expected a resume token"),
    ],
)
def test_a_malformed_worker_event_is_refused_by_field(event: dict[str, Any], message: str, tmp_path) -> None:
    with pytest.raises(ConfigError, match=message):
        steps.scan_region_step(None, SETTINGS, DirStore(tmp_path), event, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"run": RUN, "regions": REGION, "results": []}, "event.regions: expected a list"),
        (
            {"run": RUN, "regions": [REGION], "results": ["done"]},
            r"event.results: expected the Map's items \(objects\)",
        ),
        ({"run": RUN, "regions": [REGION], "results": [{"region": 7}]}, r"event.results\[\].region: 7 is not"),
    ],
)
def test_a_malformed_aggregate_event_is_refused_by_field(event: dict[str, Any], message: str, tmp_path) -> None:
    with pytest.raises(ConfigError, match=message):
        steps.aggregate_step(SETTINGS, DirStore(tmp_path), event)


def test_a_run_document_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"event.run: expected the plan step's run document \('observed_at'\)"):
        run_from_document({"run_id": "r"}, OPT_IN_ONLY)


def test_an_unknown_action_is_refused_before_any_call(monkeypatch) -> None:
    monkeypatch.setenv("REPORT_BUCKET", "reports")
    monkeypatch.setenv("AWS_REGION", REGION)
    with pytest.raises(ConfigError, match="event.action: expected plan, scan_region or aggregate, got 'scan'"):
        handler({"action": "scan"}, None)


@pytest.mark.parametrize(
    ("item", "code", "message"),
    [
        ({"error": "States.Timeout", "cause": "  the task\ntimed out "}, "States.Timeout", "the task timed out"),
        (
            {"error": "Sandbox.Timedout", "cause": json.dumps({"errorMessage": "Task timed out after 900 s"})},
            "Sandbox.Timedout",
            "Error: Task timed out after 900 s",
        ),
        ({}, "WorkerFailed", "the region's worker failed after its retries"),
        ({"error": "E", "cause": "x" * 5_000}, "E", "x" * (steps.MAX_CAUSE_CHARS - 1) + "…"),
    ],
)
def test_a_failed_worker_becomes_one_short_error_of_its_region(item: dict[str, Any], code: str, message: str) -> None:
    assert steps.failure_error(REGION, item) == {
        "region": REGION,
        "operation": steps.WORKER_OPERATION,
        "code": code,
        "message": message,
    }


@pytest.mark.parametrize("concurrency", [0, 41])
def test_the_map_concurrency_is_bounded_by_an_inline_maps_limit(concurrency: int) -> None:
    with pytest.raises(ValueError, match=f"max_concurrency: expected 1 to 40, got {concurrency}"):
        workflow.definition("arn:aws:lambda:us-east-1:123456789012:function:scanner", concurrency)


def test_the_execution_times_out_instead_of_running_for_a_year() -> None:
    document = workflow.definition("arn:aws:lambda:us-east-1:123456789012:function:scanner", 4)
    assert document["TimeoutSeconds"] == workflow.EXECUTION_TIMEOUT_S == 21_600
    assert document["States"][workflow.STATE_REGIONS]["MaxConcurrency"] == 4
