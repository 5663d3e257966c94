"""Policy loading: defaults, overrides, round-trip, and errors that name the source and field."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import date, datetime

import pytest

from ec2c.scanner.assessment.permissions import required_iam_actions
from ec2c.scanner.assessment.policy import (
    DEFAULT_ALERT_THRESHOLD,
    PolicyError,
    load_policy,
    policy_from_json,
)
from ec2c.scanner.assessment.suppressions import Suppression, TagSelector
from ec2c.scanner.rules import CATALOGUE

FULL = {
    "alert_threshold": 75,
    "alert_on_new_findings": False,
    "rules": {
        "required_tags": {"params": {"keys": ["Owner", "Environment", "CostCenter"]}},
        "approved_ami": {"params": {"owners": ["amazon"], "image_ids": []}},
        "allowed_instance_type": {"params": {"allowed": ["t3.*", "m5.large"]}},
        "instance_age": {"enabled": True, "severity": "low", "params": {"max_age_days": 365}},
        "high_risk_ports_open": {"params": {"ports": [3306, 5432]}},
        "user_data_secrets": {"enabled": True, "params": {"patterns": ["secret\\d+"]}},
        "termination_protection": {"enabled": True},
        "ssm_managed": {"enabled": False},
    },
    "suppressions": [
        {
            "rule": "ssh_open_to_internet",
            "instance_id": "i-0123456789abcdef0",
            "reason": "bastion host, reviewed",
            "expires": "2027-01-31",
        },
        {"rule": "*", "tag": {"key": "Name", "regex": "^sandbox-"}, "reason": "sandbox fleet"},
        {"rule": "no_public_ip", "tag": {"key": "Tier", "value": "edge"}, "reason": "edge"},
    ],
}


def test_none_and_empty_mean_defaults() -> None:
    policy = load_policy(None)
    assert policy == load_policy({})
    assert policy.alert_threshold == DEFAULT_ALERT_THRESHOLD == 90.0
    assert policy.alert_on_new_findings is True
    assert policy.suppressions == ()
    assert list(policy.rules) == list(CATALOGUE)
    assert "termination_protection" not in policy.enabled_rule_ids()
    assert "user_data_secrets" not in policy.enabled_rule_ids()
    assert len(policy.enabled_rule_ids()) == 32  # 35 rules, 3 of them opt-in
    assert policy.rules["required_tags"].params["keys"] == ("Owner", "Environment")
    assert policy.rules["stopped_too_long"].params["max_stopped_days"] == 30


def test_overrides_merge_over_defaults() -> None:
    policy = load_policy(FULL, "config/dev.yaml")
    assert policy.alert_threshold == 75.0
    assert policy.alert_on_new_findings is False
    assert policy.rules["required_tags"].params["keys"] == ("Owner", "Environment", "CostCenter")
    assert policy.rules["high_risk_ports_open"].params["ports"] == (3306, 5432)
    assert policy.rules["termination_protection"].enabled is True
    assert policy.rules["ssm_managed"].enabled is False
    assert policy.rules["instance_age"].severity == "low"
    assert policy.rules["imdsv2_required"].severity == "high"
    assert policy.suppressions[0] == Suppression(
        "ssh_open_to_internet",
        "bastion host, reviewed",
        instance_id="i-0123456789abcdef0",
        expires=date(2027, 1, 31),
    )
    assert policy.suppressions[1].tag == TagSelector("Name", regex="^sandbox-")
    assert policy.suppressions[2].tag == TagSelector("Tier", value="edge")


def test_to_document_round_trips_through_json() -> None:
    policy = load_policy(FULL, "config/dev.yaml")
    document = json.loads(json.dumps(policy.to_document()))
    assert load_policy(document) == policy
    assert policy_from_json(json.dumps(document), "env") == policy


def test_policies_can_be_copied_and_pickled() -> None:
    policy = load_policy(FULL, "config/dev.yaml")
    assert copy.deepcopy(policy) == policy
    assert pickle.loads(pickle.dumps(policy)) == policy


def test_yaml_dates_and_timestamps_are_accepted_as_expiry() -> None:
    entry = {"rule": "*", "instance_id": "i-1", "reason": "r"}
    from_date = load_policy({"suppressions": [dict(entry, expires=date(2027, 1, 31))]})
    from_time = load_policy({"suppressions": [dict(entry, expires=datetime(2027, 1, 31, 8))]})
    assert from_date.suppressions[0].expires == from_time.suppressions[0].expires == date(2027, 1, 31)


def test_blank_json_means_defaults() -> None:
    assert policy_from_json("  ", "env") == load_policy(None)


def test_invalid_json_names_the_source_and_position() -> None:
    with pytest.raises(PolicyError, match=r"^env COMPLIANCE_POLICY: invalid JSON: .* line 1 column 2"):
        policy_from_json("{oops", "env COMPLIANCE_POLICY")


BAD = [
    (
        {"rules": {"required_tags": {"params": {"keys": "Owner"}}}},
        "config/dev.yaml: policy.rules.required_tags.params.keys: expected a list of strings, got 'Owner'",
    ),
    ([1], "policy: expected a mapping, got [1]"),
    (
        {"threshold": 1},
        "policy.threshold: unknown key (allowed: alert_on_new_findings, alert_threshold, reachability_grading, rules, suppressions)",
    ),
    ({"alert_threshold": 101}, "policy.alert_threshold: expected a number from 0 to 100, got 101"),
    ({"alert_threshold": True}, "policy.alert_threshold: expected a number from 0 to 100, got True"),
    ({"alert_on_new_findings": "yes"}, "policy.alert_on_new_findings: expected true or false, got 'yes'"),
    ({"rules": []}, "policy.rules: expected a mapping, got []"),
    ({"rules": {"no_such_rule": {}}}, "policy.rules.no_such_rule: unknown key"),
    (
        {"rules": {"no_public_ip": {"on": True}}},
        "policy.rules.no_public_ip.on: unknown key (allowed: enabled, params, severity)",
    ),
    ({"rules": {"no_public_ip": {"enabled": 1}}}, "policy.rules.no_public_ip.enabled: expected true or false, got 1"),
    (
        {"rules": {"no_public_ip": {"severity": "urgent"}}},
        "policy.rules.no_public_ip.severity: expected one of critical, high, medium, low, informational, got 'urgent'",
    ),
    ({"rules": {"no_public_ip": {"params": {"x": 1}}}}, "policy.rules.no_public_ip.params.x: unknown key (allowed: )"),
    ({"rules": {"instance_age": {"params": []}}}, "policy.rules.instance_age.params: expected a mapping, got []"),
    (
        {"rules": {"instance_age": {"params": {"max_age_days": 0}}}},
        "policy.rules.instance_age.params.max_age_days: expected a whole number from 1 or more, got 0",
    ),
    (
        {"rules": {"instance_age": {"params": {"max_age_days": 1.5}}}},
        "max_age_days: expected a whole number from 1 or more, got 1.5",
    ),
    (
        {"rules": {"imds_hop_limit": {"params": {"max_hop_limit": 65}}}},
        "policy.rules.imds_hop_limit.params.max_hop_limit: expected a whole number from 1 to 64, got 65",
    ),
    (
        {"rules": {"imds_hop_limit": {"params": {"max_hop_limit": False}}}},
        "max_hop_limit: expected a whole number from 1 to 64, got False",
    ),
    (
        {"rules": {"high_risk_ports_open": {"params": {"ports": [22, 70000]}}}},
        "policy.rules.high_risk_ports_open.params.ports[1]: expected a whole number from 0 to 65535, got 70000",
    ),
    (
        {"rules": {"high_risk_ports_open": {"params": {"ports": "22"}}}},
        "params.ports: expected a list of port numbers, got '22'",
    ),
    (
        {"rules": {"user_data_secrets": {"params": {"patterns": ["("]}}}},
        "policy.rules.user_data_secrets.params.patterns[0]: invalid regular expression '('",
    ),
    ({"suppressions": {}}, "policy.suppressions: expected a list, got {}"),
    ({"suppressions": ["x"]}, "policy.suppressions[0]: expected a mapping, got 'x'"),
    ({"suppressions": [{"rule": "*", "instance_id": "i-1"}]}, "policy.suppressions[0].reason: required"),
    (
        {"suppressions": [{"rule": "*", "instance_id": "i-1", "reason": " "}]},
        "policy.suppressions[0].reason: expected a non-empty string, got ' '",
    ),
    (
        {"suppressions": [{"rule": "nope", "instance_id": "i-1", "reason": "r"}]},
        "policy.suppressions[0].rule: expected one of *, imdsv2_required",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r"}]},
        "policy.suppressions[0]: expected exactly one selector: 'instance_id', 'resource_id' or 'tag'",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r", "instance_id": "i-1", "tag": {"key": "a", "value": "b"}}]},
        "exactly one selector",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r", "instance_id": ""}]},
        "policy.suppressions[0].instance_id: expected a non-empty string",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r", "instance_id": "i-1", "expires": "soon"}]},
        "policy.suppressions[0].expires: expected an ISO date (YYYY-MM-DD), got 'soon'",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r", "instance_id": "i-1", "expires": 5}]},
        "expires: expected an ISO date",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r", "tag": "Name"}]},
        "policy.suppressions[0].tag: expected a mapping, got 'Name'",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r", "tag": {"value": "x"}}]},
        "policy.suppressions[0].tag.key: required",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r", "tag": {"key": "a"}}]},
        "policy.suppressions[0].tag: expected exactly one of 'value' or 'regex'",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r", "tag": {"key": "a", "value": "b", "regex": "c"}}]},
        "exactly one of 'value' or 'regex'",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r", "tag": {"key": "a", "value": 3}}]},
        "policy.suppressions[0].tag.value: expected a string, got 3",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r", "tag": {"key": "a", "regex": "[x"}}]},
        "policy.suppressions[0].tag.regex: invalid regular expression '[x'",
    ),
    (
        {"suppressions": [{"rule": "*", "reason": "r", "tag": {"key": "a", "when": "x"}}]},
        "policy.suppressions[0].tag.when: unknown key",
    ),
]


@pytest.mark.parametrize(("document", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_invalid_documents_name_the_field(document, message) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(document, "config/dev.yaml")
    assert isinstance(caught.value, ValueError)
    assert message in str(caught.value)
    assert str(caught.value).startswith("config/dev.yaml: policy")


def test_default_permissions_are_read_only_and_minimal() -> None:
    assert required_iam_actions(load_policy(None)) == [
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVolumes",
        "ec2:GetEbsEncryptionByDefault",
        "ec2:GetImageBlockPublicAccessState",
        "ec2:GetInstanceMetadataDefaults",
        "ec2:GetManagedPrefixListEntries",
        "ec2:GetSnapshotBlockPublicAccessState",
        "ssm:DescribeInstanceInformation",
    ]


def test_guardrail_and_template_rules_add_exactly_their_read_actions() -> None:
    """The serial console read is added only with its opt-in rule; launch templates need two."""
    only = {rule_id: {"enabled": False} for rule_id in CATALOGUE}
    serial = load_policy({"rules": {**only, "serial_console_access_disabled": {"enabled": True}}})
    assert required_iam_actions(serial) == ["ec2:DescribeInstances", "ec2:GetSerialConsoleAccessStatus"]
    templates = load_policy({"rules": {**only, "launch_template_imdsv2": {}}})
    assert required_iam_actions(templates) == [
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeLaunchTemplates",
    ]


def test_route_tables_are_read_only_for_graded_rules_with_grading_on() -> None:
    ungraded = load_policy({"reachability_grading": False})
    assert "ec2:DescribeRouteTables" not in required_iam_actions(ungraded)
    no_exposure_rules = load_policy(
        {"rules": {rule_id: {"enabled": False} for rule_id, rule in CATALOGUE.items() if rule.graded}}
    )
    assert "ec2:DescribeRouteTables" not in required_iam_actions(no_exposure_rules)
    assert load_policy({"reachability_grading": False}).to_document()["reachability_grading"] is False


def test_permissions_follow_the_enabled_rules() -> None:
    only_network = load_policy({"rules": {rule_id: {"enabled": rule_id == "no_public_ip"} for rule_id in CATALOGUE}})
    assert required_iam_actions(only_network) == ["ec2:DescribeInstances"]
    opt_in = load_policy({"rules": {"termination_protection": {"enabled": True}}})
    assert "ec2:DescribeInstanceAttribute" in required_iam_actions(opt_in)
    no_ssm = load_policy({"rules": {"ssm_managed": {"enabled": False}}})
    assert "ssm:DescribeInstanceInformation" not in required_iam_actions(no_ssm)


@pytest.mark.parametrize("pattern", ["(a+)+$", r"(\w*)*x", "(a{2,})*", "x(a|b+)+", "(?=(a+)+)x", "(?!(ab*)*)y"])
def test_patterns_that_backtrack_exponentially_are_refused(pattern) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy({"suppressions": [{"rule": "*", "reason": "r", "tag": {"key": "Name", "regex": pattern}}]})
    assert "policy.suppressions[0].tag.regex" in str(caught.value)
    assert "nests a repeat inside a repeat" in str(caught.value)
    with pytest.raises(PolicyError, match=r"policy.rules.user_data_secrets.params.patterns\[1\]"):
        load_policy({"rules": {"user_data_secrets": {"params": {"patterns": ["ok", pattern]}}}})


@pytest.mark.parametrize(
    "pattern", ["^sandbox-", "legacy-.*", "(ab)+", "(ab|cd)e", "(?:a|b)+c*", "(?=a)b", "(?!x)y+", "(a?)+"]
)
def test_ordinary_patterns_are_accepted(pattern) -> None:
    policy = load_policy({"suppressions": [{"rule": "*", "reason": "r", "tag": {"key": "Name", "regex": pattern}}]})
    assert policy.suppressions[0].tag.regex == pattern
