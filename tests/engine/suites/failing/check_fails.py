"""Run by `ec2c test` in the engine tests: a failing suite must still tear the stack down."""

import os
import time


def test_fails_on_purpose(stack_outputs):
    hold = float(os.environ.get("EC2C_TEST_HOLD", "0"))
    if hold:
        marker = os.environ.get("EC2C_TEST_MARKER")
        if marker:
            open(marker, "w").write(stack_outputs["lambda_function_name"])
        time.sleep(hold)
    assert stack_outputs["region"] == "nowhere-1", "deliberate failure"
