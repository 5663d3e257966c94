"""The scanner's memory does not grow with the fleet: the Lambda handler, run as its own process
against a moto server, peaks at about the same RSS for 1,000 and for 4,000 instances.

Measured as the child's own peak resident set (`VmHWM` in `/proc/self/status`, read as it exits),
the way the Lambda runtime accounts memory: a whole process, interpreter, boto3 models and all.
(`ru_maxrss` would not do: Linux carries it over `exec` from the forked copy of this test process,
which holds the moto server.) Before streaming, the
handler grew by about 110 KB per instance (330 MB more for the 3,000 instances added here); now
what it holds is one page of at most 1,000 instances, so a fleet of one full page and one of four
pages peak alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

REPO = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
SMALL, LARGE = 1000, 4000
GROWTH_LIMIT_MB = 30
"""Allowed growth over 3,000 more instances: the old code needed about eleven times this."""
PEAK_LIMIT_MB = 256
RESERVATION = 250
"""moto pages DescribeInstances by reservation, AWS by instance: the child asks for pages of 4
reservations of 250, so that a page holds 1,000 instances as the scanner's page does in AWS
(seeding 4,000 one-instance reservations into moto would take minutes)."""
HANDLER = """
import json
from ec2c.scanner.collection import collector
from ec2c.scanner.run.handler import handler

collector.PAGE_SIZE = 1000 // 250

class Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:memory"

    def get_remaining_time_in_millis(self):
        return 900_000

result = handler({}, Context())
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"result": result, "peak_kb": int(peak)}))
"""


@pytest.fixture
def moto_endpoint(aws_credentials: None) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _seed(endpoint: str, count: int, offset: int) -> None:
    """A mixed fleet in reservations of 250: an open and a closed group, two images, every other
    reservation tagged."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
    groups = []
    for name, rules in (
        ("open", [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]),
        ("closed", []),
    ):
        group = ec2.create_security_group(GroupName=f"{name}-{offset}", Description=name)["GroupId"]
        if rules:
            ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=rules)
        groups.append(group)
    for number in range(count // RESERVATION):
        odd = number % 2
        ec2.run_instances(
            ImageId=("ami-760aaa0f", "ami-1e749f67")[odd],
            MinCount=RESERVATION,
            MaxCount=RESERVATION,
            InstanceType="t3.micro",
            SecurityGroupIds=[groups[odd]],
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Owner", "Value": "team"}]}]
            if odd
            else [],
        )


def _peak_rss_mb(endpoint: str, bucket: str) -> tuple[float, dict[str, object]]:
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "REPORT_BUCKET": bucket,
        "SCAN_REGIONS": REGION,
        "COMPLIANCE_POLICY": json.dumps({"rules": {"ssm_managed": {"enabled": False}}}),
    }
    child = subprocess.run(
        [sys.executable, "-c", HANDLER], env=environment, capture_output=True, text=True, timeout=900, check=False
    )
    assert child.returncode == 0, child.stderr[-2000:]
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    return outcome["peak_kb"] / 1024, outcome["result"]


def test_peak_memory_does_not_grow_with_the_fleet(moto_endpoint: str) -> None:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    for bucket in ("small-fleet", "large-fleet"):
        s3.create_bucket(Bucket=bucket)
    _seed(moto_endpoint, SMALL, 0)
    small_peak, small = _peak_rss_mb(moto_endpoint, "small-fleet")
    _seed(moto_endpoint, LARGE - SMALL, SMALL)
    large_peak, large = _peak_rss_mb(moto_endpoint, "large-fleet")

    assert small["summary"]["total_instances"] == SMALL
    assert large["summary"]["total_instances"] == LARGE
    assert large["summary"]["by_rule"]["ssh_open_to_internet"]["failed"] == LARGE // 2
    assert large_peak - small_peak < GROWTH_LIMIT_MB, (small_peak, large_peak)
    assert large_peak < PEAK_LIMIT_MB, (small_peak, large_peak)
