"""Scan throughput and API-call benchmark against a moto fleet.

Seeds N instances (default 5000) into moto over a few security groups, images and volume kinds,
then prints in one run: the bare time to page through DescribeInstances, the full default-policy
scan time, their ratio, and the API calls per 1,000 instances (counted with botocore's
before-call event). Goals: ratio <= 1.5 and <= 15 calls per 1,000 instances.

    .venv/bin/python benchmarks/scan.py --instances 5000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambda_src"))

import boto3  # noqa: E402
from compliance_scanner import collector  # noqa: E402
from compliance_scanner.clients import make_client  # noqa: E402
from compliance_scanner.policy import load_policy  # noqa: E402
from compliance_scanner.scanner import scan  # noqa: E402
from moto import mock_aws  # noqa: E402

REGION = "us-east-1"
IMAGES = ("ami-760aaa0f", "ami-1e749f67", "ami-03cf127a", "ami-bb9a6bc2")
TYPES = ("t3.micro", "m5.large", "m1.small", "c5.xlarge")
BATCH = 500
REAL_PAGE = 1000
"""Instances per DescribeInstances page in AWS. moto counts MaxResults in reservations, so the
benchmark pages by REAL_PAGE // BATCH reservations of BATCH instances to get pages of that size."""
GOAL_RATIO = 1.5
GOAL_CALLS_PER_1000 = 15


def _security_groups(ec2: Any) -> list[str]:
    rules = [
        [
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
        [
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
        [
            {
                "IpProtocol": "tcp",
                "FromPort": 3306,
                "ToPort": 3306,
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            }
        ],
        [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
        [
            {
                "IpProtocol": "tcp",
                "FromPort": 8080,
                "ToPort": 8080,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            }
        ],
    ]
    groups = []
    for index, permissions in enumerate(rules):
        group_id = ec2.create_security_group(GroupName=f"bench-{index}", Description="bench")[
            "GroupId"
        ]
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        groups.append(group_id)
    return groups


def seed(instances: int) -> int:
    """Launch `instances` in batches of BATCH; returns the number of reservations."""
    ec2 = boto3.client("ec2", region_name=REGION)
    groups = _security_groups(ec2)
    launched = reservations = 0
    while launched < instances:
        count = min(BATCH, instances - launched)
        n = reservations
        ec2.run_instances(
            ImageId=IMAGES[n % len(IMAGES)],
            InstanceType=TYPES[n % len(TYPES)],
            MinCount=count,
            MaxCount=count,
            SecurityGroupIds=[groups[n % len(groups)], groups[(n + 1) % len(groups)]],
            BlockDeviceMappings=[
                {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": n % 2 == 0}}
            ],
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Owner", "Value": f"team-{n % 3}"}]}
            ],
        )
        launched += count
        reservations += 1
    return reservations


def bare_paging(session: boto3.session.Session) -> tuple[float, int]:
    """Only DescribeInstances pages, as the scan requests them: the floor for any scan."""
    ec2 = make_client(session, "ec2", REGION)
    filters = [{"Name": "instance-state-name", "Values": list(collector.LIVE_STATES)}]
    started = time.perf_counter()
    seen, token = 0, None
    while True:
        extra = {"NextToken": token} if token else {}
        page = ec2.describe_instances(Filters=filters, MaxResults=collector.PAGE_SIZE, **extra)
        seen += sum(len(r["Instances"]) for r in page["Reservations"])
        token = page.get("NextToken")
        if not token:
            return time.perf_counter() - started, seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    collector.PAGE_SIZE = max(1, REAL_PAGE // BATCH)
    with mock_aws():
        started = time.perf_counter()
        reservations = seed(args.instances)
        print(
            f"seeded {args.instances} instances in {reservations} reservations "
            f"({time.perf_counter() - started:.1f} s)"
        )
        session = boto3.session.Session(region_name=REGION)
        bare_paging(session)  # warm-up: moto builds its responses lazily on the first call
        paging_s, seen = bare_paging(session)
        calls: Counter[str] = Counter()
        session.events.register(
            "before-call",
            lambda model, **_: calls.update([f"{model.service_model.service_name}:{model.name}"]),
        )
        started = time.perf_counter()
        report = scan(session, [REGION], load_policy(None))
        scan_s = time.perf_counter() - started
    total = report["summary"]["total_instances"]
    ratio = scan_s / paging_s
    per_1000 = sum(calls.values()) * 1000 / max(total, 1)
    pages = calls["ec2:DescribeInstances"]
    print(f"bare DescribeInstances paging: {paging_s:.2f} s for {seen} instances ({pages} pages)")
    print(f"full scan (default rules):     {scan_s:.2f} s for {total} instances")
    print(f"ratio scan / paging:           {ratio:.2f} (goal <= {GOAL_RATIO})")
    print(
        f"API calls:                     {sum(calls.values())} = {per_1000:.1f} per 1,000 "
        f"instances (goal <= {GOAL_CALLS_PER_1000})"
    )
    for operation, count in sorted(calls.items()):
        print(f"  {operation}: {count}")
    codes = ", ".join(f"{e['operation']} {e['code']}" for e in report["errors"])
    print(f"errors recorded: {len(report['errors'])} ({codes})")
    print(f"compliance rate: {report['summary']['compliance_rate']}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
