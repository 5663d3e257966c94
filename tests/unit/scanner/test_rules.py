"""Every rule on passing, failing and edge-case records (rules are pure: no AWS needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ec2c.scanner import sources
from ec2c.scanner.model import (
    FAIL,
    PASS,
    SKIPPED,
    ImageInfo,
    IngressPermission,
    InstanceRecord,
    MetadataOptions,
    SecurityGroupInfo,
    SsmStatus,
    VolumeInfo,
)
from ec2c.scanner.registry import SEVERITIES
from ec2c.scanner.rules import CATALOGUE, ORDER, evaluate

from .conftest import ACCOUNT, NOW, record

EXPECTED_IDS = [
    "imdsv2_required",
    "imds_hop_limit",
    "no_public_ip",
    "public_ip_with_instance_profile",
    "ssh_open_to_internet",
    "rdp_open_to_internet",
    "high_risk_ports_open",
    "all_ports_open",
    "authorized_ports_only",
    "ebs_volumes_encrypted",
    "required_tags",
    "approved_ami",
    "allowed_instance_type",
    "instance_profile_attached",
    "detailed_monitoring_enabled",
    "instance_age",
    "stopped_too_long",
    "single_eni",
    "no_paravirtual",
    "ami_deprecated",
    "ssm_managed",
    "ebs_optimized",
    "no_key_pair",
    "termination_protection",
    "user_data_secrets",
    "launch_template_imdsv2",
    "launch_template_no_public_ip",
    "launch_template_user_data_secrets",
    "launch_template_ebs_encrypted",
    "default_security_group_closed",
    "ebs_default_encryption",
    "imds_defaults_v2",
    "snapshot_block_public_access",
    "image_block_public_access",
    "serial_console_access_disabled",
]
PROFILE = "arn:aws:iam::123456789012:instance-profile/app"


def sg(*permissions: IngressPermission, group_id: str = "sg-1") -> SecurityGroupInfo:
    return SecurityGroupInfo(group_id, "web", tuple(permissions))


def perm(protocol: str, low: int | None, high: int | None, *cidrs: str) -> IngressPermission:
    return IngressPermission(protocol, low, high, tuple(cidrs))


def image(owner: str = "137112412989", alias: str | None = "amazon", deprecated=None, state="available") -> ImageInfo:
    return ImageInfo("ami-1", owner, alias, "al2", deprecated, state)


ONLINE = SsmStatus("Online", NOW)


def check(rule_id: str, instance: InstanceRecord, **params: Any):
    rule = CATALOGUE[rule_id]
    return evaluate(rule, instance, {**rule.params, **params})


def test_catalogue_has_exactly_the_documented_rules_in_order() -> None:
    assert list(CATALOGUE) == EXPECTED_IDS == list(ORDER)


@pytest.mark.parametrize("rule", CATALOGUE.values(), ids=lambda r: r.id)
def test_every_rule_carries_complete_metadata(rule) -> None:
    assert rule.title and rule.rationale and rule.remediation
    assert rule.severity in SEVERITIES
    assert set(rule.mapping) <= {"aws_config", "security_hub", "cis", "prowler"}
    assert rule.remediation_cli.startswith("aws ") and "{region}" in rule.remediation_cli
    assert "aws." in rule.remediation_pulumi or rule.remediation_pulumi.startswith("# ")
    assert all(action.split(":")[0] in {"ec2", "ssm"} for action in rule.iam_actions)
    assert set(rule.params) == {param.name for param in rule.parameters}


def test_mappings_name_the_published_controls() -> None:
    """Checked against Prowler's compliance files and check sources, the AWS Config managed
    rules and the Security Hub control reference (see rules/mappings.py)."""
    mapping = {rule_id: dict(rule.mapping) for rule_id, rule in CATALOGUE.items()}
    # EC2.18 is "authorized ports only", not "all ports": no FSBP control covers all ports
    assert "security_hub" not in mapping["all_ports_open"]
    assert mapping["all_ports_open"]["prowler"] == "ec2_securitygroup_allow_ingress_from_internet_to_all_ports"
    assert mapping["stopped_too_long"]["prowler"] == "ec2_instance_stopped_older_than_specific_days"
    assert mapping["ami_deprecated"]["prowler"] == "ec2_instance_with_outdated_ami"
    assert mapping["imdsv2_required"] == {
        "aws_config": "ec2-imdsv2-check",
        "security_hub": "EC2.8",
        "cis": "v3.0 5.6; v4.0.1 5.7",
        "prowler": "ec2_instance_imdsv2_enabled",
    }
    assert {rule_id for rule_id, m in mapping.items() if "security_hub" in m} == {
        "imdsv2_required",
        "no_public_ip",
        "ssh_open_to_internet",
        "rdp_open_to_internet",
        "high_risk_ports_open",
        "ebs_volumes_encrypted",
        "stopped_too_long",
        "single_eni",
        "no_paravirtual",
        "ssm_managed",
        "authorized_ports_only",
        "launch_template_imdsv2",
        "launch_template_no_public_ip",
        "launch_template_ebs_encrypted",
        "ebs_default_encryption",
        "snapshot_block_public_access",
        "default_security_group_closed",
    }
    assert mapping["authorized_ports_only"]["security_hub"] == "EC2.18"


def test_references_point_at_each_framework() -> None:
    assert CATALOGUE["ssm_managed"].references == (
        "https://docs.aws.amazon.com/config/latest/developerguide/ec2-instance-managed-by-systems-manager.html",
        "https://docs.aws.amazon.com/securityhub/latest/userguide/ssm-controls.html#ssm-1",
        "https://hub.prowler.com/check/ec2_instance_managed_by_ssm",
    )
    assert CATALOGUE["ssh_open_to_internet"].references[2] == "https://www.cisecurity.org/benchmark/amazon_web_services"
    assert CATALOGUE["termination_protection"].references == ()


def test_only_the_per_instance_rules_are_opt_in() -> None:
    opt_in = {rule.id for rule in CATALOGUE.values() if rule.opt_in}
    assert opt_in == {"termination_protection", "user_data_secrets", "serial_console_access_disabled"}
    assert CATALOGUE["user_data_secrets"].iam_actions == ("ec2:DescribeInstanceAttribute",)
    assert CATALOGUE["ssm_managed"].iam_actions == ("ssm:DescribeInstanceInformation",)
    assert CATALOGUE["no_public_ip"].iam_actions == ()


def test_rules_are_skipped_when_their_data_is_unavailable() -> None:
    instance = record(unavailable=frozenset({sources.VOLUMES}))
    result = check("ebs_volumes_encrypted", instance)
    assert result.status == SKIPPED
    assert "volumes data unavailable" in result.message
    assert check("no_public_ip", instance).status == PASS


IMDS_REQUIRED = MetadataOptions("required", "enabled", 1)
CASES = [
    # rule id, record changes, params, expected status, message fragment
    ("imdsv2_required", {"metadata_options": IMDS_REQUIRED}, {}, PASS, "required"),
    (
        "imdsv2_required",
        {"metadata_options": MetadataOptions("optional", "enabled", 1)},
        {},
        FAIL,
        "HttpTokens=optional",
    ),
    ("imdsv2_required", {"metadata_options": MetadataOptions("optional", "disabled", 1)}, {}, PASS, "disabled"),
    ("imdsv2_required", {}, {}, FAIL, "not reported"),
    ("imds_hop_limit", {"metadata_options": IMDS_REQUIRED}, {}, PASS, "hop limit is 1"),
    ("imds_hop_limit", {"metadata_options": MetadataOptions("required", "enabled", 3)}, {}, FAIL, "3 exceeds 1"),
    (
        "imds_hop_limit",
        {"metadata_options": MetadataOptions("required", "enabled", 2)},
        {"max_hop_limit": 2},
        PASS,
        "is 2",
    ),
    ("imds_hop_limit", {"metadata_options": MetadataOptions("required", "disabled", 5)}, {}, PASS, "disabled"),
    ("imds_hop_limit", {}, {}, SKIPPED, "not reported"),
    ("no_public_ip", {}, {}, PASS, "no public"),
    ("no_public_ip", {"public_ip": "54.1.2.3"}, {}, FAIL, "54.1.2.3"),
    ("no_public_ip", {"ipv6_addresses": ("2600:1f18::1",)}, {}, FAIL, "2600:1f18::1"),
    ("public_ip_with_instance_profile", {"public_ip": "54.1.2.3", "iam_instance_profile": PROFILE}, {}, FAIL, PROFILE),
    ("public_ip_with_instance_profile", {"public_ip": "54.1.2.3"}, {}, PASS, "not both"),
    ("public_ip_with_instance_profile", {"iam_instance_profile": PROFILE}, {}, PASS, "not both"),
    ("ssh_open_to_internet", {"security_groups": (sg(perm("tcp", 22, 22, "0.0.0.0/0")),)}, {}, FAIL, "sg-1"),
    ("ssh_open_to_internet", {"security_groups": (sg(perm("tcp", 0, 1000, "::/0")),)}, {}, FAIL, "port 22"),
    ("ssh_open_to_internet", {"security_groups": (sg(perm("-1", None, None, "0.0.0.0/0")),)}, {}, FAIL, "sg-1"),
    ("ssh_open_to_internet", {"security_groups": (sg(perm("6", 22, 22, "0.0.0.0/0")),)}, {}, FAIL, "sg-1"),
    (
        "ssh_open_to_internet",
        {"security_groups": (sg(perm("tcp", 22, 22, "10.0.0.0/8")),)},
        {},
        PASS,
        "no security group",
    ),
    ("ssh_open_to_internet", {"security_groups": (sg(perm("tcp", 22, 22)),)}, {}, PASS, "no security group"),
    (
        "ssh_open_to_internet",
        {"security_groups": (sg(perm("udp", 22, 22, "0.0.0.0/0")),)},
        {},
        PASS,
        "no security group",
    ),
    (
        "ssh_open_to_internet",
        {"security_groups": (sg(perm("tcp", 443, 443, "0.0.0.0/0")),)},
        {},
        PASS,
        "no security group",
    ),
    ("ssh_open_to_internet", {}, {}, PASS, "no security group"),
    ("rdp_open_to_internet", {"security_groups": (sg(perm("tcp", 3389, 3389, "::/0")),)}, {}, FAIL, "RDP port 3389"),
    ("rdp_open_to_internet", {"security_groups": (sg(perm("tcp", 22, 22, "0.0.0.0/0")),)}, {}, PASS, "3389"),
    (
        "high_risk_ports_open",
        {"security_groups": (sg(perm("tcp", 3306, 3306, "0.0.0.0/0"), perm("udp", 20, 21, "::/0")),)},
        {},
        FAIL,
        "20 (FTP), 21 (FTP), 3306 (MySQL)",
    ),
    ("high_risk_ports_open", {"security_groups": (sg(perm("tcp", None, None, "0.0.0.0/0")),)}, {}, FAIL, "5432"),
    ("high_risk_ports_open", {"security_groups": (sg(perm("icmp", -1, -1, "0.0.0.0/0")),)}, {}, PASS, "no high-risk"),
    (
        "high_risk_ports_open",
        {"security_groups": (sg(perm("tcp", 8080, 8080, "0.0.0.0/0")),)},
        {"ports": (9999,)},
        PASS,
        "no high-risk",
    ),
    ("all_ports_open", {"security_groups": (sg(perm("-1", None, None, "::/0")),)}, {}, FAIL, "sg-1"),
    ("all_ports_open", {"security_groups": (sg(perm("tcp", 0, 65535, "0.0.0.0/0")),)}, {}, FAIL, "sg-1"),
    ("all_ports_open", {"security_groups": (sg(perm("tcp", 1, 65535, "0.0.0.0/0")),)}, {}, FAIL, "all TCP ports"),
    ("all_ports_open", {"security_groups": (sg(perm("udp", 1, 65535, "::/0")),)}, {}, FAIL, "all UDP ports"),
    (
        "all_ports_open",
        {
            "security_groups": (
                sg(perm("tcp", 0, 32767, "0.0.0.0/0")),
                sg(perm("tcp", 32768, 65535, "0.0.0.0/0"), group_id="sg-2"),
            )
        },
        {},
        FAIL,
        "sg-1, sg-2",
    ),
    ("all_ports_open", {"security_groups": (sg(perm("tcp", 2, 65535, "0.0.0.0/0")),)}, {}, PASS, "no security group"),
    ("all_ports_open", {"security_groups": (sg(perm("tcp", 1, 65535, "0.0.0.0/1")),)}, {}, PASS, "no security group"),
    (
        "ssh_open_to_internet",
        {"security_groups": (sg(perm("tcp", 22, 22, "0.0.0.0/1", "128.0.0.0/1")),)},
        {},
        FAIL,
        "sg-1",
    ),
    (
        "ssh_open_to_internet",
        {
            "security_groups": (
                sg(perm("tcp", 22, 22, "0.0.0.0/1")),
                sg(perm("tcp", 0, 100, "128.0.0.0/1"), group_id="sg-2"),
            )
        },
        {},
        FAIL,
        "sg-1, sg-2",
    ),
    (
        "ssh_open_to_internet",
        {
            "security_groups": (
                sg(perm("tcp", 22, 22, "0.0.0.0/1")),
                sg(perm("tcp", 23, 100, "128.0.0.0/1"), group_id="sg-2"),
            )
        },
        {},
        PASS,
        "no security group",
    ),
    (
        "ssh_open_to_internet",
        {"security_groups": (sg(perm("tcp", 22, 22, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),)},
        {},
        PASS,
        "no security group",
    ),
    ("ssh_open_to_internet", {"security_groups": (sg(perm("tcp", 22, 22, "2000::/3")),)}, {}, FAIL, "sg-1"),
    ("all_ports_open", {"security_groups": (sg(perm("icmp", -1, -1, "0.0.0.0/0")),)}, {}, PASS, "no security group"),
    (
        "all_ports_open",
        {"security_groups": (sg(perm("-1", None, None, "10.0.0.0/16")),)},
        {},
        PASS,
        "no security group",
    ),
    ("ebs_volumes_encrypted", {"volumes": (VolumeInfo("vol-1", True), VolumeInfo("vol-2", False))}, {}, FAIL, "vol-2"),
    ("ebs_volumes_encrypted", {"volumes": (VolumeInfo("vol-1", True),)}, {}, PASS, "all 1 attached"),
    ("ebs_volumes_encrypted", {}, {}, PASS, "no EBS volumes"),
    ("required_tags", {"tags": {"Owner": "a", "Environment": "dev"}}, {}, PASS, "present"),
    ("required_tags", {"tags": {"Owner": " "}}, {}, FAIL, "Owner, Environment"),
    ("required_tags", {}, {}, FAIL, "Owner, Environment"),
    ("required_tags", {"tags": {"Team": "x"}}, {"keys": ("Team",)}, PASS, "present"),
    ("approved_ami", {"image_id": "ami-1", "image": image()}, {}, PASS, "approved owner"),
    ("approved_ami", {"image_id": "ami-1", "image": image(ACCOUNT, None)}, {}, PASS, "approved owner"),
    ("approved_ami", {"image_id": "ami-1", "image": image("999999999999", None)}, {}, FAIL, "999999999999"),
    (
        "approved_ami",
        {"image_id": "ami-1", "image": image("999999999999", None)},
        {"owners": ("999999999999",)},
        PASS,
        "approved owner",
    ),
    (
        "approved_ami",
        {"image_id": "ami-1", "image": image(ACCOUNT, None), "account_id": None},
        {},
        FAIL,
        "not an approved",
    ),
    ("approved_ami", {"image_id": "ami-1"}, {"image_ids": ("ami-1",)}, PASS, "approved by id"),
    ("approved_ami", {"image_id": "ami-1"}, {}, FAIL, "no longer visible"),
    ("allowed_instance_type", {}, {}, PASS, "t3.micro is allowed"),
    ("allowed_instance_type", {"instance_type": "m1.small"}, {}, FAIL, "m1.small"),
    ("allowed_instance_type", {"instance_type": "m5.large"}, {"allowed": ("m5.large",)}, PASS, "allowed"),
    ("allowed_instance_type", {}, {"allowed": ("m5.large",)}, FAIL, "t3.micro"),
    ("instance_profile_attached", {"iam_instance_profile": PROFILE}, {}, PASS, PROFILE),
    ("instance_profile_attached", {}, {}, FAIL, "no IAM instance profile"),
    ("detailed_monitoring_enabled", {"monitoring": "enabled"}, {}, PASS, "enabled"),
    ("detailed_monitoring_enabled", {"monitoring": "disabled"}, {}, FAIL, "is disabled"),
    ("detailed_monitoring_enabled", {}, {}, FAIL, "not reported"),
    (
        "instance_age",
        {"launch_time": NOW - timedelta(days=400)},
        {},
        FAIL,
        "400 days ago (LaunchTime, reset by every stop/start; max 365)",
    ),
    (
        "instance_age",
        {"launch_time": NOW - timedelta(days=1), "first_launch_time": NOW - timedelta(days=500)},
        {},
        FAIL,
        "500 days ago (first launch, from the primary interface's attach time; max 365)",
    ),
    ("instance_age", {"launch_time": NOW - timedelta(days=10)}, {}, PASS, "10 days ago"),
    ("instance_age", {"launch_time": NOW - timedelta(days=10)}, {"max_age_days": 5}, FAIL, "max 5"),
    ("instance_age", {}, {}, SKIPPED, "launch time"),
    ("stopped_too_long", {}, {}, PASS, "is running"),
    ("stopped_too_long", {"state": "stopped", "stopped_since": NOW - timedelta(days=45)}, {}, FAIL, "45 days (max 30)"),
    ("stopped_too_long", {"state": "stopped", "stopped_since": NOW - timedelta(days=3)}, {}, PASS, "3 days"),
    ("stopped_too_long", {"state": "stopped"}, {}, SKIPPED, "without a stop time"),
    ("single_eni", {"eni_count": 1}, {}, PASS, "at most one"),
    ("single_eni", {"eni_count": 2}, {}, FAIL, "2 network interfaces"),
    ("no_paravirtual", {"virtualization_type": "paravirtual"}, {}, FAIL, "paravirtual"),
    ("no_paravirtual", {"virtualization_type": "hvm"}, {}, PASS, "hvm"),
    ("no_paravirtual", {}, {}, PASS, "not reported"),
    (
        "ami_deprecated",
        {"image_id": "ami-1", "image": image(deprecated=NOW - timedelta(days=1))},
        {},
        FAIL,
        "deprecated on 2025-05-31",
    ),
    (
        "ami_deprecated",
        {"image_id": "ami-1", "image": image(deprecated=NOW + timedelta(days=1))},
        {},
        PASS,
        "not deprecated",
    ),
    ("ami_deprecated", {"image_id": "ami-1", "image": image()}, {}, PASS, "not deprecated"),
    ("ami_deprecated", {"image_id": "ami-gone"}, {}, FAIL, "ami-gone is no longer visible"),
    ("ami_deprecated", {"image_id": "ami-1", "image": image(state="deregistered")}, {}, FAIL, "ami-1 is deregistered"),
    (
        "ami_deprecated",
        {"image_id": "ami-1", "image": image(state="disabled", deprecated=NOW - timedelta(days=1))},
        {},
        FAIL,
        "ami-1 is disabled",
    ),
    ("ssm_managed", {"ssm_managed": True, "ssm_status": ONLINE}, {}, PASS, "agent is online"),
    ("ssm_managed", {"ssm_managed": False}, {}, FAIL, "not registered"),
    (
        "ssm_managed",
        {"ssm_managed": True, "ssm_status": SsmStatus("ConnectionLost", datetime(2025, 5, 1, 8, 30, tzinfo=UTC))},
        {},
        FAIL,
        "SSM agent is ConnectionLost (last ping 2025-05-01 08:30Z)",
    ),
    (
        "ssm_managed",
        {"ssm_managed": True, "ssm_status": SsmStatus("Inactive", None)},
        {},
        FAIL,
        "Inactive (last ping never)",
    ),
    (
        "ssm_managed",
        {"state": "stopped", "ssm_managed": False},
        {},
        SKIPPED,
        "instance is stopped: Systems Manager only reports running instances",
    ),
    ("ebs_optimized", {"ebs_optimized": True}, {}, PASS, "enabled"),
    ("ebs_optimized", {}, {}, FAIL, "disabled on t3.micro"),
    ("no_key_pair", {"key_name": "ops"}, {}, FAIL, "key pair ops"),
    ("no_key_pair", {}, {}, PASS, "no SSH key pair"),
    ("termination_protection", {"termination_protection": True}, {}, PASS, "enabled"),
    ("termination_protection", {"termination_protection": False}, {}, FAIL, "disabled"),
    ("user_data_secrets", {"user_data": "export AWS_KEY=AKIAABCDEFGHIJKLMNOP\n"}, {}, FAIL, "1 secret pattern"),
    ("user_data_secrets", {"user_data": "-----BEGIN RSA PRIVATE KEY-----\npassword: x"}, {}, FAIL, "2 secret pattern"),
    ("user_data_secrets", {"user_data": "#!/bin/sh\nyum -y update\n"}, {}, PASS, "no secret"),
    ("user_data_secrets", {"user_data": ""}, {}, PASS, "no secret"),
    ("user_data_secrets", {"user_data": "db_pass"}, {"patterns": ("db_pass",)}, FAIL, "db_pass"),
    (
        "user_data_secrets",
        {"user_data_error": "gzip header but not valid gzip"},
        {},
        SKIPPED,
        "could not be decoded: gzip header",
    ),
]


@pytest.mark.parametrize(
    ("rule_id", "changes", "params", "status", "fragment"),
    CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)],
)
def test_rule_outcomes(rule_id, changes, params, status, fragment) -> None:
    result = check(rule_id, record(**changes), **params)
    assert result.status == status
    assert fragment in result.message


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    from .test_rules_resources import RESOURCE_CASES

    covered = {(case[0], case[3]) for case in [*CASES, *RESOURCE_CASES]}
    for rule_id in CATALOGUE:
        assert (rule_id, PASS) in covered and (rule_id, FAIL) in covered, rule_id


def test_user_data_findings_never_contain_the_secret() -> None:
    result = check("user_data_secrets", record(user_data="password=hunter2"))
    assert result.status == FAIL
    assert "hunter2" not in result.message


def test_unparseable_ranges_are_ignored_not_fatal() -> None:
    bad = record(security_groups=(sg(perm("tcp", 22, 22, "not-a-cidr", "10.0.0.0/8")),))
    assert check("ssh_open_to_internet", bad).status == PASS
    worse = record(security_groups=(sg(perm("tcp", 22, 22, "not-a-cidr", "0.0.0.0/0")),))
    assert check("ssh_open_to_internet", worse).status == FAIL
