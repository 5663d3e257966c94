"""`ec2c run`'s service (`scan.remote`) when things go wrong: a stack without a usable state
machine output, Step Functions refusing to start or to be followed (moto), an interruption
while starting, an execution whose output is not a scan's outcome. Each ends as one line that
says what to do.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from ec2c.orchestrator.engine.supervisor import Interrupted
from ec2c.orchestrator.errors import OperationFailed
from ec2c.orchestrator.scan import remote, run_scan
from ec2c.orchestrator.scan.run_scan import Outcome, RunProgress

GONE = "arn:aws:states:us-east-1:123456789012:stateMachine:gone"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:gone:run-1"


def test_a_stack_with_neither_a_state_machine_nor_a_bucket_says_to_deploy_it():
    with pytest.raises(OperationFailed) as caught:
        remote.state_machine_arn({}, "dev-a1b2c3", "dev")
    assert (
        caught.value.message == "stack dev-a1b2c3: no `state_machine_arn` output; deploy it first (`ec2c up --env dev`)"
    )


@pytest.mark.parametrize("value", ["not-an-arn", "arn:aws:s3:::bucket", "arn:aws:states::1:stateMachine:x"])
def test_an_output_that_is_no_state_machine_arn_is_named(value):
    with pytest.raises(OperationFailed) as caught:
        remote.state_machine_arn({"state_machine_arn": value, "compliance_bucket_name": "b"}, "dev", "dev")
    assert caught.value.message == f"stack dev: `state_machine_arn` is {value!r}, not a state machine ARN"


def test_a_usable_arn_is_returned_as_given():
    arn = "arn:aws:states:eu-west-1:111111111111:stateMachine:ec2c-dev"
    assert remote.state_machine_arn({"state_machine_arn": arn}, "dev", "dev") == arn


def test_an_aws_failure_without_a_response_is_described_in_one_line():
    exc = EndpointConnectionError(endpoint_url="https://states.eu-west-1.amazonaws.com/")
    failure = remote.aws_failure("starting X", exc)
    assert failure.message.startswith("starting X: cannot reach AWS: Could not connect to the endpoint URL")
    assert "check the network" in failure.message


def test_a_client_error_names_its_operation_code_and_message():
    exc = ClientError({"Error": {"Code": "AccessDenied", "Message": "not\n  allowed"}}, "StartExecution")
    assert remote.aws_failure("starting X", exc).message == "starting X: StartExecution: AccessDenied: not allowed"
    bare = ClientError({"Error": {"Code": "Throttling"}}, "")
    assert remote.aws_failure("following Y", bare).message == "following Y: request: Throttling: Throttling"


def _machine(arn: str = GONE) -> remote.StateMachine:
    return remote.StateMachine(arn, boto3.client("stepfunctions", region_name="us-east-1"), "reports")


def test_starting_a_state_machine_that_is_gone_is_one_line(mocked):
    with pytest.raises(OperationFailed) as caught:
        remote.start(_machine(), ["us-east-1"])
    message = caught.value.message
    assert message.startswith(f"starting {GONE}: StartExecution: StateMachineDoesNotExist: ")


def test_an_interrupted_start_says_the_execution_may_have_started(mocked, monkeypatch):
    asked: list[tuple[str, list[str]]] = []

    def interrupted(client, arn, regions):
        asked.append((arn, regions))
        raise KeyboardInterrupt

    monkeypatch.setattr(run_scan, "start", interrupted)
    with pytest.raises(Interrupted) as caught:
        remote.start(_machine(), ["eu-west-1", "us-east-1"])
    assert asked == [(GONE, ["eu-west-1", "us-east-1"])]
    assert "interrupted while the execution was being started; it may have started" in str(caught.value)
    assert run_scan.console_url(GONE) in str(caught.value)


def test_an_execution_that_cannot_be_followed_says_it_goes_on(mocked):
    with pytest.raises(OperationFailed) as caught:
        remote.follow(_machine(), EXECUTION, on_update=lambda update: None, interval_s=0)
    message = caught.value.message
    assert message.startswith(f"following {EXECUTION}: DescribeExecution: ExecutionDoesNotExist: ")
    assert message.endswith(f"(the execution goes on: {run_scan.console_url(EXECUTION)})")


@pytest.mark.parametrize("output", [None, "text", {"status": "failed"}, {"run_id": "r"}])
def test_a_succeeded_execution_whose_output_is_not_a_scans_outcome_fails(output):
    outcome = Outcome("SUCCEEDED", output, None, None, RunProgress())
    with pytest.raises(OperationFailed) as caught:
        remote.run_result(outcome, EXECUTION)
    assert caught.value.message == (
        "the execution succeeded, but its output is not the scan's outcome (no status ok or partial): "
        + run_scan.console_url(EXECUTION)
    )


@pytest.mark.parametrize("status", ["ok", "partial"])
def test_a_scans_outcome_is_the_result(status):
    output = {"status": status, "run_id": "r-1"}
    assert remote.run_result(Outcome("SUCCEEDED", output, None, None, RunProgress()), EXECUTION) == output
