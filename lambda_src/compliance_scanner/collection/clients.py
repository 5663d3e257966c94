"""boto3 clients with adaptive retries, so throttling slows the scan down instead of failing it.

`make_client` is overloaded per service so that the type checker knows each client's API (the
stubs are a development dependency, imported only while type checking: the Lambda has boto3 alone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, overload

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_ec2 import EC2Client
    from types_boto3_s3 import S3Client
    from types_boto3_securityhub import SecurityHubClient
    from types_boto3_sns import SNSClient
    from types_boto3_ssm import SSMClient

Service = Literal["cloudwatch", "ec2", "s3", "securityhub", "sns", "ssm"]

RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    user_agent_extra="ec2-compliance-scanner",
)


@overload
def make_client(session: boto3.session.Session, service: Literal["cloudwatch"], region: str) -> CloudWatchClient: ...
@overload
def make_client(session: boto3.session.Session, service: Literal["ec2"], region: str) -> EC2Client: ...
@overload
def make_client(session: boto3.session.Session, service: Literal["s3"], region: str) -> S3Client: ...
@overload
def make_client(session: boto3.session.Session, service: Literal["securityhub"], region: str) -> SecurityHubClient: ...
@overload
def make_client(session: boto3.session.Session, service: Literal["sns"], region: str) -> SNSClient: ...
@overload
def make_client(session: boto3.session.Session, service: Literal["ssm"], region: str) -> SSMClient: ...
def make_client(
    session: boto3.session.Session, service: Service, region: str
) -> CloudWatchClient | EC2Client | S3Client | SecurityHubClient | SNSClient | SSMClient:
    return session.client(service, region_name=region, config=RETRY_CONFIG)
