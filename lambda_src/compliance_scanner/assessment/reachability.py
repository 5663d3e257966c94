"""Reachability grading: how bad an internet-open security group is depends on whether the
internet can actually get to the instance.

An open port on an instance without a public address is reachable only from inside the network
(medium); with a public address but no default route to an internet gateway the address is not
routed from the internet today, though one route-table edit away (high); with both, anyone can
connect (critical). Pure function over the instance record.
"""

from __future__ import annotations

from .. import sources
from ..model import InstanceRecord
from ..registry import Severity


def grade(instance: InstanceRecord) -> tuple[Severity, str] | None:
    """(severity, why) for an exposure finding on `instance`; None when reachability cannot be
    told (route tables not read, or no subnet), so the rule's own severity stands."""
    v4 = [instance.public_ip] if instance.public_ip else []
    v6 = list(instance.ipv6_addresses)
    if not v4 and not v6:
        return Severity.MEDIUM, "no public address: reachable only from inside the network"
    if sources.ROUTE_TABLES in instance.unavailable or instance.internet_route is None:
        return None
    route = instance.internet_route
    addresses = ", ".join(v4 + v6)
    if v4 and route.ipv4_gateway:
        return Severity.CRITICAL, (
            f"public address {addresses} and a default route to {route.ipv4_gateway} in {route.route_table_id}"
        )
    if v6 and route.ipv6_gateway:
        return Severity.CRITICAL, (
            f"public address {addresses} and an IPv6 default route to {route.ipv6_gateway} in {route.route_table_id}"
        )
    return Severity.HIGH, (
        f"public address {addresses} but {route.route_table_id} has no default route to an internet gateway"
    )


def unknown_reason(instance: InstanceRecord) -> str:
    """Why a graded rule kept its configured severity."""
    if sources.ROUTE_TABLES in instance.unavailable:
        return "reachability unknown: route tables could not be read (see errors)"
    return "reachability unknown: no route table found for the instance's subnet"
