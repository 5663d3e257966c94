"""Fleet view speed: `ec2c status --plan` and `ec2c report --plan` over N targets, one target at
a time (`--workers 1`) against the default parallel reads (`--workers 8`), on the real pulumi CLI.

Deploys N component-only stacks (the engine tests' fake analyzer, which exports the analyzer's
output names) with `ec2c rollout`, seeds a latest.json per target in buckets on a moto server,
then times whole `ec2c` processes, best of `--repeat`.

    python benchmarks/fleet.py [--targets 24] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import requests
import yaml
from moto.server import ThreadedMotoServer

REPO = Path(__file__).resolve().parents[1]
EC2C = [sys.executable, "-m", "ec2c.orchestrator"]


def _report(index: int) -> dict:
    compliant, failing = 10 + index, index % 5
    return {
        "schema_version": 2,
        "run_id": f"run-{index}",
        "generated_at": "2026-11-26T06:00:00Z",
        "account_id": f"{100000000000 + index % 4}",
        "regions": ["eu-west-1"],
        "partial": False,
        "errors": [],
        "summary": {
            "total_instances": compliant + failing,
            "compliant_instances": compliant,
            "non_compliant_instances": failing,
            "unevaluated_instances": 0,
            "compliance_rate": round(100 * compliant / (compliant + failing), 2),
            "by_rule": {},
            "by_severity": {"high": failing},
        },
        "findings": [],
        "account_findings": [],
    }


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:5])} failed ({result.returncode}): {result.stderr[-1500:]}")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = root / "config"
        config.mkdir()
        (config / "defaults.yaml").write_text("program: tests.engine.programs:fake_analyzer\n")
        (config / "fleet.yaml").write_text("aws: {region: eu-west-1, account_id: '123456789012'}\n")
        targets = [{"env": "fleet", "stack": f"fleet-{i}"} for i in range(args.targets)]
        plan = root / "plan.yaml"
        plan.write_text(yaml.safe_dump({"waves": [{"name": "all", "parallelism": 8, "targets": targets}]}))
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "EC2C_CONFIG_DIR": str(config),
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": endpoint,
            "EC2C_TEST_BUCKET": "reports-{stack}",
            "PULUMI_CONFIG_PASSPHRASE": "bench",
        }
        started = time.perf_counter()
        _timed([*EC2C, "rollout", "--plan", str(plan), "--json"], env, root)
        print(
            f"deployed {args.targets} stacks with ec2c rollout (parallelism 8): {time.perf_counter() - started:.1f} s"
        )
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="eu-west-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        for index in range(args.targets):
            bucket = f"reports-fleet-{index}"
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            s3.put_object(Bucket=bucket, Key="reports/latest.json", Body=json.dumps(_report(index)).encode())
        print(f"cores: {os.cpu_count()}; targets: {args.targets}; best of {args.repeat}")
        for name, command in (("status", ["status", "--json"]), ("report", ["report", "--format", "json"])):
            figures = {}
            for workers in (1, 8):
                full = [*EC2C, *command[:1], "--plan", str(plan), *command[1:], "--workers", str(workers)]
                figures[workers] = min(_timed(full, env, root) for _ in range(args.repeat))
            print(
                f"ec2c {name:6} --plan: sequential (--workers 1) {figures[1]:.2f} s, parallel (--workers 8) "
                f"{figures[8]:.2f} s, speed-up {figures[1] / figures[8]:.2f}x"
            )
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
