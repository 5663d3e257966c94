"""Component-only inline programs for the engine tests: real engine, no provider plugin needed.

`fake_analyzer` registers a component of the analyzer's own type and exports the analyzer's
output names, so every orchestrator path (workspaces, config, outputs, teardown) runs for real.
"""

from __future__ import annotations

import os
import time

import pulumi

from ec2c.orchestrator.deploy.inputs.environments import Environment

OUTPUT_NAMES = (
    "lambda_function_arn",
    "lambda_function_name",
    "sns_topic_arn",
    "compliance_bucket_name",
    "dashboard_name",
    "log_group_name",
    "schedule_rule_name",
    "state_machine_arn",
)
SECRET_VALUE = "s3cr3t-token-value"


class FakeAnalyzer(pulumi.ComponentResource):
    def __init__(self, name: str, outputs: dict[str, str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ec2compliance:index:ComplianceAnalyzer", name, None, opts)
        self.register_outputs(outputs)


def local_code_sha256() -> str:
    from ec2c.stacks import packaging

    return packaging.code_sha256(packaging.archive_members())


def expected_outputs(env: Environment, stack: str) -> dict[str, str]:
    values = {name: f"{name}-{stack}" for name in OUTPUT_NAMES}
    values["region"] = env.aws.region
    if os.environ.get("EC2C_TEST_BUCKET"):  # a real (moto) bucket for commands that read it
        values["compliance_bucket_name"] = os.environ["EC2C_TEST_BUCKET"].replace("{stack}", stack)
    values["scanner_code_sha256"] = os.environ.get("EC2C_TEST_CODE_SHA256") or local_code_sha256()
    return values


def fake_analyzer(env: Environment):
    def program() -> None:
        stack = pulumi.get_stack()
        delay = float(os.environ.get("EC2C_TEST_PROGRAM_DELAY", "0"))
        if delay:
            time.sleep(delay)
        outputs = expected_outputs(env, stack)
        FakeAnalyzer(f"compliance-{stack}", outputs)
        for key, value in outputs.items():
            pulumi.export(key, value)
        pulumi.export("configured_region", pulumi.Config("aws").get("region"))
        pulumi.export("configured_assume_roles", pulumi.Config("aws").get_object("assumeRoles"))
        pulumi.export("api_token", pulumi.Output.secret(SECRET_VALUE))
        if os.environ.get("EC2C_TEST_STACK_REFERENCE"):  # a resource that refresh really reads
            reference = pulumi.StackReference(os.environ["EC2C_TEST_STACK_REFERENCE"])
            pulumi.export("referenced_region", reference.get_output("region"))

    return program


def failing_analyzer(env: Environment):
    def program() -> None:
        FakeAnalyzer(f"compliance-{pulumi.get_stack()}", {})
        raise RuntimeError("deliberate failure inside the program")

    return program


def drifting_analyzer(env: Environment):
    """Not idempotent: every run names a component afresh, so a preview right after `up` plans changes."""
    inner = fake_analyzer(env)

    def program() -> None:
        inner()
        FakeAnalyzer(f"drift-{time.time_ns()}", {})

    return program
