"""Pulumi-mock harness for the stack tests: deploy the component, keep every registration.

(A uniquely named module rather than conftest helpers: `tests/unit` is not a package, so the
test modules import this by its bare name, which must not clash with other suites.)

`deploy()` runs the component (or the inline program) under Pulumi's official mocks and
returns what the engine would have seen: each resource's type, name and *inputs*, its parent and
its dependencies, the outputs the component registered and the stack's exports. Tests then make
plain assertions on that record instead of asserting inside `apply` callbacks.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.runtime
import pulumi_aws as aws
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings

from ec2c.stacks import TYPE_TOKEN, ComplianceAnalyzer, ComplianceAnalyzerArgs

with warnings.catch_warnings():
    # The provider's submodules are loaded lazily, and loading one warns about its deprecated v6
    # aliases, none of which the stack uses: load them here, once, without burying the report.
    warnings.simplefilter("ignore", DeprecationWarning)
    PROVIDER_MODULES = (aws.s3, aws.sns, aws.kms, aws.iam, aws.cloudwatch, aws.lambda_, aws.sqs, aws.sfn)
    for _module in PROVIDER_MODULES:
        hasattr(_module, "_utilities")  # any non-dunder attribute makes a lazy module load

REGION = "eu-west-1"
ACCOUNT = "123456789012"
PARTITION = "aws-us-gov"
"""Not `aws`, so a partition hard-coded instead of read from the caller's identity shows."""
PROJECT = "ec2c"
STACK = "unit"


@dataclass
class Registration:
    """One `RegisterResource` call as the engine received it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    dependencies: list[str]
    protect: bool = False
    retain_on_delete: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    """What the (fake) provider returned: the values other resources saw as outputs."""


@dataclass
class Deployment:
    """Everything a mocked `pulumi up` registered."""

    resources: list[Registration]
    component_outputs: dict[str, Any]
    exports: dict[str, Any]

    @property
    def component(self) -> Registration:
        return self.one(TYPE_TOKEN)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Registration:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)


def _suffix(name: str) -> str:
    """Stands in for Pulumi's random autoname suffix, but stable so tests can predict it."""
    return hashlib.sha256(name.encode()).hexdigest()[:7]


class FakeAws(pulumi.runtime.Mocks):
    """Answers like the AWS provider would: autonamed physical names and ARNs from them."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        name = state.get("name") or f"{args.name}-{_suffix(args.name)}"
        service = args.typ.split(":")[1].split("/")[0]
        arn = f"arn:aws:{service}:{REGION}:{ACCOUNT}:{args.typ.rsplit(':', 1)[-1].lower()}:{name}"
        physical_id = name
        if args.typ == "aws:s3/bucket:Bucket":
            state["bucket"] = name
            arn = f"arn:aws:s3:::{name}"
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"
        elif args.typ == "aws:cloudwatch/dashboard:Dashboard":
            physical_id = state["dashboardName"]
        elif args.typ == "aws:sqs/queue:Queue":
            state["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        elif args.typ == "aws:sfn/stateMachine:StateMachine":
            arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
        elif args.typ == "aws:kms/key:Key":
            physical_id = state["keyId"] = f"key-{_suffix(args.name)}"
            arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{physical_id}"
        state.setdefault("name", name)
        state.setdefault("arn", arn)
        return physical_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:{PARTITION}:iam::{ACCOUNT}:user/deployer",
                "id": ACCOUNT,
                "userId": "AIDAEXAMPLE",
            }, []
        assert args.token == "aws:index/getRegion:getRegion", f"unexpected invoke {args.token}"
        region = {
            "region": REGION,
            "name": REGION,
            "id": REGION,
            "endpoint": f"ec2.{REGION}.amazonaws.com",
        }
        return {**region, "description": "Europe (Ireland)"}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The official mock monitor, also keeping parents, dependencies and registered outputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.outputs: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=request.custom,
                    parent=request.parent,
                    dependencies=sorted(request.dependencies),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    inputs=rpc.deserialize_properties(request.object),
                    state=dict(self.resources[response.urn].state) if request.custom else {},
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        self.outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


def _run(body: Callable[[], Mapping[str, Any]]) -> tuple[RecordingMonitor, dict[str, Any]]:
    """Run `body` as a Pulumi program under fresh mocks; return the monitor and resolved outputs."""
    mocks = FakeAws()
    monitor = RecordingMonitor(mocks)
    pulumi_settings.ROOT.set(None)  # a fresh root stack, so exports never leak between tests
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=False, monitor=monitor)
    resolved: dict[str, Any] = {}
    pulumi.runtime.test(lambda: pulumi.Output.all(**body()).apply(resolved.update))()
    return monitor, resolved


def _deployment(monitor: RecordingMonitor, exports: dict[str, Any]) -> Deployment:
    component_urn = next(r.urn for r in monitor.registrations if r.type == TYPE_TOKEN)
    return Deployment(monitor.registrations, monitor.outputs[component_urn], exports)


def deploy(args: ComplianceAnalyzerArgs, name: str = "compliance") -> Deployment:
    """Construct the component alone under mocks and return what was registered."""
    monitor, _ = _run(lambda: ComplianceAnalyzer(name, args).outputs)
    return _deployment(monitor, {})


def run_program(program: Callable[[], None]) -> Deployment:
    """Run an inline program under mocks; `exports` holds the root stack's resolved outputs."""

    def body() -> Mapping[str, Any]:
        program()
        return pulumi_settings.get_root_resource().outputs

    monitor, exports = _run(body)
    return _deployment(monitor, exports)
