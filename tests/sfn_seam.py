"""The one seam between moto's Step Functions interpreter and the scanner's real handler.

moto runs a state machine's states itself (`mock_aws(config={"stepfunctions":
{"execute_state_machine": True}})`), and a Lambda task becomes a call of moto's Lambda `Invoke`.
moto would then run the function's archive in a Docker container, in
`moto.awslambda.models.LambdaFunction._invoke_lambda`; there is no Docker engine here, so
`LocalLambda` replaces that one method and calls the handler in this process with the event and
a Lambda-like context. Everything else stays moto's: the Invoke API, the task's payload and
error handling (an exception becomes a function error whose `errorType` is the Error that
Retry and Catch match), the Map, the Choice, the retries and the execution history.

The handler reads the process's environment, which the test sets as the function's would be.
"""

from __future__ import annotations

import io
import json
import threading
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.core.exceptions import JsonRESTError

Handler = Callable[[Any, Any], Any]
Clock = Callable[[], int]


def generous() -> Clock:
    """A context with the 900 s a Lambda can have, as if no time passed."""
    return lambda: 900_000


class Throttled(JsonRESTError):
    """Lambda's answer to an invocation beyond the function's concurrency (HTTP 429)."""

    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")


@dataclass
class LocalLambda:
    """Installed with `install(monkeypatch)`; `invocations` lists each call's event in order."""

    handler: Handler
    clock: Callable[[dict[str, Any]], Clock] = lambda event: generous()
    """The remaining-time function of one invocation, chosen from its event."""
    throttle: Callable[[dict[str, Any]], bool] = lambda event: False
    """True for an invocation Lambda refuses as it does when the function's concurrency is taken."""
    invocations: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, monkeypatch: Any) -> None:
        seam = self

        def invoke(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            return seam.invoke(function, event)

        monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke)

    def invoke(self, function: LambdaFunction, event: Any) -> tuple[str, bool, str]:
        event = event if isinstance(event, dict) else {}
        if self.throttle(event):
            raise Throttled()
        with self._lock:
            self.invocations.append(event)
        context = SimpleNamespace(
            invoked_function_arn=function.function_arn,
            function_name=function.function_name,
            get_remaining_time_in_millis=self.clock(event),
        )
        try:
            return json.dumps(self.handler(event, context)), False, ""
        except Exception as exc:  # noqa: BLE001 - what the Lambda runtime does with an unhandled exception
            error = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            return json.dumps(error), True, ""

    def actions(self) -> list[str]:
        return [str(event.get("action")) for event in self.invocations]


def scanner_function(session: Any) -> tuple[str, str]:
    """The scanner function and a role in moto's account, as `ec2c up` would create them:
    (function ARN, role ARN). The archive is a stand-in; the seam runs the real handler."""
    role = session.client("iam").create_role(RoleName="scan", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("index.py", "from ec2c.scanner.run.handler import handler\n")
    function_arn = session.client("lambda").create_function(
        FunctionName="scanner",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": archive.getvalue()},
    )["FunctionArn"]
    return function_arn, role
