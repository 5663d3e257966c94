"""The resource types the scanner evaluates and the severities its findings carry, each spelled once.

A resource type's identity (its key in reports, its ARN kind), its names in the formats the
findings are exported to (ASFF for Security Hub, OCSF for data lakes) and the words reports use
for it live in one `ResourceType` record, so a new type is one entry here, not an edit in every
writer. Severities are one `Severity` string enum: its members are the strings reports have always
carried (`"high"` serializes as `"high"`), and its order, most severe first, is the one every
sort, gate and tally uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a failure is, most severe first (the declaration order is the ranking)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFORMATIONAL = "informational"

    @property
    def rank(self) -> int:
        """0 for critical ... 4 for informational: sorting by rank puts the worst first."""
        return _SEVERITY_RANKS[self]

    @property
    def label(self) -> str:
        """The short upper-case name tables and the HTML report show (`INFO` for informational)."""
        return "INFO" if self is Severity.INFORMATIONAL else self.value.upper()

    @property
    def ocsf_id(self) -> int:
        """OCSF's `severity_id`: informational 1 ... critical 5."""
        return len(_SEVERITY_RANKS) - self.rank

    def at_least(self, threshold: Severity) -> bool:
        """True when this severity is `threshold` or worse (a CI gate's test)."""
        return self.rank <= threshold.rank

    @classmethod
    def parse(cls, value: object) -> Severity:
        """The severity a policy or a command line names (case-insensitive); a ValueError that lists
        the valid names otherwise."""
        found = cls.lookup(value)
        if found is None:
            raise ValueError(f"unknown severity {value!r}: expected one of {', '.join(cls)}")
        return found

    @classmethod
    def lookup(cls, value: object) -> Severity | None:
        """The severity `value` names (case-insensitive), None for anything else: reports read back
        from elsewhere may carry a severity this version does not know."""
        return _SEVERITY_NAMES.get(value.lower()) if isinstance(value, str) else None

    @classmethod
    def rank_of(cls, value: object) -> int:
        """The rank of a severity found in a document; unknown severities sort after informational."""
        found = cls.lookup(value)
        return found.rank if found is not None else len(_SEVERITY_RANKS)


_SEVERITY_RANKS: dict[Severity, int] = {severity: rank for rank, severity in enumerate(Severity)}
_SEVERITY_NAMES: dict[str, Severity] = {severity.value: severity for severity in Severity}
SEVERITIES: tuple[Severity, ...] = tuple(Severity)
"""Every severity, most severe first."""
SEVERITY_NAMES: tuple[str, ...] = tuple(severity.value for severity in SEVERITIES)
"""The same as plain strings, for the keys of documents (a summary's `by_severity`)."""


@dataclass(frozen=True)
class ResourceType:
    """Everything the scanner and its report writers need to know about one kind of resource."""

    key: str
    """The `resource_type` of a record, a rule and a finding (`"launch_template"`)."""
    arn_kind: str | None
    """The resource part of its EC2 ARN (`launch-template`); None for the account, whose ARN is
    `arn:<partition>:iam::<account>:root`."""
    asff_type: str
    """Security Hub's resource `Type` (`AwsEc2LaunchTemplate`)."""
    ocsf_type: str
    """The CloudFormation name OCSF resources carry (`AWS::EC2::LaunchTemplate`)."""
    noun: str
    """One of them in running text (`launch template`)."""
    plural: str
    heading: str
    """The report section that lists its findings (`Launch templates`)."""
    unit: str
    """What a summary counts (`account region`: an account's guardrails are evaluated per region)."""
    units: str

    @property
    def column(self) -> str:
        """The table column naming the resource (`Launch template`)."""
        return self.noun[:1].upper() + self.noun[1:]

    @classmethod
    def of(cls, key: str) -> ResourceType:
        """The record of `key`; a ValueError naming the known keys for anything else."""
        found = _BY_KEY.get(key)
        if found is None:
            raise ValueError(f"unknown resource type {key!r}: expected one of {', '.join(_BY_KEY)}")
        return found

    @classmethod
    def lookup(cls, key: object) -> ResourceType | None:
        """The record of `key`, None for a type this version does not know (a newer report's)."""
        return _BY_KEY.get(key) if isinstance(key, str) else None


INSTANCE = "instance"
LAUNCH_TEMPLATE = "launch_template"
SECURITY_GROUP = "security_group"
"""A VPC's default security group (what `default_security_group_closed` evaluates, as EC2.2 does)."""
ACCOUNT = "account"
"""An account in one region: the resource of the guardrail rules (region-wide settings)."""

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        key=INSTANCE,
        arn_kind="instance",
        asff_type="AwsEc2Instance",
        ocsf_type="AWS::EC2::Instance",
        noun="instance",
        plural="instances",
        heading="Instances",
        unit="instance",
        units="instances",
    ),
    ResourceType(
        key=LAUNCH_TEMPLATE,
        arn_kind="launch-template",
        asff_type="AwsEc2LaunchTemplate",
        ocsf_type="AWS::EC2::LaunchTemplate",
        noun="launch template",
        plural="launch templates",
        heading="Launch templates",
        unit="launch template",
        units="launch templates",
    ),
    ResourceType(
        key=SECURITY_GROUP,
        arn_kind="security-group",
        asff_type="AwsEc2SecurityGroup",
        ocsf_type="AWS::EC2::SecurityGroup",
        noun="security group",
        plural="security groups",
        heading="Security groups",
        unit="security group",
        units="security groups",
    ),
    ResourceType(
        key=ACCOUNT,
        arn_kind=None,
        asff_type="AwsAccount",
        ocsf_type="AWS::::Account",
        noun="account",
        plural="accounts",
        heading="Account guardrails",
        unit="account region",
        units="account regions",
    ),
)
"""Every resource type, in the order reports list them: instances, launch templates, security
groups, account guardrails."""
_BY_KEY: dict[str, ResourceType] = {kind.key: kind for kind in RESOURCE_TYPES}
RESOURCE_TYPE_KEYS: tuple[str, ...] = tuple(_BY_KEY)
