"""Suppressions by instance id, exact tag and tag regex; per rule and '*'; expiry."""

from __future__ import annotations

from datetime import date

import pytest

from ec2c.scanner.assessment.evaluation import evaluate_resources
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.assessment.suppressions import Suppression, TagSelector, find_suppression
from ec2c.scanner.model import FAIL, PASS
from ec2c.scanner.rules import CATALOGUE

from .conftest import record

TODAY = date(2025, 6, 1)
ID = "i-0123456789abcdef0"


@pytest.mark.parametrize(
    ("suppression", "rule_id", "tags", "expected"),
    [
        (Suppression("no_public_ip", "r", instance_id=ID), "no_public_ip", {}, True),
        (Suppression("no_public_ip", "r", instance_id="i-other"), "no_public_ip", {}, False),
        (Suppression("no_public_ip", "r", instance_id=ID), "required_tags", {}, False),
        (Suppression("*", "r", instance_id=ID), "required_tags", {}, True),
        (Suppression("*", "r", tag=TagSelector("Env", value="dev")), "x", {"Env": "dev"}, True),
        (Suppression("*", "r", tag=TagSelector("Env", value="dev")), "x", {"Env": "dev2"}, False),
        (Suppression("*", "r", tag=TagSelector("Env", value="dev")), "x", {}, False),
        (Suppression("*", "r", tag=TagSelector("Name", regex="^sandbox-")), "x", {"Name": "sandbox-1"}, True),
        (Suppression("*", "r", tag=TagSelector("Name", regex="^sandbox-")), "x", {"Name": "my-sandbox-1"}, False),
        (Suppression("*", "r", instance_id=ID, expires=TODAY), "x", {}, True),
        (Suppression("*", "r", instance_id=ID, expires=date(2025, 5, 31)), "x", {}, False),
    ],
)
def test_applies(suppression, rule_id, tags, expected) -> None:
    assert suppression.applies(rule_id, "instance", ID, tags, TODAY) is expected


@pytest.mark.parametrize(
    ("suppression", "resource_type", "resource_id", "expected"),
    [
        (Suppression("*", "r", resource_id="lt-1"), "launch_template", "lt-1", True),
        (Suppression("*", "r", resource_id="lt-1", resource_type="launch_template"), "launch_template", "lt-1", True),
        (Suppression("*", "r", resource_id="lt-1", resource_type="instance"), "launch_template", "lt-1", False),
        (Suppression("*", "r", resource_id="123456789012", resource_type="account"), "account", "123456789012", True),
        (Suppression("*", "r", resource_id=ID), "instance", ID, True),
        (Suppression("*", "r", instance_id="lt-1"), "launch_template", "lt-1", False),
    ],
)
def test_resource_selectors_match_type_and_id(suppression, resource_type, resource_id, expected) -> None:
    assert suppression.applies("x", resource_type, resource_id, {}, TODAY) is expected


def test_resource_selectors_round_trip_and_are_validated() -> None:
    document = {"rule": "*", "resource_id": "lt-1", "resource_type": "launch_template", "reason": "r"}
    any_type = {"rule": "*", "resource_id": "123456789012", "reason": "sandbox account"}
    policy = load_policy({"suppressions": [document, any_type]})
    assert [s.to_document() for s in policy.suppressions] == [document, any_type]
    with pytest.raises(ValueError, match=r"suppressions\[0\]\.resource_type: only goes with 'resource_id'"):
        load_policy({"suppressions": [{"rule": "*", "instance_id": "i-1", "resource_type": "account", "reason": "r"}]})
    with pytest.raises(ValueError, match="resource_type"):
        load_policy({"suppressions": [{"rule": "*", "resource_id": "x", "resource_type": "bucket", "reason": "r"}]})


def test_find_suppression_returns_the_first_match() -> None:
    first = Suppression("*", "first", instance_id=ID)
    second = Suppression("*", "second", instance_id=ID)
    assert find_suppression([first, second], "x", "instance", ID, {}, TODAY) is first
    assert find_suppression([], "x", "instance", ID, {}, TODAY) is None


def test_suppressed_failures_keep_their_status_and_record_the_reason() -> None:
    policy = load_policy(
        {
            "suppressions": [
                {"rule": "no_public_ip", "instance_id": ID, "reason": "bastion"},
                {
                    "rule": "*",
                    "tag": {"key": "Name", "regex": "^sandbox-"},
                    "reason": "sandbox",
                    "expires": "2025-05-01",
                },
            ]
        }
    )
    instance = record(public_ip="54.1.2.3", tags={"Name": "sandbox-7"})
    outcomes = {o.rule_id: o for o in evaluate_resources([instance], policy, TODAY)}
    public = outcomes["no_public_ip"]
    assert public.result.status == FAIL and public.suppression.reason == "bastion"
    assert public.active_failure is False
    tags = outcomes["required_tags"]
    assert tags.result.status == FAIL and tags.suppression is None and tags.active_failure
    assert outcomes["ebs_optimized"].active_failure
    assert outcomes["single_eni"].result.status == PASS and outcomes["single_eni"].suppression is None


def test_policy_severity_overrides_apply_to_outcomes() -> None:
    policy = load_policy({"rules": {"no_public_ip": {"severity": "critical"}}})
    outcomes = evaluate_resources([record(public_ip="54.1.2.3")], policy, TODAY)
    assert {o.rule_id: o.severity for o in outcomes}["no_public_ip"] == "critical"
    instance_rules = [r for r in policy.enabled_rule_ids() if CATALOGUE[r].resource_type == "instance"]
    assert [o.rule_id for o in outcomes] == instance_rules  # each rule on records of its own type only
