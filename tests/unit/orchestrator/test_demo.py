"""The embedded demo fleet: its specs, what it seeds into moto, the reads it answers, its policy, and
its env isolation."""

from __future__ import annotations

import ast
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ec2c.orchestrator import demo
from ec2c.orchestrator.demo import session as demo_session_module
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.run.scanner import scan
from ec2c.scanner.storage import DirStore


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
    assert fleet.rules_covered == set(CATALOGUE)
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
    now = datetime.now(UTC)

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
    assert policy.rules["ssm_managed"].enabled  # the demo answers SSM's inventory itself
    assert policy.rules["approved_ami"].params["owners"] == ("self",)
    assert all(s.reason for s in policy.suppressions)
    expired = [s for s in policy.suppressions if s.expires and s.expires < today]
    active = [s for s in policy.suppressions if s.expires and s.expires >= today]
    assert [s.rule for s in expired] == ["imdsv2_required"]
    assert {s.rule for s in active} == {
        "ssh_open_to_internet",
        "no_public_ip",
        "public_ip_with_instance_profile",
        "authorized_ports_only",
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
    assert failing == {(r.resource_type, r.region, r.resource_id, rule) for r in fleet.resources for rule in r.expected}
    assert {(f["region"], f["status"]) for f in index["account_findings"]} >= {
        ("ap-southeast-2", "PASS"),
        ("us-east-1", "FAIL"),
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

    with pytest.raises(RuntimeError), demo.demo_session(("us-east-1",)):
        raise RuntimeError("boom")
    assert dict(os.environ) == before


def test_extra_regions_reuse_a_designed_layout(moto_session):
    fleet = demo.seed_demo_fleet(moto_session, ["us-west-2"])
    assert fleet.counts_per_region == {"us-west-2": len(demo.instance_specs("us-east-1"))}
    assert fleet.approved_amis["us-west-2"]


# ------------------------------------------------------------------------------------------------
# The specs, the reads the demo answers, and what a scan makes of them
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def scanned(seeded, tmp_path):
    session, fleet = seeded
    policy = load_policy(demo.demo_policy(), "demo policy")
    return fleet, scan(session, fleet.regions, policy, DirStore(tmp_path), account_id=demo.DEMO_ACCOUNT_ID)


def test_the_specs_are_typed_data_naming_real_rules():
    specs = demo.instance_specs()
    assert specs == tuple(spec for region in demo.DEMO_REGIONS for spec in demo.FLEET[region])
    assert all(isinstance(spec, demo.InstanceSpec) for spec in specs)
    assert len({spec.name for spec in specs}) == len(specs)
    for spec in specs:
        assert spec.expect <= set(CATALOGUE), spec.name
        assert spec.suppressed <= spec.expect, spec.name
    assert set().union(*(spec.deviations for spec in specs)) == set(demo.Deviation)  # each one is exercised
    with pytest.raises(TypeError):
        demo.FLEET["us-west-2"] = ()  # type: ignore[index]
    with pytest.raises(KeyError):
        demo.instance_specs("us-west-2")


def test_a_spec_contradicting_itself_is_refused():
    with pytest.raises(ValueError, match="cannot have a registered SSM agent"):
        demo.InstanceSpec("no-profile", deviations=frozenset({demo.Deviation.NO_PROFILE}))
    with pytest.raises(ValueError, match="are not expected"):
        demo.InstanceSpec("bastion", suppressed=frozenset({"no_public_ip"}))


def test_every_default_rule_has_results_in_a_demo_scan(scanned):
    _, report = scanned
    assert report.index["errors"] == []
    by_rule = report.summary["by_rule"]
    default_rules = [rule_id for rule_id, rule in CATALOGUE.items() if not rule.opt_in]
    assert "ssm_managed" in default_rules
    for rule_id in default_rules:
        assert by_rule[rule_id]["passed"] + by_rule[rule_id]["failed"] > 0, (rule_id, by_rule[rule_id])
    # The demo policy turns the opt-in rules on too: every rule of the catalogue passes somewhere
    # and fails somewhere.
    for rule_id in CATALOGUE:
        counts = by_rule[rule_id]
        assert counts["passed"] > 0 and counts["failed"] + counts["suppressed"] > 0, (rule_id, counts)


def test_ssm_managed_passes_and_fails_as_the_specs_say(scanned):
    fleet, report = scanned
    failing = {f["instance_id"]: f["message"] for f in report.findings() if f["rule_id"] == "ssm_managed"}
    assert set(failing) == {i.instance_id for i in fleet.instances if "ssm_managed" in i.expected}
    running = [i for i in fleet.instances if i.state == "running"]
    online = [i for i in running if i.ssm is demo.SsmAgent.ONLINE]
    assert set(failing) == {i.instance_id for i in running if i.ssm is not demo.SsmAgent.ONLINE}
    assert online and failing
    assert report.summary["by_rule"]["ssm_managed"] == {
        "passed": len(online),
        "failed": len(failing),
        "suppressed": 0,
        "skipped": len(fleet.instances) - len(running),
    }
    assert failing[fleet.by_name("cron-syd").instance_id] == "instance is not registered with Systems Manager"
    lost = (datetime.now(UTC) - timedelta(days=demo.LOST_AGENT_DAYS)).strftime("%Y-%m-%d")
    assert failing[fleet.by_name("batch-2019").instance_id].startswith(f"SSM agent is ConnectionLost (last ping {lost}")


def test_ssm_inventory_is_answered_per_region_with_filters_and_pages(seeded):
    session, fleet = seeded
    agents = fleet.ssm_agents
    us = session.client("ssm", region_name="us-east-1")
    pages = list(us.get_paginator("describe_instance_information").paginate(PaginationConfig={"PageSize": 5}))
    assert len(pages) > 1 and all(len(page["InstanceInformationList"]) <= 5 for page in pages)
    listed = [item["InstanceId"] for page in pages for item in page["InstanceInformationList"]]
    assert listed == sorted(agents["us-east-1"])
    assert len(listed) == sum(1 for i in fleet.instances if i.region == "us-east-1") - 2  # no agent, stopped

    names = ("web-prod-1", "marketing-site", "reporting-old", "batch-2019")  # online, no agent, stopped, lost
    asked = [fleet.by_name(name).instance_id for name in names]
    answer = us.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": asked}], MaxResults=50)
    assert {i["InstanceId"]: i["PingStatus"] for i in answer["InstanceInformationList"]} == {
        asked[0]: "Online",
        asked[3]: "ConnectionLost",
    }
    assert "NextToken" not in answer
    lost = us.describe_instance_information(
        InstanceInformationFilterList=[{"key": "PingStatus", "valueSet": ["ConnectionLost"]}]
    )
    assert [i["InstanceId"] for i in lost["InstanceInformationList"]] == [asked[3]]

    eu = session.client("ssm", region_name="eu-west-1").describe_instance_information()["InstanceInformationList"]
    assert (
        {i["InstanceId"] for i in eu}
        == set(agents["eu-west-1"])
        == {i.instance_id for i in fleet.instances if i.region == "eu-west-1"}
    )
    with pytest.raises(ClientError, match="InvalidFilterKey"):
        us.describe_instance_information(Filters=[{"Key": "AgentVersion", "Values": ["3.0"]}])
    with pytest.raises(ClientError, match="InvalidNextToken"):
        us.describe_instance_information(NextToken="not-a-token")


def test_the_demo_package_imports_no_unittest():
    sources = sorted(Path(demo.__file__).parent.glob("*.py"))
    assert {path.name for path in sources} >= {"__init__.py", "specs.py", "seeding.py", "hooks.py", "session.py"}
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert "unittest" not in text, path
        modules = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                modules |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                modules.add(node.module or "")
        assert not any(module.split(".")[0] == "unittest" for module in modules), path


def test_the_env_is_restored_after_an_exception_inside_demo_session(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production-admin")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")
    monkeypatch.delenv("EC2C_DEMO_ADDED", raising=False)
    before = dict(os.environ)

    with pytest.raises(KeyError, match="boom"), demo.demo_session(("eu-west-1",)):
        assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1" and "AWS_PROFILE" not in os.environ
        os.environ["EC2C_DEMO_ADDED"] = "inside"
        os.environ["AWS_REGION"] = "changed inside"
        del os.environ["AWS_ACCESS_KEY_ID"]
        raise KeyError("boom")
    assert dict(os.environ) == before


def test_the_env_is_restored_when_seeding_fails(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production-admin")
    before = dict(os.environ)

    def broken(session, regions):
        raise RuntimeError("seeding failed")

    monkeypatch.setattr(demo_session_module, "seed_demo_fleet", broken)
    with pytest.raises(RuntimeError, match="seeding failed"), demo.demo_session():
        pytest.fail("the session must not be yielded")
    assert dict(os.environ) == before
