"""Fleet at scale, on the real pulumi CLI with component-only stacks: change-aware rollouts and
the fleet views.

1. N targets deployed once with `ec2c rollout`; then 2 of them changed: the change-aware
   rollout (the default) against `--force` (every target) and against deploying the 2 changed
   targets alone (a plan of just those two, `--force`). Goal: change-aware <= 1.2x the 2 alone.
2. `ec2c status --plan` and `ec2c report --plan` (latest reports in moto buckets) at several
   plan sizes, one target at a time (`--workers 1`) and with 8 workers: seconds per target.
   Goal: status <= 0.1 s per target with 8 workers at N = 48.

Every figure is a whole `ec2c` process (wall time, best of `--repeat`, and its peak RSS from
`wait4`), as a user or a CI job runs it.

    python benchmarks/fleet.py [--targets 48] [--changed 2] [--sizes 12,24,48] [--repeat 2]
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


def _best(command: list[str], env: dict[str, str], cwd: Path, repeat: int) -> tuple[float, float, str]:
    runs = [_run_measured(command, env, cwd) for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def _run_measured(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """As `_run`, with the child reaped by `wait4` so its own peak RSS is known."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=errors, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        took = time.perf_counter() - started
        out.seek(0)
        errors.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command[3:6])} failed ({proc.returncode}): {errors.read()[-1500:]}")
        return took, usage.ru_maxrss / 1024, out.read()


def _write_plan(path: Path, targets: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"waves": [{"name": "all", "parallelism": 8, "targets": targets}]}))
    return path


def _counts(out: str) -> dict[str, int]:
    return json.loads(out)["counts"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=48)
    parser.add_argument("--changed", type=int, default=2)
    parser.add_argument("--sizes", default="12,24,48", help="plan sizes for the fleet views (at most --targets)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    sizes = sorted({min(int(n), args.targets) for n in args.sizes.split(",")})
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    print(f"cores: {os.cpu_count()}; targets: {args.targets}; changed: {args.changed}; best of {args.repeat}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = root / "config"
        config.mkdir()
        (config / "defaults.yaml").write_text("program: tests.engine.programs:fake_analyzer\n")
        (config / "fleet.yaml").write_text("aws: {region: eu-west-1, account_id: '123456789012'}\n")
        targets = [{"env": "fleet", "stack": f"fleet-{i}"} for i in range(args.targets)]
        plan = _write_plan(root / "plan.yaml", targets)
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
        rollout = [*EC2C, "rollout", "--json", "--plan"]
        took, rss, out = _run_measured([*rollout, str(plan)], env, root)
        print(
            f"first rollout of {args.targets} targets (parallelism 8): {took:.1f} s, peak RSS {rss:.0f} MB, {_counts(out)}"
        )

        figures = {}
        for revision in range(2, 2 + args.repeat):
            for target in targets[: args.changed]:
                target["tags"] = {"Revision": str(revision)}
            _write_plan(plan, targets)
            took, rss, out = _run_measured([*rollout, str(plan)], env, root)
            counts = _counts(out)
            if counts["deployed"] != args.changed or counts["unchanged"] != args.targets - args.changed:
                raise SystemExit(f"the change-aware rollout did not deploy exactly the changed targets: {counts}")
            figures.setdefault("changed", []).append((took, rss))
        alone = _write_plan(root / "changed.yaml", targets[: args.changed])
        figures["alone"] = [_run_measured([*rollout, str(alone), "--force"], env, root)[:2] for _ in range(args.repeat)]
        figures["force"] = [_run_measured([*rollout, str(plan), "--force"], env, root)[:2] for _ in range(args.repeat)]
        best = {name: min(runs) for name, runs in figures.items()}
        print(
            f"rollout with {args.changed} of {args.targets} changed: change-aware {best['changed'][0]:.2f} s "
            f"(peak RSS {best['changed'][1]:.0f} MB), the {args.changed} changed alone {best['alone'][0]:.2f} s, "
            f"--force (all {args.targets}) {best['force'][0]:.2f} s"
        )
        print(
            f"  change-aware / {args.changed} alone: {best['changed'][0] / best['alone'][0]:.2f}x (goal <= 1.2x); "
            f"--force / change-aware: {best['force'][0] / best['changed'][0]:.1f}x"
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
        for size in sizes:
            sized = _write_plan(root / f"plan-{size}.yaml", targets[:size])
            for name, command in (("status", ["status", "--json"]), ("report", ["report", "--format", "json"])):
                line = []
                for workers in (1, 8):
                    full = [*EC2C, command[0], "--plan", str(sized), *command[1:], "--workers", str(workers)]
                    took, rss, _ = _best(full, env, root, args.repeat)
                    line.append(
                        f"--workers {workers}: {took:.2f} s ({took / size:.3f} s/target, peak RSS {rss:.0f} MB)"
                    )
                print(f"ec2c {name:6} --plan, {size:3} targets: " + "; ".join(line))
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
