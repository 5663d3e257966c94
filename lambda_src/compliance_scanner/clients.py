"""boto3 clients with adaptive retries, so throttling slows the scan down instead of failing it."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    user_agent_extra="ec2-compliance-scanner",
)


def make_client(session: boto3.session.Session, service: str, region: str) -> Any:
    return session.client(service, region_name=region, config=RETRY_CONFIG)
