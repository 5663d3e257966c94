"""Internet exposure through security groups: inbound rules open to 0.0.0.0/0 or ::/0.

Only CIDR ranges count as exposure; a permission that only names prefix lists or other security
groups reaches known sources, not the internet.
"""

from __future__ import annotations

from collections.abc import Collection

from .. import sources
from ..model import IngressPermission, InstanceRecord, RuleResult, failed, passed
from .base import PORTS, Param, Params, Rule

INTERNET_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
ALL_PROTOCOLS = "-1"
TCP = frozenset({"tcp", "6"})
TCP_UDP = frozenset({"tcp", "6", "udp", "17"})
MAX_PORT = 65535


def _public(permission: IngressPermission) -> bool:
    return any(cidr in INTERNET_CIDRS for cidr in permission.cidrs)


def _port_range(permission: IngressPermission) -> tuple[int, int]:
    """Ports a permission covers; a TCP/UDP permission without ports covers all of them."""
    low = 0 if permission.from_port is None else permission.from_port
    high = MAX_PORT if permission.to_port is None else permission.to_port
    return low, high


def _covers(permission: IngressPermission, port: int, protocols: Collection[str]) -> bool:
    if permission.protocol == ALL_PROTOCOLS:
        return True
    if permission.protocol.lower() not in protocols:
        return False
    low, high = _port_range(permission)
    return low <= port <= high


def groups_exposing(instance: InstanceRecord, port: int, protocols: Collection[str]) -> list[str]:
    """Ids of the instance's security groups that open `port` to the internet."""
    return [
        group.group_id
        for group in instance.security_groups
        if any(_public(p) and _covers(p, port, protocols) for p in group.ingress)
    ]


def _port_rule(
    rule_id: str, service: str, port: int, rationale: str, remediation: str, **mapping: str
) -> Rule:
    """A rule for one well-known TCP service port (SSH, RDP): same check, different port."""

    def check(instance: InstanceRecord, params: Params) -> RuleResult:
        groups = groups_exposing(instance, port, TCP)
        if groups:
            return failed(f"{service} port {port} is open to the internet via {', '.join(groups)}")
        return passed(f"no security group opens {service} port {port} to the internet")

    return Rule(
        id=rule_id,
        title=f"{service} ({port}/tcp) is not open to the internet",
        severity="high",
        rationale=rationale,
        remediation=remediation,
        check=check,
        mapping=mapping,
        sources=(sources.SECURITY_GROUPS,),
    )


def _high_risk_ports(instance: InstanceRecord, params: Params) -> RuleResult:
    open_ports = sorted(
        {port for port in params["ports"] if groups_exposing(instance, port, TCP_UDP)}
    )
    if open_ports:
        listed = ", ".join(str(port) for port in open_ports)
        return failed(f"high-risk ports open to the internet: {listed}")
    return passed("no high-risk port is open to the internet")


def _opens_everything(permission: IngressPermission) -> bool:
    if permission.protocol == ALL_PROTOCOLS:
        return True
    return permission.protocol.lower() in TCP_UDP and _port_range(permission) == (0, MAX_PORT)


def _all_ports(instance: InstanceRecord, params: Params) -> RuleResult:
    groups = [
        group.group_id
        for group in instance.security_groups
        if any(_public(p) and _opens_everything(p) for p in group.ingress)
    ]
    if groups:
        return failed(f"all ports are open to the internet via {', '.join(groups)}")
    return passed("no security group opens all ports to the internet")


HIGH_RISK_PORTS = (
    20, 21, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 4333, 5000, 5432, 5500, 5601,
    8080, 8088, 8888, 9200, 9300,
)  # fmt: skip
"""Security Hub EC2.19's list without 22 and 3389, which have rules of their own."""

_SG = (sources.SECURITY_GROUPS,)

RULES: tuple[Rule, ...] = (
    _port_rule(
        "ssh_open_to_internet",
        "SSH",
        22,
        rationale="SSH reachable from anywhere invites brute force and exploits of the daemon.",
        remediation="Restrict port 22 to known CIDRs or use SSM Session Manager instead of SSH.",
        aws_config="restricted-ssh",
        security_hub="EC2.13",
        prowler="ec2_instance_port_ssh_exposed_to_internet",
    ),
    _port_rule(
        "rdp_open_to_internet",
        "RDP",
        3389,
        rationale="RDP exposed to the internet is a leading ransomware entry point.",
        remediation="Restrict port 3389 to known CIDRs or reach hosts through Fleet Manager.",
        aws_config="restricted-common-ports",
        security_hub="EC2.14",
        prowler="ec2_instance_port_rdp_exposed_to_internet",
    ),
    Rule(
        id="high_risk_ports_open",
        title="High-risk ports are not open to the internet",
        severity="high",
        rationale="Databases, file sharing and admin consoles are not meant to face the internet.",
        remediation="Remove the 0.0.0.0/0 and ::/0 ranges from these ports' inbound rules.",
        check=_high_risk_ports,
        mapping={"aws_config": "restricted-common-ports", "security_hub": "EC2.19"},
        parameters=(Param("ports", PORTS, HIGH_RISK_PORTS),),
        sources=_SG,
    ),
    Rule(
        id="all_ports_open",
        title="Security groups do not open all ports to the internet",
        severity="critical",
        rationale="Every listening service on the host becomes reachable by anyone.",
        remediation="Replace all-traffic inbound rules with the specific ports the workload needs.",
        check=_all_ports,
        mapping={
            "aws_config": "vpc-sg-open-only-to-authorized-ports",
            "security_hub": "EC2.18",
            "prowler": "ec2_securitygroup_allow_ingress_from_internet_to_all_ports",
        },
        sources=_SG,
    ),
)
