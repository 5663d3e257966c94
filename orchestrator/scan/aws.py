"""The caller's AWS session, the SDK settings it depends on, and AWS errors as one line.

The session is a default `boto3` session: the SDK resolves profile, region, endpoint and
credentials from the environment exactly as it would for any other tool.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlparse

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from ..errors import BadInput, OperationFailed


def check_aws_environment(environ: Mapping[str, str]) -> None:
    """The SDK variables the scan depends on, checked before anything runs (botocore would fail
    late, or silently ignore them)."""
    endpoint = environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlparse(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise BadInput(
                f"AWS_ENDPOINT_URL={endpoint!r}: expected a URL such as https://ec2.example.com or "
                "http://127.0.0.1:5000"
            )
    attempts = environ.get("AWS_MAX_ATTEMPTS")
    if attempts is not None and not (attempts.strip().isdigit() and int(attempts) >= 1):
        raise BadInput(f"AWS_MAX_ATTEMPTS={attempts!r}: expected a whole number of at least 1")


def region_origin(session: boto3.session.Session) -> str:
    """Where the SDK's region came from, for an error that says what to fix."""
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(variable):
            return f"{variable}={os.environ[variable]}"
    return f"the region of profile {session.profile_name!r}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe_aws_error(exc: BaseException) -> str:
    """A one-line, secret-free explanation of why AWS could not be reached."""
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found: configure a profile (`aws configure` / `aws sso login`, "
            "then AWS_PROFILE) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; "
            "or try `ec2c scan --demo`"
        )
    if isinstance(exc, PartialCredentialsError):
        return f"incomplete AWS credentials: {_one_line(str(exc))}"
    if isinstance(exc, ProfileNotFound):
        return f"{_one_line(str(exc))}: check AWS_PROFILE and ~/.aws/config"
    if isinstance(exc, NoRegionError):
        return "no AWS region configured: pass --regions or set AWS_REGION (or a region in your profile)"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach AWS: {_one_line(str(exc))} (check the network, AWS_ENDPOINT_URL, proxy settings)"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = _one_line(error.get("Message", "")) or str(code)
        op = getattr(exc, "operation_name", "") or "request"
        return f"AWS rejected the credentials ({op}: {code}): {message}"
    return f"AWS SDK error: {_one_line(str(exc))}"


def make_session() -> boto3.session.Session:
    """The caller's default session; the SDK resolves profile, region and endpoint from the env.

    AWS_REGION (what the other AWS SDKs and the docs use) wins over AWS_DEFAULT_REGION, which is
    the only one botocore itself reads.
    """
    try:
        session = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
        session.region_name  # reads the profile's config: an unknown profile fails here  # noqa: B018
    except (ProfileNotFound, BotoCoreError) as exc:
        raise OperationFailed(describe_aws_error(exc)) from None
    return session


def caller_account(session: boto3.session.Session, region: str) -> str | None:
    """STS GetCallerIdentity: proves the credentials work before scanning anything."""
    try:
        identity = session.client("sts", region_name=region).get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        raise OperationFailed(describe_aws_error(exc)) from None
    return identity.get("Account")


def checked_session() -> boto3.session.Session:
    """The caller's session, after the SDK variables it depends on are checked."""
    check_aws_environment(os.environ)
    return make_session()
