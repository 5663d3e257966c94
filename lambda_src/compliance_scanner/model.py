"""Normalized records the rules read and the results they return.

The collector turns AWS API responses into these immutable records once, so every rule is a pure
function over plain Python values: rules never see boto3 shapes, and tests can build a record
directly to exercise one rule in isolation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from .documents import ErrorDocument
from .registry import ACCOUNT, INSTANCE, LAUNCH_TEMPLATE, SECURITY_GROUP

PASS = "PASS"
FAIL = "FAIL"
SKIPPED = "SKIPPED"
"""A rule that could not be evaluated (its data was not collected): neither a pass nor a failure,
so a failed API call can never show up as a false PASS or a false FAIL."""


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule on one instance.

    `applicable` is False for a SKIPPED that is a verdict ("does not apply to a stopped
    instance"); a SKIPPED for missing data leaves the instance unevaluated instead.
    """

    status: str
    message: str
    applicable: bool = True


def passed(message: str) -> RuleResult:
    """A PASS result; a helper so rule bodies read as a list of verdicts."""
    return RuleResult(PASS, message)


def failed(message: str) -> RuleResult:
    """A FAIL result."""
    return RuleResult(FAIL, message)


def skipped(message: str) -> RuleResult:
    """A result for a rule whose input is missing; the message says what was missing."""
    return RuleResult(SKIPPED, message)


def not_applicable(message: str) -> RuleResult:
    """A SKIPPED because the rule does not apply to this instance (its state, say)."""
    return RuleResult(SKIPPED, message, applicable=False)


@dataclass(frozen=True)
class IngressPermission:
    """One inbound security-group permission, with IPv4 and IPv6 ranges merged.

    Ports are None when the protocol has no ports (protocol "-1" means every protocol and port).
    """

    protocol: str
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...]
    prefix_lists: tuple[str, ...] = ()
    """Managed prefix list ids; their CIDRs are resolved into `cidrs` when they could be read."""


@dataclass(frozen=True)
class SecurityGroupInfo:
    group_id: str
    name: str
    ingress: tuple[IngressPermission, ...]
    unresolved_prefix_lists: tuple[str, ...] = ()


@dataclass(frozen=True)
class VolumeInfo:
    volume_id: str
    encrypted: bool


@dataclass(frozen=True)
class ImageInfo:
    image_id: str
    owner_id: str
    owner_alias: str | None
    name: str | None
    deprecation_time: datetime | None
    state: str = "available"
    """`available`, `disabled` or `deregistered` (recently deregistered images still show)."""


@dataclass(frozen=True)
class SsmStatus:
    """How Systems Manager sees a node: `Online`, `ConnectionLost` or `Inactive`, and when it last pinged."""

    ping_status: str
    last_ping: datetime | None


@dataclass(frozen=True)
class MetadataOptions:
    http_tokens: str | None
    http_endpoint: str | None
    hop_limit: int | None


@dataclass(frozen=True)
class InternetRoute:
    """The default routes of the route table an instance's subnet uses (its own, or the VPC's
    main table): the internet gateway behind 0.0.0.0/0 and ::/0, None when there is no such
    active route (a NAT gateway or an egress-only gateway only carries outbound traffic)."""

    route_table_id: str
    ipv4_gateway: str | None = None
    ipv6_gateway: str | None = None


@dataclass(frozen=True)
class InstanceRecord:
    """Everything the rules may look at for one instance, gathered in batched calls.

    `image` is None both when the AMI is no longer visible and when images were not collected;
    `unavailable` tells the two apart: it names the data sources (see `sources`) that could not
    be collected for this instance, and rules depending on them are skipped, not evaluated.
    """

    instance_id: str
    region: str
    account_id: str | None
    state: str
    instance_type: str
    observed_at: datetime
    launch_time: datetime | None = None
    first_launch_time: datetime | None = None
    """The primary interface's AttachTime: when the instance was first launched (unlike
    LaunchTime, which every stop/start resets). None when not reported."""
    tags: Mapping[str, str] = field(default_factory=dict)
    public_ip: str | None = None
    ipv6_addresses: tuple[str, ...] = ()
    iam_instance_profile: str | None = None
    metadata_options: MetadataOptions | None = None
    monitoring: str | None = None
    eni_count: int = 0
    virtualization_type: str | None = None
    ebs_optimized: bool = False
    key_name: str | None = None
    image_id: str | None = None
    security_groups: tuple[SecurityGroupInfo, ...] = ()
    volumes: tuple[VolumeInfo, ...] = ()
    image: ImageInfo | None = None
    ssm_managed: bool | None = None
    ssm_status: SsmStatus | None = None
    stopped_since: datetime | None = None
    termination_protection: bool | None = None
    user_data: str | None = None
    user_data_error: str | None = None
    subnet_id: str | None = None
    internet_route: InternetRoute | None = None
    """None when the subnet's route table is unknown (no subnet, or route tables not read)."""
    unavailable: frozenset[str] = frozenset()

    resource_type = INSTANCE

    @property
    def resource_id(self) -> str:
        return self.instance_id


@dataclass(frozen=True)
class TemplateVersion:
    """One launch template version as the rules see it; `roles` says whether it is the default,
    the latest, or both."""

    number: int
    roles: tuple[str, ...]
    metadata_options: MetadataOptions | None = None
    public_ip: bool = False
    """A network interface asks for a public IPv4 address (AssociatePublicIpAddress)."""
    user_data: str | None = None
    user_data_error: str | None = None
    unencrypted_devices: tuple[str, ...] = ()
    """Device names of EBS mappings that do not set Encrypted (they follow the account default
    or the snapshot's state)."""

    @property
    def label(self) -> str:
        return f"version {self.number} ({', '.join(self.roles)})"


@dataclass(frozen=True)
class LaunchTemplateRecord:
    """A launch template with its default and latest versions: what the next instance gets."""

    template_id: str
    name: str
    region: str
    account_id: str | None
    observed_at: datetime
    versions: tuple[TemplateVersion, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    unavailable: frozenset[str] = frozenset()

    resource_type = LAUNCH_TEMPLATE

    @property
    def resource_id(self) -> str:
        return self.template_id


@dataclass(frozen=True)
class SecurityGroupRecord:
    """A VPC's default security group: anything launched without a group lands in it.

    `ingress` and `egress` count its permissions (an IP range, prefix list or group each counts
    as granted traffic, as Security Hub's EC2.2 counts any rule).
    """

    group_id: str
    vpc_id: str
    region: str
    account_id: str | None
    observed_at: datetime
    ingress: int = 0
    egress: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    unavailable: frozenset[str] = frozenset()

    resource_type = SECURITY_GROUP

    @property
    def resource_id(self) -> str:
        return self.group_id


@dataclass(frozen=True)
class AccountRecord:
    """An account's region-wide guardrails: what every new instance, volume, snapshot and image
    of the region inherits. None means the setting was not read (see `unavailable`)."""

    account_id: str | None
    region: str
    observed_at: datetime
    ebs_encryption_by_default: bool | None = None
    imds_http_tokens: str | None = None
    """The account's IMDS default for new instances: `required`, `optional` or `no-preference`."""
    snapshot_block_public_access: str | None = None
    image_block_public_access: str | None = None
    serial_console_access: bool | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    unavailable: frozenset[str] = frozenset()

    resource_type = ACCOUNT

    @property
    def resource_id(self) -> str:
        """The account id: the finding's region says which of its regions."""
        return self.account_id or "unknown"


Record = InstanceRecord | LaunchTemplateRecord | SecurityGroupRecord | AccountRecord
"""Anything a rule evaluates; each has resource_type, resource_id, region, account_id, tags and
unavailable, so evaluation, suppression and the report treat the four alike."""


@dataclass(frozen=True)
class ScanError:
    """A failed API call: the scan goes on and the report lists what could not be read."""

    region: str
    operation: str
    code: str
    message: str

    def to_document(self) -> ErrorDocument:
        return {
            "region": self.region,
            "operation": self.operation,
            "code": self.code,
            "message": self.message,
        }
