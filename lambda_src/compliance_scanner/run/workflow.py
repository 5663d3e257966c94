"""The scan as a Step Functions state machine: plan, a Map of region workers, one aggregate.

Pure: `definition()` returns the Amazon States Language document the stack deploys and the tests
run on moto's interpreter; the events it sends are the ones `steps` answers, so the state
names, actions and fields live here, beside the one definition that uses them.

    Plan ──► Regions (Map, MaxConcurrency) ──► Aggregate
               └─ ScanRegion ─► MoreToScan? ─(not done)─► ScanRegion
                      │ (after its retries)    └─(done)──► RegionDone
                      └─► RegionFailed

A worker returns `done: false` with a resume token when its time budget ends before its region
does, and the `Choice` sends it back in with the token: a region of any size finishes across as
many invocations as it takes, each within the Lambda limit. A worker that fails after its
retries is caught and handed to the aggregate as a failed region, so one region never aborts
the others and is never lost: the report names it and is partial.
"""

from __future__ import annotations

from typing import Any

ACTION_PLAN = "plan"
ACTION_SCAN_REGION = "scan_region"
ACTION_AGGREGATE = "aggregate"

MAX_CONCURRENCY_LIMIT = 40
"""An inline Map runs at most 40 iterations at once, whatever MaxConcurrency says."""

MAX_STATE_PAYLOAD_BYTES = 256 * 1024
"""Step Functions' cap on a state's input and output."""

LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
"""Errors of the Lambda service rather than of the function, which AWS says to retry."""

SERVICE_RETRY: dict[str, Any] = {
    "ErrorEquals": list(LAMBDA_SERVICE_ERRORS),
    "IntervalSeconds": 2,
    "MaxAttempts": 6,
    "BackoffRate": 2,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}
"""Throttling and service faults: backed off (2 s, 4 s, ... capped at 60 s, jittered so the
Map's workers do not retry in step)."""

WORKER_RETRY: dict[str, Any] = {
    "ErrorEquals": ["States.ALL"],
    "IntervalSeconds": 5,
    "MaxAttempts": 2,
    "BackoffRate": 2,
}
"""Anything else (a crash, a timeout, a read error of S3): twice more, then the region is
caught as failed. A retried worker rewrites the same part, so nothing is counted twice."""

EXECUTION_TIMEOUT_S = 6 * 3600
"""A run still going after six hours is stuck (a region of a million instances takes about two
hours of invocations): the execution times out, which the stack's ExecutionsTimedOut alarm
reports, rather than running until Step Functions' one-year limit."""

STATE_PLAN = "Plan"
STATE_REGIONS = "Regions"
STATE_SCAN_REGION = "ScanRegion"
STATE_MORE = "MoreToScan"
STATE_REGION_DONE = "RegionDone"
STATE_REGION_FAILED = "RegionFailed"
STATE_AGGREGATE = "Aggregate"


def _invoke(function_arn: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A Lambda task through the optimised integration, its output the function's answer."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload": payload},
        "OutputPath": "$.Payload",
    }


def definition(function_arn: str, max_concurrency: int) -> dict[str, Any]:
    """The state machine for the scanner function `function_arn`, `max_concurrency` regions at
    once (1 to 40)."""
    if not 1 <= max_concurrency <= MAX_CONCURRENCY_LIMIT:
        raise ValueError(f"max_concurrency: expected 1 to {MAX_CONCURRENCY_LIMIT}, got {max_concurrency}")
    worker = {
        **_invoke(
            function_arn,
            {
                "action": ACTION_SCAN_REGION,
                "run.$": "$.run",
                "region.$": "$.region",
                "resume.$": "$.resume",
            },
        ),
        "Retry": [SERVICE_RETRY, WORKER_RETRY],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": STATE_REGION_FAILED}],
        "Next": STATE_MORE,
    }
    region_states = {
        STATE_SCAN_REGION: worker,
        STATE_MORE: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.done", "BooleanEquals": False, "Next": STATE_SCAN_REGION}],
            "Default": STATE_REGION_DONE,
        },
        STATE_REGION_DONE: {
            "Type": "Pass",
            "Parameters": {"region.$": "$.region", "done": True},
            "End": True,
        },
        STATE_REGION_FAILED: {
            "Type": "Pass",
            "Parameters": {
                "region.$": "$.region",
                "done": False,
                "error.$": "$.failure.Error",
                "cause.$": "$.failure.Cause",
            },
            "End": True,
        },
    }
    return {
        "Comment": "EC2 compliance scan: one worker per region, continued past the Lambda limit, one aggregate",
        "StartAt": STATE_PLAN,
        "TimeoutSeconds": EXECUTION_TIMEOUT_S,
        "States": {
            STATE_PLAN: {
                **_invoke(function_arn, {"action": ACTION_PLAN, "input.$": "$"}),
                "Retry": [SERVICE_RETRY],
                "Next": STATE_REGIONS,
            },
            STATE_REGIONS: {
                "Type": "Map",
                "ItemsPath": "$.regions",
                "MaxConcurrency": max_concurrency,
                "ItemSelector": {"run.$": "$.run", "region.$": "$$.Map.Item.Value", "resume": None},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": STATE_SCAN_REGION,
                    "States": region_states,
                },
                "ResultPath": "$.results",
                "Next": STATE_AGGREGATE,
            },
            STATE_AGGREGATE: {
                **_invoke(
                    function_arn,
                    {
                        "action": ACTION_AGGREGATE,
                        "run.$": "$.run",
                        "regions.$": "$.regions",
                        "results.$": "$.results",
                    },
                ),
                "Retry": [SERVICE_RETRY, WORKER_RETRY],
                "End": True,
            },
        },
    }
