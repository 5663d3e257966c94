"""Account guardrails and launch templates, read once per region: moto where it implements the
call (EBS encryption by default, security groups, launch templates), botocore's Stubber for the
four it lacks (GetInstanceMetadataDefaults, GetSnapshotBlockPublicAccessState,
GetImageBlockPublicAccessState, GetSerialConsoleAccessStatus)."""

from __future__ import annotations

import base64
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ec2c.scanner import sources
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.collection.budget import TimeBudget
from ec2c.scanner.collection.collector import _Calls
from ec2c.scanner.collection.region_resources import ACCOUNT_FETCHERS, launch_templates

from .conftest import ACCOUNT, REGION

NOW = datetime(2025, 6, 1, tzinfo=UTC)
REGION_RULES = load_policy(
    {
        "rules": {
            rule: {"enabled": False}
            for rule in (
                "imds_defaults_v2",
                "snapshot_block_public_access",
                "image_block_public_access",
            )
        }
    }
)
"""The default policy without the three on-by-default guardrails whose reads moto lacks."""


def calls() -> _Calls:
    return _Calls(REGION, TimeBudget(None))


def test_unemulated_account_reads_parse_their_answers() -> None:
    """Stubber stands in for GetInstanceMetadataDefaults, GetSnapshotBlockPublicAccessState,
    GetImageBlockPublicAccessState and GetSerialConsoleAccessStatus, which moto lacks."""
    client = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("get_instance_metadata_defaults", {"AccountLevel": {"HttpTokens": "required"}})
        stub.add_response("get_instance_metadata_defaults", {"AccountLevel": {}})
        stub.add_response("get_snapshot_block_public_access_state", {"State": "block-new-sharing"})
        stub.add_response("get_image_block_public_access_state", {"ImageBlockPublicAccessState": "unblocked"})
        stub.add_response("get_serial_console_access_status", {"SerialConsoleAccessEnabled": True})
        assert ACCOUNT_FETCHERS[sources.IMDS_DEFAULTS](calls(), client, client) == {"imds_http_tokens": "required"}
        assert ACCOUNT_FETCHERS[sources.IMDS_DEFAULTS](calls(), client, client) == {"imds_http_tokens": "no-preference"}
        assert ACCOUNT_FETCHERS[sources.SNAPSHOT_BLOCK_PUBLIC_ACCESS](calls(), client, client) == {
            "snapshot_block_public_access": "block-new-sharing"
        }
        assert ACCOUNT_FETCHERS[sources.IMAGE_BLOCK_PUBLIC_ACCESS](calls(), client, client) == {
            "image_block_public_access": "unblocked"
        }
        assert ACCOUNT_FETCHERS[sources.SERIAL_CONSOLE](calls(), client, client) == {"serial_console_access": True}
        stub.assert_no_pending_responses()


def test_guardrails_and_templates_are_judged_once_per_region(session, ec2, api_calls, run) -> None:
    """An empty region still gets its guardrails read: they matter before the first launch."""
    legacy = ec2.create_launch_template(
        LaunchTemplateName="legacy",
        LaunchTemplateData={
            "MetadataOptions": {"HttpTokens": "optional"},
            "UserData": base64.b64encode(b"export AWS_SECRET_ACCESS_KEY=abc").decode(),
            "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": True}],
            "BlockDeviceMappings": [{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 8}}],
        },
    )["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(
        LaunchTemplateId=legacy, LaunchTemplateData={"MetadataOptions": {"HttpTokens": "required"}}
    )
    ec2.create_launch_template(
        LaunchTemplateName="golden", LaunchTemplateData={"MetadataOptions": {"HttpTokens": "required"}}
    )

    report = run([REGION], REGION_RULES, account_id=ACCOUNT)

    assert report.index["errors"] == [] and report.index["partial"] is False
    account = {f["rule_id"]: f for f in report.index["account_findings"]}
    assert set(account) == {"ebs_default_encryption"}
    assert account["ebs_default_encryption"]["status"] == "FAIL"  # moto's default: off
    assert account["ebs_default_encryption"]["resource_arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert account["ebs_default_encryption"]["resource_id"] == ACCOUNT  # no instance names the owner: the run does
    (default_vpc,) = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    (default_group,) = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [default_vpc["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    (group,) = [f for f in report.findings() if f["resource_type"] == "security_group"]
    assert group["rule_id"] == "default_security_group_closed"  # moto's default group allows all outbound
    assert group["resource_id"] == default_group["GroupId"]
    assert group["resource_arn"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{default_group['GroupId']}"
    assert (
        group["message"]
        == f"the default security group of {default_vpc['VpcId']} allows traffic: 0 inbound, 1 outbound rule(s)"
    )
    templates = {f["rule_id"]: f for f in report.findings() if f["resource_type"] == "launch_template"}
    assert set(templates) == {
        "launch_template_imdsv2",
        "launch_template_no_public_ip",
        "launch_template_user_data_secrets",
        "launch_template_ebs_encrypted",
    }
    imds = templates["launch_template_imdsv2"]
    assert imds["resource_id"] == legacy
    assert imds["resource_arn"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/{legacy}"
    assert imds["message"] == "launch template legacy: version 1 (default): IMDSv1 is allowed (HttpTokens=optional)"
    assert report.summary["by_resource_type"] == {
        "instance": {"evaluated": 0, "non_compliant": 0},
        "launch_template": {"evaluated": 2, "non_compliant": 1},
        "security_group": {"evaluated": 1, "non_compliant": 1},
        "account": {"evaluated": 1, "non_compliant": 1},
    }
    # one call each, whatever the number of templates
    assert api_calls["ec2:DescribeLaunchTemplates"] == api_calls["ec2:DescribeLaunchTemplateVersions"] == 1
    assert api_calls["ec2:GetEbsEncryptionByDefault"] == api_calls["ec2:DescribeSecurityGroups"] == 1


def test_guardrails_pass_once_fixed(ec2, run) -> None:
    ec2.enable_ebs_encryption_by_default()
    for group in ec2.describe_security_groups()["SecurityGroups"]:
        ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])
    report = run([REGION], REGION_RULES, account_id=ACCOUNT)
    assert {f["rule_id"]: f["status"] for f in report.index["account_findings"]} == {"ebs_default_encryption": "PASS"}
    assert list(report.findings()) == []
    assert report.summary["by_rule"]["default_security_group_closed"]["passed"] == 1


def test_one_default_group_can_be_suppressed_by_its_id(ec2, run) -> None:
    """Each VPC's default group is its own result, so a suppression can accept one VPC's group
    and leave the others failing."""
    ec2.create_vpc(CidrBlock="10.9.0.0/16")
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    accepted, other = sorted(g["GroupId"] for g in groups)
    policy = load_policy(
        {
            "rules": {
                rule: {"enabled": False}
                for rule in (
                    "imds_defaults_v2",
                    "snapshot_block_public_access",
                    "image_block_public_access",
                )
            },
            "suppressions": [
                {
                    "rule": "default_security_group_closed",
                    "resource_id": accepted,
                    "resource_type": "security_group",
                    "reason": "shared services VPC",
                }
            ],
        }
    )
    report = run([REGION], policy, account_id=ACCOUNT)
    groups_found = {f["resource_id"]: f for f in report.findings() if f["resource_type"] == "security_group"}
    assert set(groups_found) == {accepted, other}
    assert (
        groups_found[accepted]["suppressed"] and groups_found[accepted]["suppression_reason"] == "shared services VPC"
    )
    assert not groups_found[other]["suppressed"]
    assert report.summary["by_resource_type"]["security_group"] == {"evaluated": 2, "non_compliant": 1}


def test_reads_moto_lacks_are_reported_and_their_rules_skipped(run) -> None:
    report = run([REGION], load_policy(None), account_id=ACCOUNT)
    unavailable = {e["operation"] for e in report.index["errors"] if e["code"] == "OperationUnavailable"}
    assert unavailable == {
        "ec2:GetInstanceMetadataDefaults",
        "ec2:GetSnapshotBlockPublicAccessState",
        "ec2:GetImageBlockPublicAccessState",
    }
    statuses = {f["rule_id"]: f["status"] for f in report.index["account_findings"]}
    assert statuses["imds_defaults_v2"] == statuses["image_block_public_access"] == "SKIPPED"
    assert "serial_console_access_disabled" not in statuses  # opt-in


@pytest.mark.parametrize(
    ("source", "operation"),
    [
        ("launch_templates", "DescribeLaunchTemplates"),
        ("default_security_groups", "DescribeSecurityGroups"),
    ],
)
def test_resources_that_cannot_be_listed_make_the_region_incomplete(monkeypatch, source, operation, run) -> None:
    """Templates or default groups that were not listed must not pass for fixed ones."""
    from botocore.exceptions import ClientError

    from ec2c.scanner.collection.region_resources import RESOURCE_LISTERS

    def denied(*_: Any) -> list[Any]:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, operation)

    monkeypatch.setitem(RESOURCE_LISTERS, source, denied)
    report = run([REGION], REGION_RULES, account_id=ACCOUNT)
    assert report.index["incomplete_regions"] == [REGION] and report.index["partial"] is True
    assert [e["code"] for e in report.index["errors"]] == ["UnauthorizedOperation"]


def test_undecodable_template_user_data_is_kept_as_an_error() -> None:
    from ec2c.scanner.collection.normalize import template_version_from_api

    version = template_version_from_api({"VersionNumber": 3, "LaunchTemplateData": {"UserData": "%%%"}}, ("latest",))
    assert version.user_data is None and version.user_data_error.startswith("not valid base64")


def test_no_templates_costs_one_listing(session, api_calls) -> None:
    client = session.client("ec2", region_name=REGION)
    assert launch_templates(calls(), client, REGION, NOW) == []
    assert api_calls == Counter({"ec2:DescribeLaunchTemplates": 1})
