"""`ec2c run --env E [--wait]` on moto's Step Functions interpreter: the state machine is
`workflow.definition()` as the stack deploys it, its Lambda tasks reach the scanner's real
handler through `tests/sfn_seam.py`, and the stack's outputs are stubbed as in test_report_env.
moto's retrier sleeps for real between attempts: it sleeps for nothing here."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from test_scan_command import clean_env, dummy_creds  # noqa: F401 (fixtures)
from typer.testing import CliRunner

from ec2c.orchestrator.cli import app
from ec2c.orchestrator.deploy.rollouts import operations
from ec2c.orchestrator.scan import remote, run_scan
from ec2c.orchestrator.scan.run_scan import Phase, RegionProgress, RegionState
from ec2c.scanner.collection import collector
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.run import workflow
from ec2c.scanner.run.handler import handler
from tests.sfn_seam import Handler, LocalLambda, scanner_function

REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
THIRD_REGION = "us-west-2"
BUCKET = "reports-dev"
LINUX_AMI = "ami-760aaa0f"
TAGS_ONLY = {"rules": {rule: {"enabled": rule == "required_tags"} for rule in CATALOGUE}}
"""An instance rule without lookups: a DescribeInstances page is all a page costs."""


@dataclass
class Deployed:
    """A moto account with what `ec2c up` deploys for the run: the bucket, the scanner function
    and its state machine, named in the stubbed stack outputs."""

    session: boto3.session.Session
    monkeypatch: pytest.MonkeyPatch
    outputs: dict[str, Any]
    state_machine: str
    seam: LocalLambda | None = None

    def route(self, handler_function: Handler = handler, **keywords: Any) -> LocalLambda:
        """The function's invocations go to `handler_function` in this process."""
        self.seam = LocalLambda(handler_function, **keywords)
        self.seam.install(self.monkeypatch)
        return self.seam

    def launch(self, region: str, count: int) -> list[str]:
        """`count` one-instance reservations (moto pages DescribeInstances by reservation)."""
        ec2 = self.session.client("ec2", region_name=region)
        return [
            ec2.run_instances(ImageId=LINUX_AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
            for _ in range(count)
        ]

    @property
    def sfn(self) -> Any:
        return self.session.client("stepfunctions", region_name=REGION)

    def executions(self) -> list[dict[str, Any]]:
        return self.sfn.list_executions(stateMachineArn=self.state_machine)["executions"]

    def wait_for_the_end(self, execution_arn: str) -> dict[str, Any]:
        """An execution the command left running, to its end (its thread must not outlive moto)."""
        deadline = time.monotonic() + 60
        while (described := self.sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not end in 60 s"
            time.sleep(0.05)
        return described


@pytest.fixture
def deployed(dummy_creds, monkeypatch) -> Iterator[Deployed]:  # noqa: F811
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=lambda seconds: None))
    monkeypatch.setattr(remote, "pause", lambda seconds: time.sleep(0.02))
    for name, value in {
        "AWS_REGION": REGION,
        "REPORT_BUCKET": BUCKET,
        "COMPLIANCE_POLICY": json.dumps(TAGS_ONLY),
        "SCAN_REGIONS": ",".join((REGION, OTHER_REGION, THIRD_REGION)),
    }.items():
        monkeypatch.setenv(name, value)  # the function's environment, as the stack sets it
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        session = boto3.session.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        function_arn, role = scanner_function(session)
        state_machine = session.client("stepfunctions").create_state_machine(
            name="dev-scan", definition=json.dumps(workflow.definition(function_arn, 2)), roleArn=role
        )["stateMachineArn"]
        outputs = {"compliance_bucket_name": BUCKET, "region": REGION, "state_machine_arn": state_machine}
        environment = SimpleNamespace(stack_name="dev", aws=SimpleNamespace(region=REGION))
        monkeypatch.setattr(operations, "stack_outputs", lambda env, stack, config_dir: (outputs, environment))
        yield Deployed(session, monkeypatch, outputs, state_machine)


def run(*args: str):
    result = CliRunner().invoke(app, ["run", "--env", "dev", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def flat(text: str) -> str:
    return " ".join(text.split())


def region_lines(result, region: str) -> list[str]:
    """What the command said of `region`, in order."""
    prefix = f"{region}: "
    return [line.strip()[len(prefix) :] for line in result.stderr.splitlines() if line.strip().startswith(prefix)]


def error_line(result) -> str:
    (line,) = [line for line in result.stderr.splitlines() if line.startswith(("error:", "interrupted:"))]
    return line


# ------------------------------------------------------------------------------------------------
# The command on moto's interpreter
# ------------------------------------------------------------------------------------------------


def test_wait_follows_every_region_to_done_and_prints_the_outcome(deployed) -> None:
    deployed.route()
    deployed.launch(REGION, 2)
    deployed.launch(OTHER_REGION, 1)

    result = run("--wait")

    assert result.exit_code == 0, result.stderr
    [execution] = deployed.executions()
    assert result.stdout == execution["executionArn"] + "\n"
    assert run_scan.console_url(execution["executionArn"]) in result.stderr
    for region in (REGION, OTHER_REGION, THIRD_REGION):
        lines = region_lines(result, region)
        assert lines[0] == "queued" and lines[-1] == "done", (region, lines)
        assert "scanning (invocation 1)" in lines
    stderr = flat(result.stderr)
    assert "Aggregating the regions' results into the report" in stderr
    report = deployed.sfn.describe_execution(executionArn=execution["executionArn"])
    run_id = json.loads(report["output"])["run_id"]
    assert f"Run {run_id}: ok · 3 instances · 3 non-compliant · compliance 0.0%" in stderr
    assert f"Report: s3://{BUCKET}/reports/" in stderr and f"{run_id}.json" in stderr
    assert "Read it with: ec2c report --env dev" in stderr
    assert json.loads(report["input"]) == {}


def test_a_region_failing_every_retry_is_shown_failed_and_the_run_is_partial(deployed) -> None:
    def unreachable(event: Any, context: Any) -> Any:
        if event.get("action") == workflow.ACTION_SCAN_REGION and event.get("region") == OTHER_REGION:
            raise RuntimeError(f"cannot reach [red]{OTHER_REGION}[/red]")  # AWS's text, never markup
        return handler(event, context)

    seam = deployed.route(unreachable)
    deployed.launch(REGION, 1)

    result = run("--wait", "--regions", f"{REGION},{OTHER_REGION}")

    assert result.exit_code == 1, result.stderr
    assert seam.actions().count(workflow.ACTION_SCAN_REGION) == 1 + 3  # eu-west-1: the attempt and two retries
    assert region_lines(result, OTHER_REGION) == [
        "queued",
        "scanning (invocation 1)",
        f"scanning (invocation 1, retry 1 after RuntimeError: cannot reach [red]{OTHER_REGION}[/red])",
        f"scanning (invocation 1, retry 2 after RuntimeError: cannot reach [red]{OTHER_REGION}[/red])",
        f"failed: RuntimeError: cannot reach [red]{OTHER_REGION}[/red]",
    ]
    assert region_lines(result, REGION)[-1] == "done"
    assert region_lines(result, THIRD_REGION) == []  # --regions narrowed the run
    stderr = flat(result.stderr)
    assert "partial · 1 instances · 1 non-compliant · compliance 0.0%" in stderr
    assert f"incomplete regions: {OTHER_REGION}" in stderr
    assert error_line(result) == (
        f"error: the run is partial (regions not fully scanned: {OTHER_REGION}); a region that was not read cannot "
        "pass (`ec2c report --env dev` shows the errors; --allow-partial accepts it)"
    )
    [execution] = deployed.executions()
    described = deployed.sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"regions": [REGION, OTHER_REGION]}

    accepted = run("--wait", "--regions", OTHER_REGION, "--allow-partial")
    assert accepted.exit_code == 0, accepted.stderr
    assert region_lines(accepted, OTHER_REGION)[-1].startswith("failed: RuntimeError: cannot reach")


class Clock:
    """A worker's remaining time that lasts its budget's first reading and one check (the
    DescribeInstances page), then is all but gone: one page per invocation."""

    def __init__(self, checks: int = 1) -> None:
        self.left = checks + 1

    def __call__(self) -> int:
        self.left -= 1
        return 60_000 if self.left >= 0 else 1_000


def test_a_region_of_three_pages_takes_three_invocations(deployed, monkeypatch) -> None:
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    seam = deployed.route(
        clock=lambda event: Clock() if event.get("action") == workflow.ACTION_SCAN_REGION else (lambda: 900_000)
    )
    deployed.launch(REGION, 3)

    result = run("--wait", "--regions", REGION)

    assert result.exit_code == 0, result.stderr
    assert seam.actions() == ["plan", "scan_region", "scan_region", "scan_region", "aggregate"]
    assert region_lines(result, REGION) == [
        "queued",
        "scanning (invocation 1)",
        "scanning (invocation 2)",
        "scanning (invocation 3)",
        "done (3 invocations)",
    ]
    assert "ok · 3 instances · 3 non-compliant" in flat(result.stderr)


def test_without_wait_the_execution_is_started_and_named(deployed) -> None:
    deployed.route()

    result = run("--regions", OTHER_REGION)

    assert result.exit_code == 0, result.stderr
    [execution] = deployed.executions()
    arn = execution["executionArn"]
    assert result.stdout == arn + "\n"
    assert execution["name"].startswith("ec2c-run-")
    assert (
        f"Started the scan of dev: https://{REGION}.console.aws.amazon.com/states/home?region={REGION}"
        f"#/v2/executions/details/{arn}" in flat(result.stderr)
    )
    assert "ec2c report --env dev" in result.stderr
    described = deployed.wait_for_the_end(arn)
    assert json.loads(described["input"]) == {"regions": [OTHER_REGION]}
    assert described["status"] == "SUCCEEDED"


def test_an_execution_that_fails_exits_1_with_its_error_and_cause(deployed) -> None:
    def broken(event: Any, context: Any) -> Any:
        if event.get("action") == workflow.ACTION_PLAN:
            raise PermissionError("s3:GetObject denied on reports/latest.json")
        return handler(event, context)

    deployed.route(broken)
    result = run("--wait")
    assert result.exit_code == 1, result.stderr
    assert "Planning the run" in result.stderr
    [execution] = deployed.executions()
    assert error_line(result) == (
        "error: execution failed: PermissionError: s3:GetObject denied on "
        f"reports/latest.json ({run_scan.console_url(execution['executionArn'])})"
    )


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_waiting_not_the_execution(deployed, monkeypatch, signum, code) -> None:
    planned = threading.Event()

    def slow_plan(event: Any, context: Any) -> Any:
        if event.get("action") == workflow.ACTION_PLAN:
            assert planned.wait(30)
        return handler(event, context)

    def signalled(seconds: float) -> None:
        planned.set()
        os.kill(os.getpid(), signum)  # through the supervisor's handler, as from a terminal or `docker stop`
        time.sleep(1)

    deployed.route(slow_plan)
    monkeypatch.setattr(remote, "pause", signalled)

    result = run("--wait")

    assert result.exit_code == code, result.stderr
    [execution] = deployed.executions()
    arn = execution["executionArn"]
    assert error_line(result).startswith(f"interrupted: stopped waiting; the execution goes on in AWS: {arn} ")
    assert f"aws stepfunctions describe-execution --execution-arn {arn}" in flat(result.stderr)
    assert deployed.wait_for_the_end(arn)["status"] == "SUCCEEDED"  # it went on without us


def test_a_stack_deployed_before_the_state_machine_says_to_redeploy(deployed) -> None:
    del deployed.outputs["state_machine_arn"]
    result = run("--wait")
    assert result.exit_code == 1
    assert error_line(result) == (
        "error: stack dev: no `state_machine_arn` output; it was deployed before `ec2c run` existed: "
        "redeploy it (`ec2c up --env dev`), which adds the scan's state machine"
    )
    assert result.stdout == "" and deployed.executions() == []


def test_unknown_regions_are_bad_input_before_anything_runs(deployed) -> None:
    result = run("--regions", "eu-west-1,eu-wset-1")
    assert result.exit_code == 2
    assert error_line(result) == "error: --regions: unknown region 'eu-wset-1' (did you mean eu-west-1?)"
    assert deployed.executions() == []


# ------------------------------------------------------------------------------------------------
# The fold of history events (pure) and the history's reader
# ------------------------------------------------------------------------------------------------


def _event(event_id: int, previous: int, kind: str, **details: Any) -> dict[str, Any]:
    if kind.endswith("StateEntered"):
        key = "stateEnteredEventDetails"
    elif kind.endswith("StateExited"):
        key = "stateExitedEventDetails"
    else:
        key = kind[0].lower() + kind[1:] + "EventDetails"
    event: dict[str, Any] = {"id": event_id, "previousEventId": previous, "type": kind}
    if details:
        event[key] = {k: json.dumps(v) if k in ("input", "output", "parameters") else v for k, v in details.items()}
    return event


RUN = {"run_id": "r1"}


def _scan_payload(region: str, resume: Any = None) -> dict[str, Any]:
    return {"FunctionName": "fn", "Payload": {"action": "scan_region", "run": RUN, "region": region, "resume": resume}}


HISTORY = [
    _event(1, 0, "ExecutionStarted"),
    _event(2, 0, "TaskStateEntered", name="Plan", input={}),
    _event(3, 2, "TaskScheduled", parameters={"Payload": {"action": "plan", "input": {}}}),
    _event(4, 3, "TaskSucceeded", output={"Payload": {"run": RUN, "regions": ["a-east-1", "b-west-2", "c-north-1"]}}),
    _event(5, 4, "TaskStateExited", name="Plan", output={"run": RUN, "regions": ["a-east-1", "b-west-2", "c-north-1"]}),
    _event(
        6, 5, "MapStateEntered", name="Regions", input={"run": RUN, "regions": ["a-east-1", "b-west-2", "c-north-1"]}
    ),
    _event(7, 6, "MapStateStarted"),
    _event(8, 7, "MapIterationStarted", name="Regions", index=0),
    _event(9, 7, "MapIterationStarted", name="Regions", index=1),
    # both iterations interleave; only previousEventId ties a task's events to its region
    _event(10, 8, "TaskStateEntered", name="ScanRegion", input={"run": RUN, "region": "a-east-1", "resume": None}),
    _event(11, 9, "TaskStateEntered", name="ScanRegion", input={"run": RUN, "region": "b-west-2", "resume": None}),
    _event(12, 11, "TaskScheduled", parameters=_scan_payload("b-west-2")),
    _event(13, 10, "TaskScheduled", parameters=_scan_payload("a-east-1")),
    _event(14, 12, "TaskStarted"),
    _event(15, 13, "TaskStarted"),
    _event(16, 14, "TaskFailed", error="States.Timeout", cause="Task timed out after 900.00 seconds"),
    _event(
        17,
        15,
        "TaskSucceeded",
        output={"Payload": {"run": RUN, "region": "a-east-1", "resume": {"part": 1}, "done": False}},
    ),
    _event(18, 16, "TaskScheduled", parameters=_scan_payload("b-west-2")),  # the retry
    _event(19, 17, "TaskStateExited", name="ScanRegion", output={"region": "a-east-1", "done": False}),
    _event(20, 19, "ChoiceStateEntered", name="MoreToScan", input={"region": "a-east-1", "done": False}),
    _event(21, 20, "ChoiceStateExited", name="MoreToScan", output={"region": "a-east-1", "done": False}),
    _event(
        22, 21, "TaskStateEntered", name="ScanRegion", input={"run": RUN, "region": "a-east-1", "resume": {"part": 1}}
    ),
    _event(23, 22, "TaskScheduled", parameters=_scan_payload("a-east-1", {"part": 1})),
    _event(24, 18, "TaskStarted"),
    _event(
        25,
        24,
        "TaskFailed",
        error="RuntimeError",
        cause=json.dumps({"errorMessage": "boom", "errorType": "RuntimeError", "stackTrace": ["  File x\n"]}),
    ),
    _event(26, 25, "TaskStateExited", name="ScanRegion", output={"region": "b-west-2"}),
    _event(27, 26, "PassStateEntered", name="RegionFailed", input={"region": "b-west-2"}),
    _event(
        28,
        27,
        "PassStateExited",
        name="RegionFailed",
        output={
            "region": "b-west-2",
            "done": False,
            "error": "RuntimeError",
            "cause": json.dumps({"errorMessage": "boom", "errorType": "RuntimeError", "stackTrace": ["  File x\n"]}),
        },
    ),
    _event(29, 28, "MapIterationSucceeded", name="Regions", index=1),
    _event(30, 23, "TaskStarted"),
    _event(
        31, 30, "TaskSucceeded", output={"Payload": {"run": RUN, "region": "a-east-1", "resume": None, "done": True}}
    ),
]


def test_the_fold_names_each_region_from_its_iteration() -> None:
    progress = run_scan.fold(HISTORY)

    assert progress.last_event_id == 31 and progress.phase is Phase.scanning
    assert list(progress.regions) == ["a-east-1", "b-west-2", "c-north-1"]
    assert progress.regions["a-east-1"] == RegionProgress("a-east-1", RegionState.done, invocations=2)
    failed = progress.regions["b-west-2"]
    assert (failed.state, failed.invocations, failed.retries, failed.error) == (
        RegionState.failed,
        1,
        1,
        "RuntimeError",
    )
    assert failed.describe() == "failed: RuntimeError: boom"
    assert progress.regions["c-north-1"].describe() == "queued"  # beyond the Map's concurrency, not started yet
    assert progress.counts() == {
        RegionState.queued: 1,
        RegionState.scanning: 0,
        RegionState.done: 1,
        RegionState.failed: 1,
    }


def test_the_fold_goes_on_from_its_cursor_with_the_same_result() -> None:
    whole, updates = run_scan.advance(run_scan.RunProgress(), HISTORY)
    first, early = run_scan.advance(run_scan.RunProgress(), HISTORY[:17])
    again, late = run_scan.advance(first, HISTORY[10:])  # overlapping: events at or before the cursor are skipped
    assert first.last_event_id == 17 and first.regions["a-east-1"].describe() == "scanning (invocation 1)"
    assert again.regions == whole.regions and again.last_event_id == 31
    assert early + late == updates
    described = [(u.region, u.describe()) if isinstance(u, RegionProgress) else u for u in updates]
    assert described == [
        Phase.planning,
        ("a-east-1", "queued"),
        ("b-west-2", "queued"),
        ("c-north-1", "queued"),
        Phase.scanning,
        ("a-east-1", "scanning (invocation 1)"),
        ("b-west-2", "scanning (invocation 1)"),
        ("b-west-2", "scanning (invocation 1, retry 1 after States.Timeout: Task timed out after 900.00 seconds)"),
        ("a-east-1", "scanning (invocation 2)"),
        ("b-west-2", "failed: RuntimeError: boom"),
        ("a-east-1", "done (2 invocations)"),
    ]


def test_the_fold_falls_back_on_the_iteration_index_when_an_input_is_cut_off() -> None:
    """The history cuts an input beyond its size limit (`inputDetails.truncated`): not JSON."""
    events = [dict(event) for event in HISTORY[:13]]
    events[9] = {
        **events[9],
        "stateEnteredEventDetails": {"name": "ScanRegion", "input": '{"run": {"run_id": "r1", "previ'},
    }
    events[12] = {**events[12], "taskScheduledEventDetails": {"parameters": '{"FunctionName": "fn", "Payl'}}
    progress = run_scan.fold(events)
    assert progress.regions["a-east-1"].describe() == "scanning (invocation 1)"


class PagedHistory:
    """GetExecutionHistory as AWS pages it: `maxResults` a page, newest first with reverseOrder."""

    def __init__(self, count: int) -> None:
        self.events = [{"id": n, "previousEventId": n - 1, "type": "PassStateEntered"} for n in range(1, count + 1)]
        self.calls = 0

    def get_execution_history(
        self,
        executionArn: str,
        reverseOrder: bool,
        maxResults: int,
        includeExecutionData: bool,
        nextToken: str | None = None,
    ) -> dict[str, Any]:
        self.calls += 1
        ordered = self.events[::-1] if reverseOrder else self.events
        start = int(nextToken or 0)
        page: dict[str, Any] = {"events": ordered[start : start + maxResults]}
        if start + maxResults < len(ordered):
            page["nextToken"] = str(start + maxResults)
        return page


@pytest.mark.parametrize(("after", "pages"), [(0, 3), (2_400, 1), (1_400, 2), (2_500, 1)])
def test_the_history_is_read_newest_first_down_to_the_cursor(after, pages) -> None:
    history = PagedHistory(2_500)
    events = run_scan.new_events(history, "arn", after)
    assert [e["id"] for e in events] == list(range(after + 1, 2_501))
    assert history.calls == pages


def test_console_links_follow_the_partition() -> None:
    assert run_scan.console_url("arn:aws-cn:states:cn-north-1:123456789012:execution:scan:x") == (
        "https://console.amazonaws.cn/states/home?region=cn-north-1#/v2/executions/details/"
        "arn:aws-cn:states:cn-north-1:123456789012:execution:scan:x"
    )
    assert run_scan.console_url("arn:aws:states:eu-west-1:123456789012:stateMachine:scan") == (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/statemachines/view/"
        "arn:aws:states:eu-west-1:123456789012:stateMachine:scan"
    )
