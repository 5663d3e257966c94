"""The demo's session: moto started, the caller's AWS settings out of the way, the fleet seeded.

The isolation matters because `ec2c scan --demo` runs in the user's own shell: a profile, a
session token or a custom endpoint left in the environment must neither be used nor leaked into
moto, and must all be back when the demo ends, however it ends.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

import boto3

from .seeding import DemoFleet, seed_demo_fleet
from .specs import DEMO_REGIONS

# Everything that could point boto3 at a real account or endpoint while the demo runs.
_ISOLATED_ENV_KEYS = frozenset(
    {
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_SESSION_NAME",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CA_BUNDLE",
    }
)
_ENDPOINT_PREFIX = "AWS_ENDPOINT_URL"


def _isolated(key: str) -> bool:
    return key in _ISOLATED_ENV_KEYS or key.startswith(_ENDPOINT_PREFIX)


@contextlib.contextmanager
def isolated_aws_env(region: str = DEMO_REGIONS[0]) -> Iterator[None]:
    """Dummy credentials and no profile/endpoint for the duration. On exit, normal or not, the
    environment is put back exactly as it was: keys added inside are removed, changed or removed
    ones get their old values."""
    before = dict(os.environ)
    try:
        for key in [key for key in os.environ if _isolated(key)]:
            del os.environ[key]
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": region,
                "AWS_REGION": region,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        for key, value in before.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


@contextlib.contextmanager
def demo_session(regions: Sequence[str] = DEMO_REGIONS) -> Iterator[tuple[boto3.session.Session, DemoFleet]]:
    """Start moto, seed the fleet, yield (session, fleet); stop moto and restore the env after.

    moto is imported here, not at module level: it is heavy, and only the demo needs it."""
    from moto import mock_aws

    regions = tuple(regions) or DEMO_REGIONS
    with isolated_aws_env(regions[0]), mock_aws():
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=regions[0]
        )
        fleet = seed_demo_fleet(session, regions)
        yield session, fleet
