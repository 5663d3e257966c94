"""The rule catalogue: every rule id, its metadata, defaults and check.

The order of the catalogue is the order of reports and documentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import (
    access,
    exposure,
    guardrails,
    inventory,
    lifecycle,
    metadata_service,
    network,
    security_groups,
    storage,
    templates,
)
from .base import INTEGER, PORTS, REGEXES, STRINGS, Param, Rule, evaluate

ORDER = (
    "imdsv2_required",
    "imds_hop_limit",
    "no_public_ip",
    "public_ip_with_instance_profile",
    "ssh_open_to_internet",
    "rdp_open_to_internet",
    "high_risk_ports_open",
    "all_ports_open",
    "authorized_ports_only",
    "ebs_volumes_encrypted",
    "required_tags",
    "approved_ami",
    "allowed_instance_type",
    "instance_profile_attached",
    "detailed_monitoring_enabled",
    "instance_age",
    "stopped_too_long",
    "single_eni",
    "no_paravirtual",
    "ami_deprecated",
    "ssm_managed",
    "ebs_optimized",
    "no_key_pair",
    "termination_protection",
    "user_data_secrets",
    "launch_template_imdsv2",
    "launch_template_no_public_ip",
    "launch_template_user_data_secrets",
    "launch_template_ebs_encrypted",
    "default_security_group_closed",
    "ebs_default_encryption",
    "imds_defaults_v2",
    "snapshot_block_public_access",
    "image_block_public_access",
    "serial_console_access_disabled",
)

_ALL = {
    rule.id: rule
    for module in (
        access,
        exposure,
        guardrails,
        inventory,
        lifecycle,
        metadata_service,
        network,
        security_groups,
        storage,
        templates,
    )
    for rule in module.RULES
}

CATALOGUE: Mapping[str, Rule] = MappingProxyType({rule_id: _ALL[rule_id] for rule_id in ORDER})

__all__ = [
    "CATALOGUE",
    "INTEGER",
    "PORTS",
    "REGEXES",
    "STRINGS",
    "Param",
    "Rule",
    "evaluate",
]
