"""An embedded demo: a realistic, mixed EC2 fleet seeded into moto, so `ec2c scan --demo` runs the
analyzer's main job on any machine with no AWS account and no network.

`demo_session()` starts `moto.mock_aws`, isolates the process from the caller's AWS settings for
its duration (dummy keys, no profile, no custom endpoint; everything restored on exit), seeds the
fleet and yields the session and a `DemoFleet` describing what was seeded. `seed_demo_fleet()`
can also be called on its own inside an active `mock_aws()` (the tests do).

Every rule of the scanner has at least one instance that breaks it, most of them breaking only
that one rule (on top of an otherwise compliant baseline), so a scan's findings can be checked
instance by instance against `DemoFleet.instances[*].expected`.

Where moto has no API for a state we need, we set it on moto's own in-memory model (never a fake
of boto3; the scanner still reads everything through the real EC2 API):
- launch time (moto stamps "now"): the old instance's `launch_time` and its primary interface's
  attach time (which AWS keeps at the first launch, and `instance_age` reads);
- "stopped long ago" (moto writes "User initiated (<now>)"): the stopped instance's transition
  reason, in the same format with an older date;
- AMI deprecation (moto implements no `EnableImageDeprecation`): the image's `deprecation_time`,
  which moto's DescribeImages then returns as `DeprecationTime`.
If a future moto changes those internals the seeding skips that one tweak and records it in
`DemoFleet.notes` instead of failing.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator, Sequence
from unittest import mock

import boto3

DEMO_REGIONS: tuple[str, ...] = ("us-east-1", "eu-west-1", "ap-southeast-2")
DEMO_ACCOUNT_ID = "123456789012"  # moto's default account

ALLOWED_INSTANCE_TYPES = ("t3.micro", "t3.small", "t3.medium", "m5.large", "m5.xlarge", "c5.large", "r5.large")
REQUIRED_TAGS = ("Name", "Owner", "Environment")
OLD_LAUNCH_DAYS = 540
STOPPED_DAYS = 120
DEPRECATED_DAYS_AGO = 60

BASTION_TAG = ("Role", "bastion")
LEGACY_TAG = ("Application", "legacy-erp")

_PRIVATE_CIDR = "172.31.192.0/20"


@dataclass(frozen=True)
class SeededInstance:
    """One seeded instance and the rule ids a scan is expected to fail it on."""

    instance_id: str
    region: str
    name: str
    expected: frozenset[str] = frozenset()  # rules expected to FAIL (suppressed or not)
    suppressed: frozenset[str] = frozenset()  # of those, the ones the demo policy suppresses
    state: str = "running"

    @property
    def compliant(self) -> bool:
        return not self.expected


@dataclass(frozen=True)
class SeededResource:
    """A launch template, a default security group or an account's region settings, and the
    rules it should fail."""

    resource_type: str
    resource_id: str
    region: str
    name: str
    expected: frozenset[str] = frozenset()


@dataclass
class DemoFleet:
    """What `seed_demo_fleet` created, for the summary line and the tests."""

    regions: tuple[str, ...]
    instances: list[SeededInstance] = field(default_factory=list)
    resources: list[SeededResource] = field(default_factory=list)
    approved_amis: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def counts_per_region(self) -> dict[str, int]:
        counts = Counter(i.region for i in self.instances)
        return {region: counts.get(region, 0) for region in self.regions}

    @property
    def expected_non_compliant(self) -> dict[str, frozenset[str]]:
        """instance id -> rule ids it should fail."""
        return {i.instance_id: i.expected for i in self.instances if i.expected}

    @property
    def compliant_ids(self) -> set[str]:
        return {i.instance_id for i in self.instances if i.compliant}

    @property
    def accepted_ids(self) -> set[str]:
        """Compliant, or failing only rules the demo policy suppresses (the report counts these compliant)."""
        return {i.instance_id for i in self.instances if not (i.expected - i.suppressed)}

    @property
    def rules_covered(self) -> set[str]:
        return set().union(*(i.expected for i in [*self.instances, *self.resources]))

    def by_name(self, name: str) -> SeededInstance:
        for inst in self.instances:
            if inst.name == name:
                return inst
        raise KeyError(name)


# --------------------------------------------------------------------------------------------
# The fleet, as data: one entry per instance. `kind` keys are the deviations from the compliant
# baseline; `expect` the rules that deviation breaks.
# --------------------------------------------------------------------------------------------

_FLEET: dict[str, list[dict[str, Any]]] = {
    "us-east-1": [
        {"name": "web-prod-1", "owner": "web-team", "env": "prod"},
        {"name": "web-prod-2", "owner": "web-team", "env": "prod", "type": "m5.large"},
        {"name": "worker-prod-1", "owner": "data-team", "env": "prod", "type": "c5.large"},
        {"name": "legacy-erp-1", "owner": "erp-team", "env": "prod", "kind": {"imdsv1"},
         "expect": {"imdsv2_required"}, "extra_tags": {LEGACY_TAG[0]: LEGACY_TAG[1]}},
        {"name": "k8s-node-1", "owner": "platform", "env": "prod", "kind": {"hop_limit"},
         "expect": {"imds_hop_limit"}},
        {"name": "marketing-site", "owner": "marketing", "env": "prod", "kind": {"public_ip", "no_profile"},
         "expect": {"no_public_ip", "instance_profile_attached"}},
        {"name": "public-api-1", "owner": "api-team", "env": "prod", "kind": {"public_ip"},
         "expect": {"no_public_ip", "public_ip_with_instance_profile"}},
        {"name": "dev-box-alice", "owner": "alice", "env": "dev", "kind": {"ssh_open", "key_pair"},
         "expect": {"authorized_ports_only", "ssh_open_to_internet", "no_key_pair"}},
        {"name": "debug-anything", "owner": "bob", "env": "dev", "kind": {"all_open"},
         "expect": {"authorized_ports_only", "all_ports_open", "ssh_open_to_internet", "rdp_open_to_internet", "high_risk_ports_open"}},
        {"name": "ml-training-1", "owner": "ml-team", "env": "staging", "kind": {"bad_type"},
         "expect": {"allowed_instance_type"}, "type": "p3.8xlarge"},
        {"name": "batch-2019", "owner": "data-team", "env": "prod", "kind": {"old_launch"},
         "expect": {"instance_age"}},
        {"name": "reporting-old", "owner": "finance", "env": "prod", "kind": {"stopped_long"},
         "expect": {"stopped_too_long"}},
        {"name": "ci-runner-1", "owner": "platform", "env": "dev", "kind": {"user_data_secret"},
         "expect": {"user_data_secrets"}},
        {"name": "bastion-us", "owner": "security", "env": "prod", "kind": {"public_ip", "ssh_open", "bastion"},
         "expect": {"authorized_ports_only", "no_public_ip", "public_ip_with_instance_profile", "ssh_open_to_internet"},
         "suppressed": {"authorized_ports_only", "no_public_ip", "public_ip_with_instance_profile", "ssh_open_to_internet"},
         "extra_tags": {BASTION_TAG[0]: BASTION_TAG[1]}},
    ],
    "eu-west-1": [
        {"name": "shop-eu-1", "owner": "web-team", "env": "prod"},
        {"name": "shop-eu-2", "owner": "web-team", "env": "prod", "type": "m5.xlarge"},
        {"name": "win-jump-eu", "owner": "it-ops", "env": "prod", "kind": {"rdp_open_v6"},
         "expect": {"authorized_ports_only", "rdp_open_to_internet"}},
        {"name": "db-eu-1", "owner": "data-team", "env": "prod", "kind": {"db_ports_open"},
         "expect": {"authorized_ports_only", "high_risk_ports_open"}, "type": "r5.large"},
        {"name": "files-eu", "owner": "it-ops", "env": "prod", "kind": {"unencrypted_ebs"},
         "expect": {"ebs_volumes_encrypted"}},
        {"name": "untagged-eu", "kind": {"missing_tags"}, "expect": {"required_tags"}},
        {"name": "cache-eu-1", "owner": "web-team", "env": "staging", "kind": {"no_monitoring"},
         "expect": {"detailed_monitoring_enabled"}},
        {"name": "nat-appliance-eu", "owner": "network", "env": "prod", "kind": {"multi_eni"},
         "expect": {"single_eni"}},
        {"name": "queue-eu-1", "owner": "api-team", "env": "staging", "kind": {"not_ebs_optimized"},
         "expect": {"ebs_optimized"}},
    ],
    "ap-southeast-2": [
        {"name": "api-syd-1", "owner": "api-team", "env": "prod"},
        {"name": "api-syd-2", "owner": "api-team", "env": "prod", "type": "t3.small"},
        {"name": "vendor-appliance", "owner": "it-ops", "env": "prod", "kind": {"unapproved_ami"},
         "expect": {"approved_ami"}},
        {"name": "cron-syd", "owner": "platform", "env": "prod", "kind": {"no_profile"},
         "expect": {"instance_profile_attached"}},
        {"name": "legacy-pv-syd", "owner": "erp-team", "env": "prod", "kind": {"paravirtual"},
         "expect": {"no_paravirtual", "allowed_instance_type"}, "type": "m1.small"},
        {"name": "app-syd-old-ami", "owner": "api-team", "env": "prod", "kind": {"deprecated_ami"},
         "expect": {"ami_deprecated"}},
        {"name": "scratch-syd", "owner": "carol", "env": "dev", "kind": {"no_termination_protection"},
         "expect": {"termination_protection"}},
    ],
}

# User data with an (obviously fake) secret, for the user_data_secrets rule; never a real key.
_SECRET_USER_DATA = (
    "#!/bin/bash\n"
    "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
    "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    "export DB_PASSWORD=hunter2\n"
    "/opt/ci/runner start\n"
)
_BENIGN_USER_DATA = "#!/bin/bash\nsystemctl enable --now app.service\n"


@dataclass
class _RegionKit:
    """Per-region scaffolding shared by the instances of that region."""

    region: str
    ec2: Any
    golden_ami: str
    vendor_ami: str
    pv_ami: str | None
    deprecated_ami: str | None
    private_subnet: str
    public_subnet: str
    sg_internal: str
    sg: dict[str, str]
    profile_arn: str
    key_name: str


def _amazon_image(ec2: Any, *filters: tuple[str, str]) -> str | None:
    images = ec2.describe_images(
        Owners=["amazon"],
        Filters=[{"Name": k, "Values": [v]} for k, v in filters],
    )["Images"]
    images.sort(key=lambda i: (i.get("CreationDate") or "", i["ImageId"]))
    return images[-1]["ImageId"] if images else None


def _image_from(ec2: Any, region: str, source_ami: str, name: str) -> str:
    """A self-owned copy of a public AMI (what a golden-image pipeline publishes)."""
    return ec2.copy_image(
        SourceImageId=source_ami, SourceRegion=region, Name=name, Description=f"{name} (demo golden image)"
    )["ImageId"]


def _ec2_backend(region: str) -> Any | None:
    try:
        from moto.ec2.models import ec2_backends

        return ec2_backends[DEMO_ACCOUNT_ID][region]
    except Exception:  # pragma: no cover - only if moto's layout changes
        return None


def _profile(session: boto3.session.Session) -> str:
    iam = session.client("iam")
    name = "demo-app-instance-profile"
    try:
        return iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        pass
    iam.create_role(
        RoleName="demo-app-role",
        AssumeRolePolicyDocument=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
        ),
    )
    iam.put_role_policy(
        RoleName="demo-app-role",
        PolicyName="ssm-core",
        PolicyDocument=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":['
            '"ssm:UpdateInstanceInformation","ssmmessages:*","ec2messages:*"],"Resource":"*"}]}'
        ),
    )
    arn = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName="demo-app-role")
    return arn


def _security_groups(ec2: Any, vpc_id: str) -> tuple[str, dict[str, str]]:
    def group(name: str, description: str, permissions: list[dict[str, Any]]) -> str:
        gid = ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc_id)["GroupId"]
        if permissions:
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=permissions)
        return gid

    internal = group("app-internal", "HTTPS from the corporate network only", [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    ])
    groups = {
        "ssh_open": group("ssh-anywhere", "SSH from anywhere", [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ]),
        "rdp_open_v6": group("rdp-anywhere-v6", "RDP from any IPv6 address", [
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ]),
        "db_ports_open": group("db-public", "Databases reachable from the internet", [
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            for port in (3306, 5432, 6379, 27017)
        ]),
        "all_open": group("wide-open", "Everything from everywhere (debugging, never removed)", [
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ]),
    }
    return internal, groups


def _route_like_aws(ec2: Any, vpc_id: str, private_subnet: str) -> None:
    """Routes as AWS sets them up: the default VPC's main table sends 0.0.0.0/0 to its internet
    gateway (moto leaves that out), and the private subnet gets a table of its own without one,
    so reachability grading sees both kinds of subnet."""
    gateways = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])
    igw = next((g["InternetGatewayId"] for g in gateways["InternetGateways"]), None)
    if igw is None:
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"]
    main = tables[0]
    if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in main.get("Routes", [])):
        ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    private = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=private, SubnetId=private_subnet)


def _region_kit(session: boto3.session.Session, region: str, profile_arn: str, notes: list[str]) -> _RegionKit:
    ec2 = session.client("ec2", region_name=region)
    vpc_id = next(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault"))
    public_subnet = next(
        s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] == vpc_id and s.get("DefaultForAz")
    )
    private_subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=_PRIVATE_CIDR)["Subnet"]["SubnetId"]
    ec2.create_tags(Resources=[private_subnet], Tags=[{"Key": "Name", "Value": "private-app"}])
    _route_like_aws(ec2, vpc_id, private_subnet)

    base = _amazon_image(ec2, ("name", "al2023-ami-2023*-x86_64"), ("virtualization-type", "hvm")) or _amazon_image(
        ec2, ("virtualization-type", "hvm"), ("architecture", "x86_64")
    )
    assert base, f"moto has no HVM AMI in {region}"
    golden = _image_from(ec2, region, base, "golden-al2023-2025.10")
    old_golden = _image_from(ec2, region, base, "golden-al2023-2023.01")
    deprecated: str | None = old_golden
    backend = _ec2_backend(region)
    try:
        when = datetime.now(timezone.utc) - timedelta(days=DEPRECATED_DAYS_AGO)
        backend.amis[old_golden].deprecation_time = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except Exception:  # pragma: no cover - only if moto's layout changes
        deprecated = None
        notes.append(f"{region}: could not mark an AMI deprecated in this moto version")

    pv_source = _amazon_image(ec2, ("virtualization-type", "paravirtual"))
    pv = _image_from(ec2, region, pv_source, "legacy-erp-pv-2016") if pv_source else None
    if pv is None:  # pragma: no cover - moto ships PV images in every demo region
        notes.append(f"{region}: moto has no paravirtual AMI")

    internal, groups = _security_groups(ec2, vpc_id)
    key_name = "ops-shared-key"
    ec2.create_key_pair(KeyName=key_name)
    return _RegionKit(
        region=region, ec2=ec2, golden_ami=golden, vendor_ami=base, pv_ami=pv, deprecated_ami=deprecated,
        private_subnet=private_subnet, public_subnet=public_subnet, sg_internal=internal, sg=groups,
        profile_arn=profile_arn, key_name=key_name,
    )


def _launch(kit: _RegionKit, spec: dict[str, Any], notes: list[str]) -> SeededInstance | None:
    kind: set[str] = set(spec.get("kind", ()))
    expect: set[str] = set(spec.get("expect", ()))
    ec2 = kit.ec2

    image = kit.golden_ami
    if "unapproved_ami" in kind:
        image = kit.vendor_ami
    elif "paravirtual" in kind:
        if kit.pv_ami is None:  # pragma: no cover
            return None
        image = kit.pv_ami
    elif "deprecated_ami" in kind:
        if kit.deprecated_ami is None:  # pragma: no cover
            return None
        image = kit.deprecated_ami

    tags = {"Name": spec["name"]}
    if "missing_tags" not in kind:
        tags.update({"Owner": spec.get("owner", "unknown"), "Environment": spec.get("env", "prod"),
                     "CostCenter": "cc-1234"})
    tags.update(spec.get("extra_tags", {}))

    groups = [kit.sg_internal] + [kit.sg[k] for k in kit.sg if k in kind]
    params: dict[str, Any] = {
        "ImageId": image,
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": spec.get("type", "t3.medium"),
        "EbsOptimized": "not_ebs_optimized" not in kind,
        "Monitoring": {"Enabled": "no_monitoring" not in kind},
        "MetadataOptions": {
            "HttpTokens": "optional" if "imdsv1" in kind else "required",
            "HttpPutResponseHopLimit": 3 if "hop_limit" in kind else 1,
            "HttpEndpoint": "enabled",
        },
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "Encrypted": True}},
        ],
        "UserData": _SECRET_USER_DATA if "user_data_secret" in kind else _BENIGN_USER_DATA,
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]},
        ],
    }
    if "unencrypted_ebs" in kind:
        params["BlockDeviceMappings"].append(
            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 500, "VolumeType": "st1", "Encrypted": False}}
        )
    if "no_profile" not in kind:
        params["IamInstanceProfile"] = {"Arn": kit.profile_arn}
    if "key_pair" in kind:
        params["KeyName"] = kit.key_name
    if "public_ip" in kind:
        params["NetworkInterfaces"] = [{
            "DeviceIndex": 0, "SubnetId": kit.public_subnet, "AssociatePublicIpAddress": True, "Groups": groups,
        }]
    else:
        params["SubnetId"] = kit.private_subnet
        params["SecurityGroupIds"] = groups

    instance = ec2.run_instances(**params)["Instances"][0]
    iid = instance["InstanceId"]
    if "no_termination_protection" not in kind:
        # moto ignores DisableApiTermination on RunInstances; the attribute call sets it.
        ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
    if "multi_eni" in kind:
        for index in (1, 2):
            eni = ec2.create_network_interface(SubnetId=kit.private_subnet, Groups=[kit.sg_internal],
                                               Description=f"{spec['name']} leg {index}")
            ec2.attach_network_interface(NetworkInterfaceId=eni["NetworkInterface"]["NetworkInterfaceId"],
                                         InstanceId=iid, DeviceIndex=index)

    state = "running"
    backend = _ec2_backend(kit.region)
    if "old_launch" in kind:
        try:
            launched = datetime.now(timezone.utc) - timedelta(days=OLD_LAUNCH_DAYS)
            instance = backend.get_instance(iid)
            instance.launch_time = launched
            instance.nics[0].attach_time = launched  # AWS keeps the first launch here
        except Exception:  # pragma: no cover
            notes.append(f"{spec['name']}: could not back-date the launch time in this moto version")
            expect.discard("instance_age")
    if "stopped_long" in kind:
        ec2.stop_instances(InstanceIds=[iid])
        state = "stopped"
        stopped_at = datetime.now(timezone.utc) - timedelta(days=STOPPED_DAYS)
        try:
            backend.get_instance(iid)._reason = f"User initiated ({stopped_at:%Y-%m-%d %H:%M:%S} GMT)"
        except Exception:  # pragma: no cover
            notes.append(f"{spec['name']}: could not back-date the stop in this moto version")
            expect.discard("stopped_too_long")

    return SeededInstance(
        instance_id=iid, region=kit.region, name=spec["name"], expected=frozenset(expect),
        suppressed=frozenset(spec.get("suppressed", ())), state=state,
    )


def seed_demo_fleet(session: boto3.session.Session, regions: Sequence[str] = DEMO_REGIONS) -> DemoFleet:
    """Seed the demo fleet into moto (call inside an active `mock_aws()`).

    Regions beyond the three designed ones get a copy of the first region's fleet layout, so any
    region list works; the designed regions keep their own mix.
    """
    regions = tuple(regions)
    fleet = DemoFleet(regions=regions)
    profile_arn = _profile(session)
    layouts = list(_FLEET.values())
    for index, region in enumerate(regions):
        specs = _FLEET.get(region) or layouts[index % len(layouts)]
        kit = _region_kit(session, region, profile_arn, fleet.notes)
        fleet.approved_amis[region] = [a for a in (kit.golden_ami, kit.pv_ami, kit.deprecated_ami) if a]
        for spec in specs:
            seeded = _launch(kit, spec, fleet.notes)
            if seeded is not None:
                fleet.instances.append(seeded)
        fleet.resources += _account_settings(session, region, hardened=index == len(regions) - 1 and index > 0)
        if region == DEMO_REGIONS[0]:
            fleet.resources += _launch_templates(kit)
    _answer_unemulated_reads(session, regions[-1] if len(regions) > 1 else None)
    return fleet


# --------------------------------------------------------------------------------------------
# Account guardrails, default security groups and launch templates
# --------------------------------------------------------------------------------------------

ACCOUNT_RULES = frozenset({
    "ebs_default_encryption", "imds_defaults_v2", "snapshot_block_public_access", "image_block_public_access",
    "serial_console_access_disabled",
})  # fmt: skip

_UNEMULATED = {
    # operation: (answer of a new account, answer of a hardened one)
    "GetInstanceMetadataDefaults": ({"AccountLevel": {}}, {"AccountLevel": {"HttpTokens": "required"}}),
    "GetSnapshotBlockPublicAccessState": ({"State": "unblocked"}, {"State": "block-all-sharing"}),
    "GetImageBlockPublicAccessState": (
        {"ImageBlockPublicAccessState": "unblocked"}, {"ImageBlockPublicAccessState": "block-new-sharing"}
    ),
    "GetSerialConsoleAccessStatus": ({"SerialConsoleAccessEnabled": True}, {"SerialConsoleAccessEnabled": False}),
}
"""Four account reads moto does not implement, answered the way a new account (with the serial
console switched on) or a hardened one would answer them."""


def _answer_unemulated_reads(session: boto3.session.Session, hardened_region: str | None) -> None:
    """Answer the reads moto lacks through botocore's before-call hook (the mechanism botocore's
    own Stubber uses), for clients made from this session only; every other call goes to moto."""
    from botocore.awsrequest import AWSResponse

    def answer(operation: str) -> Any:
        def hook(context: dict[str, Any] | None = None, **_: Any) -> tuple[Any, dict[str, Any]]:
            fresh, hardened = _UNEMULATED[operation]
            region = (context or {}).get("client_region")
            return AWSResponse("", 200, {}, None), dict(hardened if region == hardened_region else fresh)

        return hook

    for operation in _UNEMULATED:
        session.events.register(f"before-call.ec2.{operation}", answer(operation))


def _account_settings(session: boto3.session.Session, region: str, *, hardened: bool) -> list[SeededResource]:
    """A new account's region fails every guardrail (EBS encryption off) and every VPC's default
    security group allows all outbound traffic, as AWS creates it; the hardened region passes
    them: encryption by default on, default groups emptied."""
    ec2 = session.client("ec2", region_name=region)
    defaults = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    if hardened:
        ec2.enable_ebs_encryption_by_default()
        for group in defaults:
            if group["IpPermissions"]:
                ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
            if group["IpPermissionsEgress"]:
                ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])

    def fails(rules: frozenset[str]) -> frozenset[str]:
        """What the resource should fail: every rule in a new region, none in the hardened one."""
        return frozenset() if hardened else rules

    return [
        SeededResource("account", DEMO_ACCOUNT_ID, region, f"account settings {region}", fails(ACCOUNT_RULES)),
        *(SeededResource("security_group", group["GroupId"], region, f"default group of {group['VpcId']}",
                         fails(frozenset({"default_security_group_closed"}))) for group in defaults),
    ]  # fmt: skip


def _launch_templates(kit: _RegionKit) -> list[SeededResource]:
    """A golden template that passes, and a legacy one breaking every template rule in its
    default version while its latest version fixes only IMDSv2."""
    import base64

    encoded = base64.b64encode(_SECRET_USER_DATA.encode()).decode()
    golden = kit.ec2.create_launch_template(
        LaunchTemplateName="web-golden",
        LaunchTemplateData={
            "ImageId": kit.golden_ami, "InstanceType": "t3.micro",
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
            "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": False}],
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": True}}],
        },
    )["LaunchTemplate"]["LaunchTemplateId"]  # fmt: skip
    legacy_data = {
        "ImageId": kit.vendor_ami, "InstanceType": "t3.micro", "UserData": encoded,
        "MetadataOptions": {"HttpTokens": "optional"},
        "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": True}],
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
    }  # fmt: skip
    legacy = kit.ec2.create_launch_template(LaunchTemplateName="legacy-web", LaunchTemplateData=legacy_data)
    legacy_id = legacy["LaunchTemplate"]["LaunchTemplateId"]
    kit.ec2.create_launch_template_version(
        LaunchTemplateId=legacy_id, LaunchTemplateData={**legacy_data, "MetadataOptions": {"HttpTokens": "required"}}
    )
    template_rules = {
        "launch_template_imdsv2", "launch_template_no_public_ip", "launch_template_user_data_secrets",
        "launch_template_ebs_encrypted",
    }  # fmt: skip
    return [
        SeededResource("launch_template", golden, kit.region, "web-golden"),
        SeededResource("launch_template", legacy_id, kit.region, "legacy-web", frozenset(template_rules)),
    ]


# --------------------------------------------------------------------------------------------
# The demo policy
# --------------------------------------------------------------------------------------------

# Rules the demo cannot exercise because moto does not implement the API they read.
UNSUPPORTED_BY_MOTO: dict[str, str] = {
    "ssm_managed": "moto does not implement SSM DescribeInstanceInformation",
}
"""Rules the demo switches off. The account settings reads moto lacks are answered by the demo
itself instead (see `_answer_unemulated_reads`): EMULATED_BY_DEMO."""
EMULATED_BY_DEMO: dict[str, str] = {
    "imds_defaults_v2": "GetInstanceMetadataDefaults",
    "snapshot_block_public_access": "GetSnapshotBlockPublicAccessState",
    "image_block_public_access": "GetImageBlockPublicAccessState",
    "serial_console_access_disabled": "GetSerialConsoleAccessStatus",
}


def demo_policy(today: date | None = None) -> dict[str, Any]:
    """The demo's policy document: stricter AMI ownership, both opt-in rules on, and suppressions
    for the bastion (by tag, with reasons and a future expiry) plus one that has already expired
    (the legacy ERP's IMDSv1 exception), whose finding therefore shows up unsuppressed."""
    today = today or datetime.now(timezone.utc).date()
    rules: dict[str, Any] = {
        "approved_ami": {"params": {"owners": ["self"]}},  # golden images only, not any Amazon AMI
        "required_tags": {"params": {"keys": ["Owner", "Environment"]}},
        "termination_protection": {"enabled": True},
        "user_data_secrets": {"enabled": True},
        "serial_console_access_disabled": {"enabled": True},
    }
    for rule_id in UNSUPPORTED_BY_MOTO:
        rules[rule_id] = {"enabled": False}
    bastion = {"key": BASTION_TAG[0], "value": BASTION_TAG[1]}
    review = (today + timedelta(days=180)).isoformat()
    return {
        "alert_threshold": 90,
        "alert_on_new_findings": True,
        "rules": rules,
        "suppressions": [
            {"rule": "ssh_open_to_internet", "tag": bastion, "expires": review,
             "reason": "Bastion host: SSH is its purpose; MFA + session recording (SEC-142)"},
            {"rule": "authorized_ports_only", "tag": bastion, "expires": review,
             "reason": "Bastion host: port 22 is its authorized service (SEC-142)"},
            {"rule": "no_public_ip", "tag": bastion, "expires": review,
             "reason": "Bastion host needs a public address (SEC-142)"},
            {"rule": "public_ip_with_instance_profile", "tag": bastion, "expires": review,
             "reason": "Bastion role only allows SSM session logging (SEC-142)"},
            {"rule": "imdsv2_required", "tag": {"key": LEGACY_TAG[0], "value": LEGACY_TAG[1]},
             "expires": (today - timedelta(days=30)).isoformat(),
             "reason": "Vendor agent needed IMDSv1 until the ERP upgrade (ERP-88)"},
        ],
    }


# --------------------------------------------------------------------------------------------
# Credentials isolation + the context manager the CLI uses
# --------------------------------------------------------------------------------------------

# Everything that could point boto3 at a real account or endpoint while the demo runs.
_ISOLATED_ENV_KEYS = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CA_BUNDLE",
)


@contextlib.contextmanager
def isolated_aws_env(region: str = DEMO_REGIONS[0]) -> Iterator[None]:
    """Dummy credentials and no profile/endpoint for the duration; the caller's env is restored after."""
    with mock.patch.dict(os.environ):
        for key in list(os.environ):
            if key in _ISOLATED_ENV_KEYS or key.startswith("AWS_ENDPOINT_URL"):
                del os.environ[key]
        os.environ.update({
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        yield


@contextlib.contextmanager
def demo_session(regions: Sequence[str] = DEMO_REGIONS) -> Iterator[tuple[boto3.session.Session, DemoFleet]]:
    """Start moto, seed the fleet, yield (session, fleet); stop moto and restore the env after."""
    from moto import mock_aws

    regions = tuple(regions) or DEMO_REGIONS
    with isolated_aws_env(regions[0]), mock_aws():
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=regions[0]
        )
        fleet = seed_demo_fleet(session, regions)
        yield session, fleet


run_demo = demo_session  # the name the design notes use
