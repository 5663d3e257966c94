"""The demo's policy document: the defaults, stricter where the demo fleet shows why, and
suppressions that show both an accepted risk and an expired exception."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from .specs import BASTION_TAG, LEGACY_TAG


def demo_policy(today: date | None = None) -> dict[str, Any]:
    """Stricter AMI ownership, the opt-in rules on, every default rule left on (the demo answers
    the reads moto lacks), and suppressions for the bastion (by tag, with reasons and a future
    expiry) plus one that has already expired (the legacy ERP's IMDSv1 exception), whose finding
    therefore shows up unsuppressed."""
    today = today or datetime.now(UTC).date()
    bastion = {"key": BASTION_TAG[0], "value": BASTION_TAG[1]}
    review = (today + timedelta(days=180)).isoformat()
    return {
        "alert_threshold": 90,
        "alert_on_new_findings": True,
        "rules": {
            "approved_ami": {"params": {"owners": ["self"]}},  # golden images only, not any Amazon AMI
            "required_tags": {"params": {"keys": ["Owner", "Environment"]}},
            "termination_protection": {"enabled": True},
            "user_data_secrets": {"enabled": True},
            "serial_console_access_disabled": {"enabled": True},
        },
        "suppressions": [
            {
                "rule": "ssh_open_to_internet",
                "tag": bastion,
                "expires": review,
                "reason": "Bastion host: SSH is its purpose; MFA + session recording (SEC-142)",
            },
            {
                "rule": "authorized_ports_only",
                "tag": bastion,
                "expires": review,
                "reason": "Bastion host: port 22 is its authorized service (SEC-142)",
            },
            {
                "rule": "no_public_ip",
                "tag": bastion,
                "expires": review,
                "reason": "Bastion host needs a public address (SEC-142)",
            },
            {
                "rule": "public_ip_with_instance_profile",
                "tag": bastion,
                "expires": review,
                "reason": "Bastion role only allows SSM session logging (SEC-142)",
            },
            {
                "rule": "imdsv2_required",
                "tag": {"key": LEGACY_TAG[0], "value": LEGACY_TAG[1]},
                "expires": (today - timedelta(days=30)).isoformat(),
                "reason": "Vendor agent needed IMDSv1 until the ERP upgrade (ERP-88)",
            },
        ],
    }
