"""The demo fleet as data: one typed spec per instance, per region.

A spec names the instance's deviations from a compliant baseline (private subnet, IMDSv2 only,
encrypted gp3 root, instance profile, monitoring, EBS-optimized, termination protection, an
online SSM agent, a golden AMI) and the rules those deviations break, so a scan's findings can be
checked instance by instance against the data that seeded them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

DEMO_REGIONS: tuple[str, ...] = ("us-east-1", "eu-west-1", "ap-southeast-2")
DEMO_ACCOUNT_ID = "123456789012"  # moto's default account

OLD_LAUNCH_DAYS = 540
STOPPED_DAYS = 120
DEPRECATED_DAYS_AGO = 60
LOST_AGENT_DAYS = 9
"""How long ago an agent that lost its connection last pinged Systems Manager."""

BASTION_TAG = ("Role", "bastion")
LEGACY_TAG = ("Application", "legacy-erp")

BASELINE_INSTANCE_TYPE = "t3.medium"


class Deviation(enum.Enum):
    """One way an instance departs from the compliant baseline; the seeding applies each."""

    IMDSV1 = "imdsv1"
    HOP_LIMIT = "hop_limit"
    PUBLIC_IP = "public_ip"
    NO_PROFILE = "no_profile"
    KEY_PAIR = "key_pair"
    SSH_OPEN = "ssh_open"
    RDP_OPEN_V6 = "rdp_open_v6"
    DB_PORTS_OPEN = "db_ports_open"
    ALL_OPEN = "all_open"
    OLD_LAUNCH = "old_launch"
    STOPPED_LONG = "stopped_long"
    USER_DATA_SECRET = "user_data_secret"
    UNENCRYPTED_EBS = "unencrypted_ebs"
    MISSING_TAGS = "missing_tags"
    NO_MONITORING = "no_monitoring"
    MULTI_ENI = "multi_eni"
    NOT_EBS_OPTIMIZED = "not_ebs_optimized"
    UNAPPROVED_AMI = "unapproved_ami"
    PARAVIRTUAL = "paravirtual"
    DEPRECATED_AMI = "deprecated_ami"
    NO_TERMINATION_PROTECTION = "no_termination_protection"


OPEN_GROUPS = (Deviation.SSH_OPEN, Deviation.RDP_OPEN_V6, Deviation.DB_PORTS_OPEN, Deviation.ALL_OPEN)
"""The deviations that attach an internet-facing security group (one group each)."""


class SsmAgent(enum.Enum):
    """What Systems Manager knows of an instance's agent: the demo answers DescribeInstanceInformation
    from this, as SSM would (an unregistered instance is simply not listed)."""

    ONLINE = "Online"
    CONNECTION_LOST = "ConnectionLost"
    NOT_REGISTERED = "NotRegistered"

    @property
    def registered(self) -> bool:
        return self is not SsmAgent.NOT_REGISTERED


@dataclass(frozen=True)
class InstanceSpec:
    """One instance of the demo fleet: its identity tags, its deviations and what they break.

    `expect` holds the rule ids a scan must FAIL it on (suppressed or not), `suppressed` those
    of them the demo policy suppresses.
    """

    name: str
    owner: str = "unknown"
    env: str = "prod"
    instance_type: str = BASELINE_INSTANCE_TYPE
    deviations: frozenset[Deviation] = frozenset()
    expect: frozenset[str] = frozenset()
    suppressed: frozenset[str] = frozenset()
    extra_tags: tuple[tuple[str, str], ...] = ()
    ssm: SsmAgent = SsmAgent.ONLINE

    def __post_init__(self) -> None:
        # The agent registers with the instance profile's credentials: without a profile it cannot.
        if Deviation.NO_PROFILE in self.deviations and self.ssm.registered:
            raise ValueError(f"{self.name}: an instance without a profile cannot have a registered SSM agent")
        if not self.suppressed <= self.expect:
            raise ValueError(f"{self.name}: suppressed rules {sorted(self.suppressed - self.expect)} are not expected")

    def has(self, deviation: Deviation) -> bool:
        return deviation in self.deviations

    @property
    def tags(self) -> dict[str, str]:
        """The instance's tags: Name always, the ownership tags unless MISSING_TAGS, then extras."""
        tags = {"Name": self.name}
        if not self.has(Deviation.MISSING_TAGS):
            tags.update({"Owner": self.owner, "Environment": self.env, "CostCenter": "cc-1234"})
        tags.update(self.extra_tags)
        return tags


def _instance(
    name: str,
    owner: str = "unknown",
    env: str = "prod",
    *deviations: Deviation,
    expect: Iterable[str] = (),
    suppressed: Iterable[str] = (),
    instance_type: str = BASELINE_INSTANCE_TYPE,
    extra_tags: Mapping[str, str] | None = None,
    ssm: SsmAgent = SsmAgent.ONLINE,
) -> InstanceSpec:
    """An `InstanceSpec` written the way the table below reads: deviations positional."""
    return InstanceSpec(
        name=name,
        owner=owner,
        env=env,
        instance_type=instance_type,
        deviations=frozenset(deviations),
        expect=frozenset(expect),
        suppressed=frozenset(suppressed),
        extra_tags=tuple((extra_tags or {}).items()),
        ssm=ssm,
    )


_D = Deviation
_BASTION_RULES = ("authorized_ports_only", "no_public_ip", "public_ip_with_instance_profile", "ssh_open_to_internet")

FLEET: Mapping[str, tuple[InstanceSpec, ...]] = MappingProxyType(
    {
        "us-east-1": (
            _instance("web-prod-1", "web-team", "prod"),
            _instance("web-prod-2", "web-team", "prod", instance_type="m5.large"),
            _instance("worker-prod-1", "data-team", "prod", instance_type="c5.large"),
            _instance(
                "legacy-erp-1", "erp-team", "prod", _D.IMDSV1, expect={"imdsv2_required"}, extra_tags=dict([LEGACY_TAG])
            ),
            _instance("k8s-node-1", "platform", "prod", _D.HOP_LIMIT, expect={"imds_hop_limit"}),
            _instance(
                "marketing-site",
                "marketing",
                "prod",
                _D.PUBLIC_IP,
                _D.NO_PROFILE,
                expect={"no_public_ip", "instance_profile_attached", "ssm_managed"},
                ssm=SsmAgent.NOT_REGISTERED,
            ),
            _instance(
                "public-api-1",
                "api-team",
                "prod",
                _D.PUBLIC_IP,
                expect={"no_public_ip", "public_ip_with_instance_profile"},
            ),
            _instance(
                "dev-box-alice",
                "alice",
                "dev",
                _D.SSH_OPEN,
                _D.KEY_PAIR,
                expect={"authorized_ports_only", "ssh_open_to_internet", "no_key_pair"},
            ),
            _instance(
                "debug-anything",
                "bob",
                "dev",
                _D.ALL_OPEN,
                expect={
                    "authorized_ports_only",
                    "all_ports_open",
                    "ssh_open_to_internet",
                    "rdp_open_to_internet",
                    "high_risk_ports_open",
                },
            ),
            _instance(
                "ml-training-1", "ml-team", "staging", expect={"allowed_instance_type"}, instance_type="p3.8xlarge"
            ),
            _instance(
                "batch-2019",
                "data-team",
                "prod",
                _D.OLD_LAUNCH,
                expect={"instance_age", "ssm_managed"},
                ssm=SsmAgent.CONNECTION_LOST,
            ),
            _instance("reporting-old", "finance", "prod", _D.STOPPED_LONG, expect={"stopped_too_long"}),
            _instance("ci-runner-1", "platform", "dev", _D.USER_DATA_SECRET, expect={"user_data_secrets"}),
            _instance(
                "bastion-us",
                "security",
                "prod",
                _D.PUBLIC_IP,
                _D.SSH_OPEN,
                expect=_BASTION_RULES,
                suppressed=_BASTION_RULES,
                extra_tags=dict([BASTION_TAG]),
            ),
        ),
        "eu-west-1": (
            _instance("shop-eu-1", "web-team", "prod"),
            _instance("shop-eu-2", "web-team", "prod", instance_type="m5.xlarge"),
            _instance(
                "win-jump-eu",
                "it-ops",
                "prod",
                _D.RDP_OPEN_V6,
                expect={"authorized_ports_only", "rdp_open_to_internet"},
            ),
            _instance(
                "db-eu-1",
                "data-team",
                "prod",
                _D.DB_PORTS_OPEN,
                expect={"authorized_ports_only", "high_risk_ports_open"},
                instance_type="r5.large",
            ),
            _instance("files-eu", "it-ops", "prod", _D.UNENCRYPTED_EBS, expect={"ebs_volumes_encrypted"}),
            _instance("untagged-eu", "unknown", "prod", _D.MISSING_TAGS, expect={"required_tags"}),
            _instance("cache-eu-1", "web-team", "staging", _D.NO_MONITORING, expect={"detailed_monitoring_enabled"}),
            _instance("nat-appliance-eu", "network", "prod", _D.MULTI_ENI, expect={"single_eni"}),
            _instance("queue-eu-1", "api-team", "staging", _D.NOT_EBS_OPTIMIZED, expect={"ebs_optimized"}),
        ),
        "ap-southeast-2": (
            _instance("api-syd-1", "api-team", "prod"),
            _instance("api-syd-2", "api-team", "prod", instance_type="t3.small"),
            _instance("vendor-appliance", "it-ops", "prod", _D.UNAPPROVED_AMI, expect={"approved_ami"}),
            _instance(
                "cron-syd",
                "platform",
                "prod",
                _D.NO_PROFILE,
                expect={"instance_profile_attached", "ssm_managed"},
                ssm=SsmAgent.NOT_REGISTERED,
            ),
            _instance(
                "legacy-pv-syd",
                "erp-team",
                "prod",
                _D.PARAVIRTUAL,
                expect={"no_paravirtual", "allowed_instance_type"},
                instance_type="m1.small",
            ),
            _instance("app-syd-old-ami", "api-team", "prod", _D.DEPRECATED_AMI, expect={"ami_deprecated"}),
            _instance("scratch-syd", "carol", "dev", _D.NO_TERMINATION_PROTECTION, expect={"termination_protection"}),
        ),
    }
)
"""The designed regions' fleets. Most instances break one rule on top of the baseline."""


def instance_specs(region: str | None = None) -> tuple[InstanceSpec, ...]:
    """Every designed spec, in fleet order, or those of one designed region (KeyError otherwise)."""
    if region is not None:
        return FLEET[region]
    return tuple(spec for specs in FLEET.values() for spec in specs)


def layout_for(region: str, index: int) -> tuple[InstanceSpec, ...]:
    """The specs seeded into `region`, the `index`-th region asked for: a designed region keeps its
    own mix, any other region gets a designed layout in turn, so every region list works."""
    layouts = tuple(FLEET.values())
    return FLEET.get(region) or layouts[index % len(layouts)]
