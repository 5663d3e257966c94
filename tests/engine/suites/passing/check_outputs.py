"""Run by `ec2c test` in the engine tests: the deployed stack's outputs reach the fixture."""

import json
import os


def test_outputs_reach_the_fixture(stack_outputs):
    stack = stack_outputs["lambda_function_name"].removeprefix("lambda_function_name-")
    assert stack_outputs["schedule_rule_name"] == f"schedule_rule_name-{stack}"
    assert stack_outputs["api_token"] == "[secret]"
    assert json.loads(open(os.environ["EC2C_STACK_OUTPUTS"]).read()) == stack_outputs
