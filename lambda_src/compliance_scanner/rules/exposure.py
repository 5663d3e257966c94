"""Internet exposure through security groups: inbound rules that let the whole internet in.

"Open to the internet" is decided on addresses, not on CIDR strings: for each port, the union of
every range the instance's groups allow (managed prefix lists resolved to their entries) is
compared with the public address space. `0.0.0.0/1` + `128.0.0.0/1` is as open as `0.0.0.0/0`,
while a rule naming only private ranges or other security groups is not. Ports are handled the
same way: protocol -1 or TCP/UDP ranges that together cover every port are "all ports".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable
from functools import lru_cache
from itertools import pairwise

from .. import sources
from ..model import IngressPermission, InstanceRecord, RuleResult, SecurityGroupInfo, failed, passed
from ..registry import Severity
from .base import PORTS, Param, Params, Rule

ALL_PROTOCOLS = "-1"
TCP = frozenset({"tcp", "6"})
UDP = frozenset({"udp", "17"})
TCP_UDP = TCP | UDP
MAX_PORT = 65535
NON_PUBLIC_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
PUBLIC_V6 = ("2000::/3",)
"""The internet: every IPv4 address outside private, shared, loopback, link-local, multicast and
reserved space, and IPv6 global unicast. A port is open to the internet when the allowed ranges
cover all of one of them."""

Interval = tuple[int, int]


def _intervals(networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> list[Interval]:
    merged: list[Interval] = []
    for low, high in sorted((int(n.network_address), int(n.broadcast_address)) for n in networks):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _public_v4() -> list[Interval]:
    whole = [ipaddress.IPv4Network("0.0.0.0/0")]
    for excluded in NON_PUBLIC_V4:
        network = ipaddress.IPv4Network(excluded)
        whole = [part for net in whole for part in (net.address_exclude(network) if network.subnet_of(net) else [net])]
    return _intervals(whole)


PUBLIC = {4: _public_v4(), 6: _intervals(ipaddress.ip_network(n) for n in PUBLIC_V6)}


def _covers(allowed: list[Interval], required: list[Interval]) -> bool:
    return all(any(low <= r_low and r_high <= high for low, high in allowed) for r_low, r_high in required)


@lru_cache(maxsize=4096)
def internet_open(cidrs: frozenset[str]) -> bool:
    """Whether the union of `cidrs` takes in the whole public IPv4 or IPv6 internet."""
    by_version: dict[int, list[ipaddress.IPv4Network | ipaddress.IPv6Network]] = {4: [], 6: []}
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        by_version[network.version].append(network)
    return any(_covers(_intervals(nets), PUBLIC[version]) for version, nets in by_version.items() if nets)


def _port_range(permission: IngressPermission) -> tuple[int, int]:
    """Ports a permission covers; all-protocol or port-less TCP/UDP permissions cover all of them."""
    if permission.protocol == ALL_PROTOCOLS:
        return 0, MAX_PORT
    low = 0 if permission.from_port is None or permission.from_port < 0 else permission.from_port
    high = MAX_PORT if permission.to_port is None or permission.to_port < 0 else permission.to_port
    return low, high


def exposed_segments(
    instance: InstanceRecord, protocols: Collection[str]
) -> tuple[tuple[int, int, tuple[str, ...]], ...]:
    """Port ranges open to the internet over `protocols`, each with the groups that open it."""
    return _segments(instance.security_groups, frozenset(protocols))


@lru_cache(maxsize=4096)
def _segments(
    security_groups: tuple[SecurityGroupInfo, ...], protocols: frozenset[str]
) -> tuple[tuple[int, int, tuple[str, ...]], ...]:
    """Ports are cut where any permission starts or ends, so each segment is covered by a fixed
    set of permissions whose ranges are united before the internet test. Cached: a fleet shares a
    handful of group combinations, and each port rule asks again for every port it checks."""
    permissions = [
        (group.group_id, permission)
        for group in security_groups
        for permission in group.ingress
        if permission.cidrs and (permission.protocol == ALL_PROTOCOLS or permission.protocol.lower() in protocols)
    ]
    if not permissions:
        return ()
    ranges = [(group_id, p, _port_range(p)) for group_id, p in permissions]
    bounds = sorted({0, MAX_PORT + 1, *(r[0] for *_, r in ranges), *(r[1] + 1 for *_, r in ranges)})
    segments = []
    for low, following in pairwise(bounds):
        high = following - 1
        covering = [(g, p) for g, p, (lo, hi) in ranges if lo <= low and high <= hi]
        if covering and internet_open(frozenset(c for _, p in covering for c in p.cidrs)):
            segments.append((low, high, tuple(dict.fromkeys(g for g, _ in covering))))
    return tuple(segments)


def groups_exposing(instance: InstanceRecord, port: int, protocols: Collection[str]) -> list[str]:
    """Ids of the security groups that together open `port` to the internet."""
    for low, high, groups in exposed_segments(instance, protocols):
        if low <= port <= high:
            return list(groups)
    return []


def _port_rule(
    rule_id: str,
    service: str,
    port: int,
    rationale: str,
    remediation: str,
    *,
    remediation_cli: str,
    remediation_pulumi: str,
    **mapping: str,
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
        severity=Severity.HIGH,
        rationale=rationale,
        remediation=remediation,
        check=check,
        mapping=mapping,
        sources=_SG,
        remediation_cli=remediation_cli,
        remediation_pulumi=remediation_pulumi,
        graded=True,
    )


def port_label(port: int) -> str:
    """`3306 (MySQL)`: the port with the service it is known for, when it is."""
    service = SERVICES.get(port)
    return f"{port} ({service})" if service else str(port)


def _high_risk_ports(instance: InstanceRecord, params: Params) -> RuleResult:
    open_ports = sorted({port for port in params["ports"] if groups_exposing(instance, port, TCP_UDP)})
    if open_ports:
        listed = ", ".join(port_label(port) for port in open_ports)
        return failed(f"high-risk ports open to the internet: {listed}")
    return passed("no high-risk port is open to the internet")


def _unauthorized(segments: tuple[tuple[int, int, tuple[str, ...]], ...], allowed: set[int]) -> list[str]:
    """The open port ranges left once the allowed ports are cut out, as `low-high` or `port`
    (port 0, which protocol -1 also covers, is not a port a service listens on)."""
    ranges: list[str] = []
    for low, high, _ in segments:
        cursor = max(low, 1)
        for port in [*sorted(p for p in allowed if cursor <= p <= high), high + 1]:
            if port > cursor:
                ranges.append(port_label(cursor) if cursor == port - 1 else f"{cursor}-{port - 1}")
            cursor = port + 1
    return ranges


def _authorized_ports(instance: InstanceRecord, params: Params) -> RuleResult:
    allowed = set(params["ports"])
    found = []
    for name, protocols in (("TCP", TCP), ("UDP", UDP)):
        ranges = _unauthorized(exposed_segments(instance, protocols), allowed)
        if ranges:
            found.append(f"{name} {', '.join(ranges)}")
    if found:
        return failed(f"ports outside the authorized list are open to the internet: {'; '.join(found)}")
    authorized = ", ".join(str(port) for port in sorted(allowed)) or "none"
    return passed(f"only authorized ports ({authorized}) are open to the internet")


def _all_open(segments: tuple[tuple[int, int, tuple[str, ...]], ...]) -> tuple[str, ...] | None:
    """The groups involved when the segments cover every port 1-65535 (port 0 is not a port)."""
    reached = 0
    for low, high, _ in segments:
        if low > reached + 1:
            return None
        reached = max(reached, high)
    if reached < MAX_PORT:
        return None
    return tuple(dict.fromkeys(g for *_, groups in segments for g in groups))


def _all_ports(instance: InstanceRecord, params: Params) -> RuleResult:
    for name, protocols in (("TCP", TCP), ("UDP", UDP)):
        groups = _all_open(exposed_segments(instance, protocols))
        if groups:
            return failed(f"all {name} ports are open to the internet via {', '.join(groups)}")
    return passed("no security group opens all ports to the internet")


SERVICES: dict[int, str] = {
    20: "FTP",
    21: "FTP",
    23: "Telnet",
    25: "SMTP",
    88: "Kerberos",
    110: "POP3",
    135: "MS RPC",
    139: "CIFS/SMB",
    143: "IMAP",
    389: "LDAP",
    445: "CIFS/SMB",
    464: "Kerberos",
    636: "LDAPS",
    749: "Kerberos",
    750: "Kerberos",
    1433: "SQL Server",
    1434: "SQL Server",
    1521: "Oracle",
    2483: "Oracle",
    2484: "Oracle",
    3000: "web dev server",
    3306: "MySQL",
    4333: "mSQL",
    5000: "web dev server",
    5432: "PostgreSQL",
    5500: "VNC",
    5601: "Kibana",
    6379: "Redis",
    7000: "Cassandra",
    7001: "Cassandra",
    7199: "Cassandra",
    8080: "HTTP proxy",
    8088: "HTTP alt",
    8888: "HTTP alt",
    9042: "Cassandra",
    9092: "Kafka",
    9160: "Cassandra",
    9200: "Elasticsearch/OpenSearch",
    9300: "Elasticsearch/OpenSearch",
    11211: "memcached",
    27017: "MongoDB",
    27018: "MongoDB",
}
"""The service each well-known port is known for, to name it in findings."""

HIGH_RISK_PORTS = tuple(
    sorted(
        {
            # Security Hub EC2.19's list without 22 and 3389, which have rules of their own
            20,
            21,
            23,
            25,
            110,
            135,
            143,
            445,
            1433,
            1434,
            3000,
            3306,
            4333,
            5000,
            5432,
            5500,
            5601,
            8080,
            8088,
            8888,
            9200,
            9300,
            # Prowler's per-service checks (ec2_instance_port_<service>_exposed_to_internet)
            7000,
            7001,
            7199,
            9042,
            9160,  # Cassandra
            139,  # CIFS/SMB (445 is in EC2.19's list)
            9092,  # Kafka
            88,
            464,
            749,
            750,  # Kerberos
            389,
            636,  # LDAP
            11211,  # memcached
            27017,
            27018,  # MongoDB
            1521,
            2483,
            2484,  # Oracle
            6379,  # Redis
        }
    )
)
"""Security Hub EC2.19's ports and Prowler's per-service ones (SSH and RDP have their own rules)."""

_SG = (sources.SECURITY_GROUPS, sources.PREFIX_LISTS)

RULES: tuple[Rule, ...] = (
    _port_rule(
        "ssh_open_to_internet",
        "SSH",
        22,
        rationale="SSH reachable from anywhere invites brute force and exploits of the daemon.",
        remediation="Restrict port 22 to known CIDRs or use SSM Session Manager instead of SSH.",
        remediation_cli="aws ec2 revoke-security-group-ingress --region {region} --group-id <group named in the finding> --protocol tcp --port 22 --cidr 0.0.0.0/0",
        remediation_pulumi='aws.vpc.SecurityGroupIngressRule("ssh", security_group_id=sg.id, ip_protocol="tcp", from_port=22, to_port=22, cidr_ipv4="10.0.0.0/8")',
        aws_config="restricted-ssh",
        security_hub="EC2.13",
        cis="v1.4 5.2; v3.0 5.2, 5.3; v4.0.1 5.3, 5.4",
        prowler="ec2_instance_port_ssh_exposed_to_internet",
    ),
    _port_rule(
        "rdp_open_to_internet",
        "RDP",
        3389,
        rationale="RDP exposed to the internet is a leading ransomware entry point.",
        remediation="Restrict port 3389 to known CIDRs or reach hosts through Fleet Manager.",
        remediation_cli="aws ec2 revoke-security-group-ingress --region {region} --group-id <group named in the finding> --protocol tcp --port 3389 --cidr 0.0.0.0/0",
        remediation_pulumi='aws.vpc.SecurityGroupIngressRule("rdp", security_group_id=sg.id, ip_protocol="tcp", from_port=3389, to_port=3389, cidr_ipv4="10.0.0.0/8")',
        aws_config="restricted-common-ports",
        security_hub="EC2.14",
        cis="v1.4 5.2; v3.0 5.2, 5.3; v4.0.1 5.3, 5.4",
        prowler="ec2_instance_port_rdp_exposed_to_internet",
    ),
    Rule(
        id="high_risk_ports_open",
        title="High-risk ports are not open to the internet",
        severity=Severity.HIGH,
        rationale="Databases, file sharing and admin consoles are not meant to face the internet.",
        remediation="Remove the internet-wide ranges (0.0.0.0/0, ::/0, or prefix lists and ranges that "
        "add up to them) from these ports' inbound rules.",
        remediation_cli="aws ec2 revoke-security-group-ingress --region {region} --group-id <group> --protocol tcp --port <port named in the finding> --cidr 0.0.0.0/0",
        remediation_pulumi='aws.vpc.SecurityGroupIngressRule("db", security_group_id=sg.id, ip_protocol="tcp", from_port=5432, to_port=5432, referenced_security_group_id=app_sg.id)',
        check=_high_risk_ports,
        mapping={
            "aws_config": "restricted-common-ports",
            "security_hub": "EC2.19",
            "prowler": "ec2_securitygroup_allow_ingress_from_internet_to_high_risk_tcp_ports",
        },
        parameters=(Param("ports", PORTS, HIGH_RISK_PORTS),),
        sources=_SG,
        graded=True,
    ),
    Rule(
        id="all_ports_open",
        title="Security groups do not open all ports to the internet",
        severity=Severity.CRITICAL,
        rationale="Every listening service on the host becomes reachable by anyone.",
        remediation="Replace all-traffic inbound rules with the specific ports the workload needs.",
        remediation_cli="aws ec2 revoke-security-group-ingress --region {region} --group-id <group named in the finding> --ip-permissions IpProtocol=-1,IpRanges=[{{CidrIp=0.0.0.0/0}}]",
        remediation_pulumi='aws.vpc.SecurityGroupIngressRule("https", security_group_id=sg.id, ip_protocol="tcp", from_port=443, to_port=443, cidr_ipv4="0.0.0.0/0")  # one rule per needed port, no ip_protocol="-1"',
        check=_all_ports,
        mapping={
            "cis": "v1.4 5.2; v3.0 5.2, 5.3; v4.0.1 5.3, 5.4",
            "prowler": "ec2_securitygroup_allow_ingress_from_internet_to_all_ports",
        },
        sources=_SG,
        graded=True,
    ),
    Rule(
        id="authorized_ports_only",
        title="Only authorized ports are open to the internet",
        severity=Severity.MEDIUM,
        rationale="Every port open to the internet beyond the ones the workload serves widens the attack surface.",
        remediation="Close internet-wide inbound rules on ports outside the authorized list (by default 80 and 443).",
        remediation_cli="aws ec2 revoke-security-group-ingress --region {region} --group-id <group> --protocol tcp --port <port named in the finding> --cidr 0.0.0.0/0",
        remediation_pulumi='aws.vpc.SecurityGroupIngressRule("https", security_group_id=sg.id, ip_protocol="tcp", from_port=443, to_port=443, cidr_ipv4="0.0.0.0/0")  # and nothing wider',
        check=_authorized_ports,
        mapping={
            "aws_config": "vpc-sg-open-only-to-authorized-ports",
            "security_hub": "EC2.18",
        },
        parameters=(Param("ports", PORTS, (80, 443)),),
        sources=_SG,
    ),
)
