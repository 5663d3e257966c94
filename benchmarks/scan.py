"""Whole-process scan benchmark: `ec2c scan` vs a bare DescribeInstances script, on a moto server.

Serves moto on 127.0.0.1 (in this process, behind a request-counting middleware), seeds a fleet
of N instances (default 2,000) over 3 regions, then times two separate processes end to end,
start-up included, each run `--repeat` times (the best run counts):

* the floor: a bare script that pages through DescribeInstances in every region, as fast as a
  script can (MaxResults 1000, nothing else);
* `ec2c scan --regions ... --format json` with the default policy (every default rule, SSM
  included, which moto's server lacks: the scanner reports that gap once and moves on).

It prints both times, their ratio, and the API calls the scan made per 1,000 instances.
Goals: ratio <= 1.2 and <= 15 calls per 1,000 instances.

    .venv/bin/python benchmarks/scan.py [--instances 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[1]
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
IMAGES = ("ami-760aaa0f", "ami-1e749f67", "ami-03cf127a")
TYPES = ("t3.micro", "m5.large", "m1.small", "c5.xlarge")
BATCH = 250
GOAL_RATIO = 1.2
GOAL_CALLS_PER_1000 = 15
BARE_SCRIPT = """
import sys, boto3
total = 0
for region in sys.argv[1:]:
    ec2 = boto3.client("ec2", region_name=region)
    for page in ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 1000}):
        total += sum(len(r["Instances"]) for r in page["Reservations"])
print(total)
"""


class CountingServer:
    """moto's server app, counting each request by operation (X-Amz-Target or the query Action)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self._app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, self._count, threaded=True)
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _count(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target is None:
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
            target = action
        operation = target.split(".")[-1]
        self.calls[operation] += 1
        started = time.perf_counter()
        try:
            return self._app(environ, start_response)
        finally:
            self.seconds[operation] += time.perf_counter() - started

    def stop(self) -> None:
        self._server.shutdown()


def _security_groups(ec2: Any) -> list[str]:
    rules = [
        [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        [{"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
        [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    ]
    groups = []
    for index, permissions in enumerate(rules):
        group_id = ec2.create_security_group(GroupName=f"bench-{index}", Description="bench")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        groups.append(group_id)
    return groups


def seed(total: int) -> None:
    """Spread `total` instances over REGIONS, in reservations of BATCH."""
    per_region = [total // len(REGIONS) + (1 if i < total % len(REGIONS) else 0) for i in range(len(REGIONS))]
    for region, count in zip(REGIONS, per_region, strict=True):
        ec2 = boto3.client("ec2", region_name=region)
        groups = _security_groups(ec2)
        launched = n = 0
        while launched < count:
            size = min(BATCH, count - launched)
            ec2.run_instances(
                ImageId=IMAGES[n % len(IMAGES)],
                InstanceType=TYPES[n % len(TYPES)],
                MinCount=size,
                MaxCount=size,
                SecurityGroupIds=[groups[n % len(groups)], groups[(n + 1) % len(groups)]],
                BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": n % 2 == 0}}],
                TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Owner", "Value": f"team-{n % 3}"}]}],
            )
            launched += size
            n += 1


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    took = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"{command[:4]} failed ({result.returncode}): {result.stderr[-2000:]}")
    return took, result.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGIONS[0],
    }.items():
        os.environ.setdefault(name, value)
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto logs a traceback per unimplemented call
    server = CountingServer()
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint
    started = time.perf_counter()
    seed(args.instances)
    print(f"seeded {args.instances} instances in {len(REGIONS)} regions ({time.perf_counter() - started:.1f} s)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bare_cmd = [sys.executable, "-c", BARE_SCRIPT, *REGIONS]
    scan_cmd = [sys.executable, "-m", "ec2c.orchestrator", "scan", "--regions", ",".join(REGIONS), "--format", "json"]
    timed(bare_cmd, env)  # warm-up: moto renders its responses lazily on first use
    bare = min(timed(bare_cmd, env)[0] for _ in range(args.repeat))

    def best(command: list[str]) -> tuple[float, Counter[str], Counter[str], str]:
        runs = []
        for _ in range(args.repeat):
            server.calls.clear()
            server.seconds.clear()
            took, stdout = timed(command, env)
            runs.append((took, Counter(server.calls), Counter(server.seconds), stdout))
        return min(runs, key=lambda item: item[0])

    scan_s, calls, seconds, stdout = best(scan_cmd)
    one_at_a_time = best([*scan_cmd, "--region-workers", "1"])[0]
    import json

    report = json.loads(stdout)
    total = report["summary"]["total_instances"]
    scanner_calls = sum(n for op, n in calls.items() if op != "GetCallerIdentity")
    per_1000 = scanner_calls * 1000 / max(total, 1)
    ratio = scan_s / bare
    print(f"cores:                          {os.cpu_count()}")
    print(f"bare DescribeInstances script:  {bare:.2f} s (whole process, best of {args.repeat})")
    print(
        f"ec2c scan (default rules):      {scan_s:.2f} s for {total} instances (whole process, best of {args.repeat})"
    )
    print(f"ratio scan / bare:              {ratio:.2f} (goal <= {GOAL_RATIO})")
    print(
        f"ec2c scan --region-workers 1:   {one_at_a_time:.2f} s, ratio {one_at_a_time / bare:.2f} (moto's server is "
        "one Python process: concurrent regions contend for its GIL, unlike AWS)"
    )
    print(
        f"API calls of the scan:          {scanner_calls} = {per_1000:.1f} per 1,000 instances "
        f"(goal <= {GOAL_CALLS_PER_1000}); plus {calls['GetCallerIdentity']} sts:GetCallerIdentity"
    )
    for operation, count in sorted(calls.items()):
        print(f"  {operation}: {count} ({seconds[operation]:.2f} s in the server)")
    errors = ", ".join(sorted({f"{e['operation']} {e['code']}" for e in report["errors"]}))
    print(f"errors recorded: {len(report['errors'])} ({errors})")
    print(f"compliance rate: {report['summary']['compliance_rate']}")
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
