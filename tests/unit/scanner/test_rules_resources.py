"""Rules over launch templates, default security groups, account guardrails and authorized ports
(pure checks)."""

from __future__ import annotations

from typing import Any

import pytest

from ec2c.scanner import sources
from ec2c.scanner.model import (
    FAIL,
    PASS,
    SKIPPED,
    AccountRecord,
    IngressPermission,
    LaunchTemplateRecord,
    MetadataOptions,
    SecurityGroupInfo,
    SecurityGroupRecord,
    TemplateVersion,
)
from ec2c.scanner.rules import CATALOGUE, evaluate

from .conftest import NOW, record

REQUIRED = MetadataOptions("required", "enabled", 1)
OPTIONAL = MetadataOptions("optional", "enabled", 1)


def template(*versions: TemplateVersion) -> LaunchTemplateRecord:
    return LaunchTemplateRecord("lt-1", "web", "us-east-1", "123456789012", NOW, versions)


def version(number: int = 1, roles: tuple[str, ...] = ("default", "latest"), **fields: Any) -> TemplateVersion:
    return TemplateVersion(number, roles, **{"metadata_options": REQUIRED, **fields})


def account(**fields: Any) -> AccountRecord:
    return AccountRecord("123456789012", "us-east-1", NOW, **fields)


def open_to_world(*ports: tuple[str, int, int]) -> Any:
    permissions = tuple(IngressPermission(proto, low, high, ("0.0.0.0/0",)) for proto, low, high in ports)
    return record(security_groups=(SecurityGroupInfo("sg-1", "web", permissions),))


def default_group(ingress: int = 0, egress: int = 0) -> SecurityGroupRecord:
    return SecurityGroupRecord("sg-d", "vpc-1", "us-east-1", "123456789012", NOW, ingress, egress)


RESOURCE_CASES = [
    # rule id, record, params, expected status, message fragment
    (
        "authorized_ports_only",
        open_to_world(("tcp", 443, 443), ("tcp", 80, 80)),
        {},
        PASS,
        "only authorized ports (80, 443)",
    ),
    ("authorized_ports_only", open_to_world(("tcp", 22, 22)), {}, FAIL, "TCP 22"),
    ("authorized_ports_only", open_to_world(("tcp", 3306, 3306)), {}, FAIL, "TCP 3306 (MySQL)"),
    (
        "authorized_ports_only",
        open_to_world(("-1", None, None)),
        {},
        FAIL,
        "TCP 1-79, 81-442, 444-65535; UDP 1-79, 81-442, 444-65535",
    ),
    ("authorized_ports_only", open_to_world(("tcp", 8000, 8100)), {"ports": (8080,)}, FAIL, "TCP 8000-8079, 8081-8100"),
    ("authorized_ports_only", open_to_world(("tcp", 8080, 8081)), {"ports": (8080, 8081)}, PASS, "8080, 8081"),
    ("launch_template_imdsv2", template(version()), {}, PASS, "IMDSv2 is required (version 1 (default, latest))"),
    (
        "launch_template_imdsv2",
        template(version(1, ("default",), metadata_options=OPTIONAL), version(2, ("latest",))),
        {},
        FAIL,
        "launch template web: version 1 (default): IMDSv1 is allowed (HttpTokens=optional)",
    ),
    ("launch_template_imdsv2", template(version(metadata_options=None)), {}, FAIL, "HttpTokens=not set"),
    (
        "launch_template_imdsv2",
        template(version(metadata_options=MetadataOptions(None, "disabled", None))),
        {},
        PASS,
        "required",
    ),
    ("launch_template_imdsv2", template(), {}, SKIPPED, "were not returned"),
    ("launch_template_no_public_ip", template(version()), {}, PASS, "no public IPv4"),
    ("launch_template_no_public_ip", template(version(public_ip=True)), {}, FAIL, "gets a public IPv4 address"),
    ("launch_template_user_data_secrets", template(version(user_data="#!/bin/sh\nrun")), {}, PASS, "no secret"),
    (
        "launch_template_user_data_secrets",
        template(version(user_data="password=hunter2")),
        {},
        FAIL,
        "1 secret pattern(s)",
    ),
    (
        "launch_template_user_data_secrets",
        template(version(user_data_error="not valid base64")),
        {},
        FAIL,
        "could not be decoded",
    ),
    ("launch_template_ebs_encrypted", template(version()), {}, PASS, "every EBS mapping is encrypted"),
    ("launch_template_ebs_encrypted", template(version(unencrypted_devices=("/dev/xvda",))), {}, FAIL, "/dev/xvda"),
    ("ebs_default_encryption", account(ebs_encryption_by_default=True), {}, PASS, "enabled"),
    ("ebs_default_encryption", account(ebs_encryption_by_default=False), {}, FAIL, "disabled"),
    ("imds_defaults_v2", account(imds_http_tokens="required"), {}, PASS, "require IMDSv2"),
    ("imds_defaults_v2", account(imds_http_tokens="no-preference"), {}, FAIL, "HttpTokens=no-preference"),
    (
        "snapshot_block_public_access",
        account(snapshot_block_public_access="block-all-sharing"),
        {},
        PASS,
        "block-all-sharing",
    ),
    ("snapshot_block_public_access", account(snapshot_block_public_access="unblocked"), {}, FAIL, "shared publicly"),
    (
        "snapshot_block_public_access",
        account(snapshot_block_public_access="block-new-sharing"),
        {"accepted_states": ("block-all-sharing",)},
        FAIL,
        "block-new-sharing",
    ),
    ("image_block_public_access", account(image_block_public_access="block-new-sharing"), {}, PASS, "on"),
    ("image_block_public_access", account(image_block_public_access="unblocked"), {}, FAIL, "can be made public"),
    ("serial_console_access_disabled", account(serial_console_access=False), {}, PASS, "disabled"),
    ("serial_console_access_disabled", account(serial_console_access=True), {}, FAIL, "enabled"),
    ("default_security_group_closed", default_group(), {}, PASS, "of vpc-1 allows no traffic"),
    (
        "default_security_group_closed",
        default_group(1, 1),
        {},
        FAIL,
        "of vpc-1 allows traffic: 1 inbound, 1 outbound rule(s)",
    ),
    ("default_security_group_closed", default_group(0, 1), {}, FAIL, "0 inbound, 1 outbound rule(s)"),
]


@pytest.mark.parametrize(
    ("rule_id", "resource", "params", "status", "fragment"),
    RESOURCE_CASES,
    ids=[f"{c[0]}-{n}" for n, c in enumerate(RESOURCE_CASES)],
)
def test_resource_rule_outcomes(rule_id, resource, params, status, fragment) -> None:
    rule = CATALOGUE[rule_id]
    assert rule.resource_type == resource.resource_type
    result = evaluate(rule, resource, {**rule.params, **params})
    assert result.status == status
    assert fragment in result.message


def test_template_secrets_name_patterns_never_the_secret() -> None:
    rule = CATALOGUE["launch_template_user_data_secrets"]
    result = evaluate(rule, template(version(user_data="password=hunter2")), rule.params)
    assert "hunter2" not in result.message


def test_guardrails_are_skipped_when_their_setting_could_not_be_read() -> None:
    unread = account(unavailable=frozenset({sources.IMDS_DEFAULTS}))
    assert evaluate(CATALOGUE["imds_defaults_v2"], unread, {}).status == SKIPPED


def test_resource_ids_and_types() -> None:
    assert (template().resource_type, template().resource_id) == ("launch_template", "lt-1")
    assert (account().resource_type, account().resource_id) == ("account", "123456789012")
    assert (default_group().resource_type, default_group().resource_id) == ("security_group", "sg-d")
    assert AccountRecord(None, "eu-west-1", NOW).resource_id == "unknown"
    assert version(2, ("latest",)).label == "version 2 (latest)"
