"""The embedded demo fleet: what it seeds into moto, its policy, and its env isolation."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from ec2c.scanner.policy import load_policy
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.scanner import scan
from ec2c.scanner.storage import DirStore
from ec2c.orchestrator.scan import demo


@pytest.fixture
def moto_session(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


@pytest.fixture
def seeded(moto_session):
    return moto_session, demo.seed_demo_fleet(moto_session)


def _describe(session, fleet, name):
    inst = fleet.by_name(name)
    ec2 = session.client("ec2", region_name=inst.region)
    return ec2, ec2.describe_instances(InstanceIds=[inst.instance_id])["Reservations"][0]["Instances"][0]


def test_fleet_spans_the_demo_regions_and_every_rule(seeded):
    session, fleet = seeded
    assert fleet.regions == demo.DEMO_REGIONS
    assert all(count >= 7 for count in fleet.counts_per_region.values()), fleet.counts_per_region
    assert fleet.rules_covered == set(CATALOGUE) - set(demo.UNSUPPORTED_BY_MOTO)
    assert len(fleet.compliant_ids) >= 6
    assert not fleet.notes  # this moto supports every tweak the demo makes
    # Every seeded instance is really there, in its region, with its Name tag.
    for region in fleet.regions:
        ec2 = session.client("ec2", region_name=region)
        names = {
            tag["Value"]
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            for tag in i.get("Tags", [])
            if tag["Key"] == "Name"
        }
        assert names == {i.name for i in fleet.instances if i.region == region}


def test_seeded_instances_carry_their_deviations(seeded):
    session, fleet = seeded
    now = datetime.now(timezone.utc)

    _, legacy = _describe(session, fleet, "legacy-erp-1")
    assert legacy["MetadataOptions"]["HttpTokens"] == "optional"

    _, web = _describe(session, fleet, "web-prod-1")
    assert web["MetadataOptions"]["HttpTokens"] == "required"
    assert web["Monitoring"]["State"] == "enabled" and web["EbsOptimized"] is True
    assert "PublicIpAddress" not in web and "KeyName" not in web
    assert {t["Key"] for t in web["Tags"]} >= {"Name", "Owner", "Environment"}

    _, old = _describe(session, fleet, "batch-2019")
    assert now - old["LaunchTime"] > timedelta(days=demo.OLD_LAUNCH_DAYS - 1)

    _, stopped = _describe(session, fleet, "reporting-old")
    assert stopped["State"]["Name"] == "stopped"
    stopped_on = (now - timedelta(days=demo.STOPPED_DAYS)).strftime("%Y-%m-%d")
    assert stopped["StateTransitionReason"].startswith(f"User initiated ({stopped_on}")

    ec2, deprecated = _describe(session, fleet, "app-syd-old-ami")
    image = ec2.describe_images(ImageIds=[deprecated["ImageId"]])["Images"][0]
    assert image["OwnerId"] == demo.DEMO_ACCOUNT_ID
    assert image["DeprecationTime"] < now.strftime("%Y-%m-%dT%H:%M:%S")

    _, pv = _describe(session, fleet, "legacy-pv-syd")
    assert pv["VirtualizationType"] == "paravirtual"

    _, nat = _describe(session, fleet, "nat-appliance-eu")
    assert len(nat["NetworkInterfaces"]) == 3

    ec2, bastion = _describe(session, fleet, "bastion-us")
    assert bastion["PublicIpAddress"]
    groups = ec2.describe_security_groups(GroupIds=[g["GroupId"] for g in bastion["SecurityGroups"]])
    cidrs = {
        r.get("CidrIp") or r.get("CidrIpv6")
        for g in groups["SecurityGroups"]
        for p in g["IpPermissions"]
        if p.get("FromPort") == 22
        for r in p["IpRanges"] + p["Ipv6Ranges"]
    }
    assert cidrs == {"0.0.0.0/0", "::/0"}

    ec2, files = _describe(session, fleet, "files-eu")
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [files["InstanceId"]]}])
    assert sorted(v["Encrypted"] for v in volumes["Volumes"]) == [False, True]


def test_demo_policy_is_valid_and_has_reasoned_suppressions_one_expired():
    today = date(2026, 1, 15)
    document = demo.demo_policy(today)
    policy = load_policy(document, "demo policy")
    assert policy.rules["termination_protection"].enabled
    assert policy.rules["user_data_secrets"].enabled
    assert not policy.rules["ssm_managed"].enabled  # moto has no SSM inventory
    assert policy.rules["approved_ami"].params["owners"] == ("self",)
    assert all(s.reason for s in policy.suppressions)
    expired = [s for s in policy.suppressions if s.expires and s.expires < today]
    active = [s for s in policy.suppressions if s.expires and s.expires >= today]
    assert [s.rule for s in expired] == ["imdsv2_required"]
    assert {s.rule for s in active} == {
        "ssh_open_to_internet", "no_public_ip", "public_ip_with_instance_profile", "authorized_ports_only"
    }


def test_a_scan_of_the_demo_fleet_finds_exactly_what_was_seeded(seeded, tmp_path):
    session, fleet = seeded
    policy = load_policy(demo.demo_policy(), "demo policy")
    report = scan(session, fleet.regions, policy, DirStore(tmp_path), account_id=demo.DEMO_ACCOUNT_ID)
    index = report.index

    assert index["errors"] == []
    assert index["partial"] is False
    assert report.summary["total_instances"] == len(fleet.instances)
    found: dict[str, set[str]] = {}
    suppressed: dict[str, set[str]] = {}
    for finding in report.findings():
        found.setdefault(finding["instance_id"], set()).add(finding["rule_id"])
        if finding["suppressed"]:
            suppressed.setdefault(finding["instance_id"], set()).add(finding["rule_id"])
            assert finding["suppression_reason"]
    for inst in fleet.instances:
        assert found.get(inst.instance_id, set()) == set(inst.expected), inst.name
        assert suppressed.get(inst.instance_id, set()) == set(inst.suppressed), inst.name
    # A fully suppressed instance (the bastion) counts as compliant.
    assert report.summary["compliant_instances"] == len(fleet.accepted_ids) == len(fleet.compliant_ids) + 1
    # Launch templates and account guardrails: exactly the seeded failures, per region.
    failing = {
        (f["resource_type"], f["region"], f["resource_id"], f["rule_id"])
        for f in [*report.findings(), *index["account_findings"]]
        if f["resource_type"] != "instance" and f["status"] == "FAIL"
    }
    assert failing == {
        (r.resource_type, r.region, r.resource_id, rule) for r in fleet.resources for rule in r.expected
    }
    assert {(f["region"], f["status"]) for f in index["account_findings"]} >= {
        ("ap-southeast-2", "PASS"), ("us-east-1", "FAIL")
    }
    # The expired IMDSv1 exception no longer hides the legacy ERP's finding.
    legacy = fleet.by_name("legacy-erp-1").instance_id
    assert [f["suppressed"] for f in report.findings() if f["instance_id"] == legacy] == [False]


def test_demo_session_isolates_and_restores_the_callers_env(monkeypatch):
    real = {
        "AWS_PROFILE": "production-admin",
        "AWS_ACCESS_KEY_ID": "AKIAREALKEYREALKEY12",
        "AWS_SECRET_ACCESS_KEY": "real-secret",
        "AWS_SESSION_TOKEN": "real-token",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:9",
        "AWS_CONFIG_FILE": "/home/someone/.aws/config",
    }
    for key, value in real.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    before = dict(os.environ)

    with demo.demo_session(("eu-west-1",)) as (session, fleet):
        assert "AWS_PROFILE" not in os.environ
        assert "AWS_SESSION_TOKEN" not in os.environ
        assert not any(k.startswith("AWS_ENDPOINT_URL") for k in os.environ)
        assert os.environ["AWS_SECRET_ACCESS_KEY"] != "real-secret"
        assert session.region_name == "eu-west-1"
        assert session.client("sts").get_caller_identity()["Account"] == demo.DEMO_ACCOUNT_ID
        assert fleet.counts_per_region == {"eu-west-1": len(fleet.instances)}

    assert dict(os.environ) == before

    with pytest.raises(RuntimeError):
        with demo.demo_session(("us-east-1",)):
            raise RuntimeError("boom")
    assert dict(os.environ) == before


def test_extra_regions_reuse_a_designed_layout(moto_session):
    fleet = demo.seed_demo_fleet(moto_session, ["us-west-2"])
    assert fleet.counts_per_region == {"us-west-2": len(demo._FLEET["us-east-1"])}
    assert fleet.approved_amis["us-west-2"]
