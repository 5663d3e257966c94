"""Seeding the demo fleet into moto: the specs of `specs` become instances, AMIs, security groups,
launch templates and account settings, through the real EC2 and IAM APIs.

Where moto has no API for a state we need, we set it on moto's own in-memory model (never a fake
of boto3; the scanner still reads everything through the real EC2 API):
- launch time (moto stamps "now"): the old instance's `launch_time` and its primary interface's
  attach time (which AWS keeps at the first launch, and `instance_age` reads);
- "stopped long ago" (moto writes "User initiated (<now>)"): the stopped instance's transition
  reason, in the same format with an older date;
- AMI deprecation (moto implements no `EnableImageDeprecation`): the image's `deprecation_time`,
  which moto's DescribeImages then returns as `DeprecationTime`.
If a future moto changes those internals the seeding skips that one tweak and records it in
`DemoFleet.notes` instead of failing. The reads moto does not implement at all are answered by
`hooks`.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from ec2c.scanner.registry import ACCOUNT, LAUNCH_TEMPLATE, SECURITY_GROUP

from . import hooks
from .specs import (
    DEMO_ACCOUNT_ID,
    DEMO_REGIONS,
    DEPRECATED_DAYS_AGO,
    OLD_LAUNCH_DAYS,
    OPEN_GROUPS,
    STOPPED_DAYS,
    Deviation,
    InstanceSpec,
    SsmAgent,
    layout_for,
)

_PRIVATE_CIDR = "172.31.192.0/20"
_MOTO_LAYOUT_ERRORS = (ImportError, LookupError, AttributeError, TypeError)
"""What reaching into moto's in-memory model raises when a moto version has moved it."""

ACCOUNT_RULES = frozenset(
    {
        "ebs_default_encryption",
        "imds_defaults_v2",
        "snapshot_block_public_access",
        "image_block_public_access",
        "serial_console_access_disabled",
    }
)
"""What a new account's region fails and the hardened one passes."""

TEMPLATE_RULES = frozenset(
    {
        "launch_template_imdsv2",
        "launch_template_no_public_ip",
        "launch_template_user_data_secrets",
        "launch_template_ebs_encrypted",
    }
)
"""What the legacy launch template's default version fails."""

# User data with an (obviously fake) secret, for the user_data_secrets rule; never a real key.
_SECRET_USER_DATA = (
    "#!/bin/bash\n"
    "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
    "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    "export DB_PASSWORD=hunter2\n"
    "/opt/ci/runner start\n"
)
_BENIGN_USER_DATA = "#!/bin/bash\nsystemctl enable --now app.service\n"


@dataclass(frozen=True)
class SeededInstance:
    """One seeded instance and the rule ids a scan is expected to fail it on."""

    instance_id: str
    region: str
    name: str
    expected: frozenset[str] = frozenset()  # rules expected to FAIL (suppressed or not)
    suppressed: frozenset[str] = frozenset()  # of those, the ones the demo policy suppresses
    state: str = "running"
    ssm: SsmAgent = SsmAgent.ONLINE

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
        return set[str]().union(*(i.expected for i in self.instances), *(r.expected for r in self.resources))

    @property
    def ssm_agents(self) -> dict[str, dict[str, SsmAgent]]:
        """region -> instance id -> agent, for the running instances whose agent is registered:
        what Systems Manager lists (it reports running nodes only)."""
        agents: dict[str, dict[str, SsmAgent]] = {region: {} for region in self.regions}
        for inst in self.instances:
            if inst.state == "running" and inst.ssm.registered:
                agents[inst.region][inst.instance_id] = inst.ssm
        return agents

    def by_name(self, name: str) -> SeededInstance:
        for inst in self.instances:
            if inst.name == name:
                return inst
        raise KeyError(name)


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
    sg: dict[Deviation, str]
    profile_arn: str
    key_name: str


def seed_demo_fleet(session: boto3.session.Session, regions: Sequence[str] = DEMO_REGIONS) -> DemoFleet:
    """Seed the demo fleet into moto (call inside an active `mock_aws()`) and answer, for clients
    of `session`, the reads moto lacks.

    Regions beyond the three designed ones get a designed region's layout in turn, so any region
    list works; the designed regions keep their own mix.
    """
    regions = tuple(regions)
    fleet = DemoFleet(regions=regions)
    profile_arn = _profile(session)
    for index, region in enumerate(regions):
        kit = _region_kit(session, region, profile_arn, fleet.notes)
        fleet.approved_amis[region] = [a for a in (kit.golden_ami, kit.pv_ami, kit.deprecated_ami) if a]
        for spec in layout_for(region, index):
            seeded = _launch(kit, spec, fleet.notes)
            if seeded is not None:
                fleet.instances.append(seeded)
        fleet.resources += _account_settings(session, region, hardened=index == len(regions) - 1 and index > 0)
        if region == DEMO_REGIONS[0]:
            fleet.resources += _launch_templates(kit)
    hooks.answer_unemulated_reads(
        session, hardened_region=regions[-1] if len(regions) > 1 else None, ssm_agents=fleet.ssm_agents
    )
    return fleet


# --------------------------------------------------------------------------------------------
# Per-region scaffolding: network, images, security groups, the shared instance profile
# --------------------------------------------------------------------------------------------


def _amazon_image(ec2: Any, *filters: tuple[str, str]) -> str | None:
    images = ec2.describe_images(
        Owners=["amazon"],
        Filters=[{"Name": k, "Values": [v]} for k, v in filters],
    )["Images"]
    images.sort(key=lambda i: (i.get("CreationDate") or "", i["ImageId"]))
    return images[-1]["ImageId"] if images else None


def _image_from(ec2: Any, region: str, source_ami: str, name: str) -> str:
    """A self-owned copy of a public AMI (what a golden-image pipeline publishes)."""
    image_id: str = ec2.copy_image(
        SourceImageId=source_ami, SourceRegion=region, Name=name, Description=f"{name} (demo golden image)"
    )["ImageId"]
    return image_id


def _ec2_backend(region: str) -> Any:
    """moto's in-memory EC2 model of the demo account in `region`, for the tweaks it has no API
    for. Callers catch any failure here: a moto with another layout skips the tweak."""
    from moto.ec2.models import ec2_backends

    return ec2_backends[DEMO_ACCOUNT_ID][region]


def _profile(session: boto3.session.Session) -> str:
    """The instance profile every compliant instance carries; its role is what lets the SSM
    agent register (the instances without it are the ones SSM does not know)."""
    iam = session.client("iam")
    name = "demo-app-instance-profile"
    try:
        arn: str = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
        return arn
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


def _security_groups(ec2: Any, vpc_id: str) -> tuple[str, dict[Deviation, str]]:
    """The internal group every instance has, and one internet-facing group per open-port deviation."""

    def group(name: str, description: str, permissions: list[dict[str, Any]]) -> str:
        gid: str = ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc_id)["GroupId"]
        if permissions:
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=permissions)
        return gid

    internal = group(
        "app-internal",
        "HTTPS from the corporate network only",
        [
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        ],
    )
    groups = {
        Deviation.SSH_OPEN: group(
            "ssh-anywhere",
            "SSH from anywhere",
            [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                    "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                },
            ],
        ),
        Deviation.RDP_OPEN_V6: group(
            "rdp-anywhere-v6",
            "RDP from any IPv6 address",
            [
                {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
            ],
        ),
        Deviation.DB_PORTS_OPEN: group(
            "db-public",
            "Databases reachable from the internet",
            [
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
                for port in (3306, 5432, 6379, 27017)
            ],
        ),
        Deviation.ALL_OPEN: group(
            "wide-open",
            "Everything from everywhere (debugging, never removed)",
            [
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
            ],
        ),
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
    try:
        when = datetime.now(UTC) - timedelta(days=DEPRECATED_DAYS_AGO)
        _ec2_backend(region).amis[old_golden].deprecation_time = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except _MOTO_LAYOUT_ERRORS:  # pragma: no cover - only if moto's layout changes
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
        region=region,
        ec2=ec2,
        golden_ami=golden,
        vendor_ami=base,
        pv_ami=pv,
        deprecated_ami=deprecated,
        private_subnet=private_subnet,
        public_subnet=public_subnet,
        sg_internal=internal,
        sg=groups,
        profile_arn=profile_arn,
        key_name=key_name,
    )


# --------------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------------


def _image_for(kit: _RegionKit, spec: InstanceSpec) -> str | None:
    """The spec's AMI: the golden image unless a deviation asks for another (None: not in this moto)."""
    if spec.has(Deviation.UNAPPROVED_AMI):
        return kit.vendor_ami
    if spec.has(Deviation.PARAVIRTUAL):
        return kit.pv_ami
    if spec.has(Deviation.DEPRECATED_AMI):
        return kit.deprecated_ami
    return kit.golden_ami


def _run_parameters(kit: _RegionKit, spec: InstanceSpec, image: str) -> dict[str, Any]:
    """RunInstances for the baseline, with the spec's deviations applied."""
    groups = [kit.sg_internal] + [kit.sg[d] for d in OPEN_GROUPS if spec.has(d)]
    block_devices = [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "Encrypted": True}}]
    if spec.has(Deviation.UNENCRYPTED_EBS):
        block_devices.append(
            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 500, "VolumeType": "st1", "Encrypted": False}}
        )
    params: dict[str, Any] = {
        "ImageId": image,
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": spec.instance_type,
        "EbsOptimized": not spec.has(Deviation.NOT_EBS_OPTIMIZED),
        "Monitoring": {"Enabled": not spec.has(Deviation.NO_MONITORING)},
        "MetadataOptions": {
            "HttpTokens": "optional" if spec.has(Deviation.IMDSV1) else "required",
            "HttpPutResponseHopLimit": 3 if spec.has(Deviation.HOP_LIMIT) else 1,
            "HttpEndpoint": "enabled",
        },
        "BlockDeviceMappings": block_devices,
        "UserData": _SECRET_USER_DATA if spec.has(Deviation.USER_DATA_SECRET) else _BENIGN_USER_DATA,
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in spec.tags.items()]},
        ],
    }
    if not spec.has(Deviation.NO_PROFILE):
        params["IamInstanceProfile"] = {"Arn": kit.profile_arn}
    if spec.has(Deviation.KEY_PAIR):
        params["KeyName"] = kit.key_name
    if spec.has(Deviation.PUBLIC_IP):
        params["NetworkInterfaces"] = [
            {"DeviceIndex": 0, "SubnetId": kit.public_subnet, "AssociatePublicIpAddress": True, "Groups": groups}
        ]
    else:
        params["SubnetId"] = kit.private_subnet
        params["SecurityGroupIds"] = groups
    return params


def _launch(kit: _RegionKit, spec: InstanceSpec, notes: list[str]) -> SeededInstance | None:
    """Launch one spec; None when this moto lacks the image it needs."""
    image = _image_for(kit, spec)
    if image is None:  # pragma: no cover - moto ships every image kind in the demo regions
        return None
    ec2 = kit.ec2
    expect = set(spec.expect)
    iid: str = ec2.run_instances(**_run_parameters(kit, spec, image))["Instances"][0]["InstanceId"]
    if not spec.has(Deviation.NO_TERMINATION_PROTECTION):
        # moto ignores DisableApiTermination on RunInstances; the attribute call sets it.
        ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
    if spec.has(Deviation.MULTI_ENI):
        for index in (1, 2):
            eni = ec2.create_network_interface(
                SubnetId=kit.private_subnet, Groups=[kit.sg_internal], Description=f"{spec.name} leg {index}"
            )
            ec2.attach_network_interface(
                NetworkInterfaceId=eni["NetworkInterface"]["NetworkInterfaceId"], InstanceId=iid, DeviceIndex=index
            )

    state = "running"
    if spec.has(Deviation.OLD_LAUNCH):
        try:
            launched = datetime.now(UTC) - timedelta(days=OLD_LAUNCH_DAYS)
            instance = _ec2_backend(kit.region).get_instance(iid)
            instance.launch_time = launched
            instance.nics[0].attach_time = launched  # AWS keeps the first launch here
        except _MOTO_LAYOUT_ERRORS:  # pragma: no cover - only if moto's layout changes
            notes.append(f"{spec.name}: could not back-date the launch time in this moto version")
            expect.discard("instance_age")
    if spec.has(Deviation.STOPPED_LONG):
        ec2.stop_instances(InstanceIds=[iid])
        state = "stopped"
        stopped_at = datetime.now(UTC) - timedelta(days=STOPPED_DAYS)
        try:
            _ec2_backend(kit.region).get_instance(iid)._reason = f"User initiated ({stopped_at:%Y-%m-%d %H:%M:%S} GMT)"
        except _MOTO_LAYOUT_ERRORS:  # pragma: no cover - only if moto's layout changes
            notes.append(f"{spec.name}: could not back-date the stop in this moto version")
            expect.discard("stopped_too_long")

    return SeededInstance(
        instance_id=iid,
        region=kit.region,
        name=spec.name,
        expected=frozenset(expect),
        suppressed=spec.suppressed,
        state=state,
        ssm=spec.ssm,
    )


# --------------------------------------------------------------------------------------------
# Account guardrails, default security groups and launch templates
# --------------------------------------------------------------------------------------------


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
        SeededResource(ACCOUNT, DEMO_ACCOUNT_ID, region, f"account settings {region}", fails(ACCOUNT_RULES)),
        *(
            SeededResource(
                SECURITY_GROUP,
                group["GroupId"],
                region,
                f"default group of {group['VpcId']}",
                fails(frozenset({"default_security_group_closed"})),
            )
            for group in defaults
        ),
    ]


def _launch_templates(kit: _RegionKit) -> list[SeededResource]:
    """A golden template that passes, and a legacy one breaking every template rule in its
    default version while its latest version fixes only IMDSv2."""
    encoded = base64.b64encode(_SECRET_USER_DATA.encode()).decode()
    golden = kit.ec2.create_launch_template(
        LaunchTemplateName="web-golden",
        LaunchTemplateData={
            "ImageId": kit.golden_ami,
            "InstanceType": "t3.micro",
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
            "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": False}],
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": True}}],
        },
    )["LaunchTemplate"]["LaunchTemplateId"]
    legacy_data = {
        "ImageId": kit.vendor_ami,
        "InstanceType": "t3.micro",
        "UserData": encoded,
        "MetadataOptions": {"HttpTokens": "optional"},
        "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": True}],
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
    }
    legacy = kit.ec2.create_launch_template(LaunchTemplateName="legacy-web", LaunchTemplateData=legacy_data)
    legacy_id = legacy["LaunchTemplate"]["LaunchTemplateId"]
    kit.ec2.create_launch_template_version(
        LaunchTemplateId=legacy_id, LaunchTemplateData={**legacy_data, "MetadataOptions": {"HttpTokens": "required"}}
    )
    return [
        SeededResource(LAUNCH_TEMPLATE, golden, kit.region, "web-golden"),
        SeededResource(LAUNCH_TEMPLATE, legacy_id, kit.region, "legacy-web", TEMPLATE_RULES),
    ]
