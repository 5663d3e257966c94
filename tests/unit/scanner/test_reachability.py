"""Reachability grading of the exposure rules, on moto's VPCs, route tables and internet gateways."""

from __future__ import annotations

from typing import Any

import pytest

from ec2c.scanner import sources
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.assessment.reachability import grade
from ec2c.scanner.model import InternetRoute

from .conftest import LINUX_AMI, REGION, record

SSH_ONLY = {
    "rules": {
        "ssh_open_to_internet": {"enabled": True},
        **{rule: {"enabled": False} for rule in ("rdp_open_to_internet", "high_risk_ports_open", "all_ports_open")},
    }
}


def network(ec2: Any) -> dict[str, str]:
    """A VPC with a public subnet (own route table, 0.0.0.0/0 -> igw), a private subnet (own
    table, no default route) and an unassociated subnet that falls back to the main table, which
    also routes to the gateway; plus a group opening SSH to the world."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    subnets = {
        name: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
        for name, cidr in (("public", "10.0.1.0/24"), ("private", "10.0.2.0/24"), ("main", "10.0.3.0/24"))
    }
    public_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rt, SubnetId=subnets["public"])
    private_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=private_rt, SubnetId=subnets["private"])
    main_rt = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=main_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    group = ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    return {
        "vpc": vpc,
        "igw": igw,
        "group": group,
        "public_rt": public_rt,
        "private_rt": private_rt,
        "main_rt": main_rt,
        **subnets,
    }


def run_in(ec2: Any, net: dict[str, str], subnet: str, public: bool) -> str:
    response = ec2.run_instances(
        ImageId=LINUX_AMI,
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[
            {"DeviceIndex": 0, "SubnetId": net[subnet], "Groups": [net["group"]], "AssociatePublicIpAddress": public}
        ],
    )
    return response["Instances"][0]["InstanceId"]


def ssh_findings(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["instance_id"]: f for f in report.findings() if f["rule_id"] == "ssh_open_to_internet"}


def test_exposure_severity_follows_reachability(session, ec2, api_calls, run) -> None:
    net = network(ec2)
    routed = run_in(ec2, net, "public", public=True)
    unrouted = run_in(ec2, net, "private", public=True)
    private = run_in(ec2, net, "private", public=False)
    via_main = run_in(ec2, net, "main", public=True)

    findings = ssh_findings(run([REGION], load_policy(SSH_ONLY)))

    assert findings[routed]["severity"] == "critical"
    assert findings[routed]["severity_reason"].endswith(f"a default route to {net['igw']} in {net['public_rt']}")
    assert findings[unrouted]["severity"] == "high"
    assert findings[unrouted]["severity_reason"].endswith(
        f"but {net['private_rt']} has no default route to an internet gateway"
    )
    assert findings[private] | {} and findings[private]["severity"] == "medium"
    assert findings[private]["severity_reason"] == "no public address: reachable only from inside the network"
    assert findings[via_main]["severity"] == "critical"
    assert net["main_rt"] in findings[via_main]["severity_reason"]
    assert api_calls["ec2:DescribeRouteTables"] == 1  # one batched call for the region


def test_grading_off_keeps_the_configured_severity(session, ec2, api_calls, run) -> None:
    net = network(ec2)
    private = run_in(ec2, net, "private", public=False)
    policy = load_policy({**SSH_ONLY, "reachability_grading": False})

    finding = ssh_findings(run([REGION], policy))[private]

    assert (finding["severity"], finding["severity_reason"]) == ("high", None)
    assert api_calls["ec2:DescribeRouteTables"] == 0


def test_unreadable_route_tables_keep_the_severity_and_say_why(session, ec2, monkeypatch, run) -> None:
    net = network(ec2)
    routed = run_in(ec2, net, "public", public=True)
    from botocore.exceptions import ClientError

    def denied(*args: Any, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeRouteTables")

    import ec2c.scanner.collection.collector as collector

    monkeypatch.setitem(collector.FETCHERS, sources.ROUTE_TABLES, denied)
    report = run([REGION], load_policy(SSH_ONLY))

    finding = ssh_findings(report)[routed]
    assert finding["severity"] == "high"
    assert finding["severity_reason"] == "reachability unknown: route tables could not be read (see errors)"
    assert [e["operation"] for e in report.index["errors"] if e["code"] == "UnauthorizedOperation"] == [
        "ec2:DescribeRouteTables"
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"ipv6_addresses": ("2600::1",), "internet_route": InternetRoute("rtb-1", None, "igw-6")},
            ("critical", "public address 2600::1 and an IPv6 default route to igw-6 in rtb-1"),
        ),
        (
            {"ipv6_addresses": ("2600::1",), "internet_route": InternetRoute("rtb-1", "igw-4", None)},
            ("high", "public address 2600::1 but rtb-1 has no default route to an internet gateway"),
        ),
        ({"public_ip": "54.0.0.1", "internet_route": None}, None),
    ],
)
def test_grade_reads_the_address_family_that_has_a_route(fields, expected) -> None:
    assert grade(record(**fields)) == expected


def test_route_tables_skip_blackholes_and_non_gateway_targets() -> None:
    from ec2c.scanner.collection.normalize import route_tables_from_api

    tables = [
        {
            "RouteTableId": "rtb-a",
            "VpcId": "vpc-1",
            "Associations": [{"SubnetId": "subnet-a"}],
            "Routes": [
                {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "blackhole"},
                {"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-1", "State": "active"},
            ],
        },
        {
            "RouteTableId": "rtb-m",
            "VpcId": "vpc-1",
            "Associations": [{"Main": True}, {"GatewayId": "vgw-1"}],
            "Routes": [{"DestinationIpv6CidrBlock": "::/0", "GatewayId": "igw-1", "State": "active"}],
        },
    ]
    by_subnet, main = route_tables_from_api(tables)
    assert by_subnet == {"subnet-a": InternetRoute("rtb-a", None, None)}
    assert main == {"vpc-1": InternetRoute("rtb-m", None, "igw-1")}


def test_unknown_reason_names_what_is_missing() -> None:
    from ec2c.scanner.assessment.reachability import unknown_reason

    assert unknown_reason(record(public_ip="54.0.0.1")) == (
        "reachability unknown: no route table found for the instance's subnet"
    )
