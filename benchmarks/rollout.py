"""Rollout speed-up and teardown latency, on the real pulumi CLI.

1. N component-only stacks deployed sequentially, then in parallel, through the same
   `rollout.execute` + `lifecycle.run_operation` path as `ec2c rollout`, on a throw-away embedded
   backend. `--io-wait S` makes each program wait S seconds the way a slow cloud API does (real
   deployments are dominated by waiting on AWS, not by CPU).
2. Teardown latency: `ec2c test` is sent SIGTERM (to its PID only, as docker and CI do) while its
   tests run, and while `up` runs; the figure is the time from the signal until the process has
   exited with the stack destroyed and removed.

    python benchmarks/rollout.py [--stacks 8] [--parallelism 8] [--io-wait 5] [--skip-teardown]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console

from ec2c.orchestrator.deploy.inputs.environments import ConfigDir
from ec2c.orchestrator.deploy.programs import resolve_program
from ec2c.orchestrator.deploy.rollouts.rollout import Plan, PlannedTarget, execute
from ec2c.orchestrator.deploy.stack.lifecycle import run_operation
from ec2c.orchestrator.deploy.stack.progress import ProgressView
from ec2c.orchestrator.deploy.stack.workspace import StackTarget
from ec2c.orchestrator.engine.pulumi_cli import require_engine

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1")


def _project(folder: Path) -> ConfigDir:
    config = folder / "config"
    config.mkdir()
    (config / "defaults.yaml").write_text("program: tests.engine.programs:fake_analyzer\n")
    (config / "bench.yaml").write_text("aws: {region: us-east-1}\n")
    return ConfigDir(config)


def _timed_rollout(config: ConfigDir, stacks: int, parallelism: int, prefix: str) -> float:
    engine = require_engine()
    targets = [
        PlannedTarget(
            wave="all",
            env=config.load("bench", {"stack": f"{prefix}-{i}", "aws": {"region": REGIONS[i % len(REGIONS)]}}),
        )
        for i in range(stacks)
    ]
    quiet = Console(file=open(os.devnull, "w"))

    def run_one(target: PlannedTarget, op):
        stack = StackTarget(env=target.env, stack_name=target.stack_name, root=config.root)
        return run_operation(stack, engine, op, resolve_program(target.env), ProgressView(quiet, quiet=True))

    report = execute(Plan(fail_fast=True, waves=[("all", parallelism, targets)]), "up", run_one)
    if not report.ok:
        raise SystemExit(f"rollout failed: {[o.error for o in report.outcomes if o.error]}")
    return report.duration_s


REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "tests" / "engine" / "suites" / "failing"


def _teardown_latency(config: ConfigDir, phase: str) -> float:
    """Seconds from SIGTERM (to the PID) until the stack is removed from the backend.

    (During `up` the process itself may exit later: it lets the inline program's thread finish.)
    """
    marker = config.root / "running"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "EC2C_CONFIG_DIR": str(config.path), "PYTHONPATH": str(REPO), "EC2C_TEST_PROGRAM_DELAY": "0"}
    if phase == "tests":
        env.update(EC2C_TEST_HOLD="120", EC2C_TEST_MARKER=str(marker))
    else:
        env["EC2C_TEST_PROGRAM_DELAY"] = "30"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ec2c.orchestrator",
            "test",
            "--env",
            "bench",
            "--tests",
            str(SUITE),
            "--",
            "-o",
            "python_files=check_*.py",
        ],
        cwd=config.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    locks = config.root / ".pulumi-state" / ".pulumi" / "locks"
    ready = marker.exists if phase == "tests" else (lambda: locks.exists() and any(locks.rglob("*.json")))
    deadline = time.monotonic() + 120
    while not ready():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"ec2c test never reached the {phase} phase")
        time.sleep(0.05)
    stacks = config.root / ".pulumi-state" / ".pulumi" / "stacks" / "ec2-compliance"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    while any(stacks.glob("bench-*.json")) and proc.poll() is None:
        time.sleep(0.02)
    took = time.monotonic() - started
    proc.wait(timeout=300)
    left = [p.name for p in stacks.glob("bench-*.json")]
    if proc.returncode != 143 or left:
        raise SystemExit(f"teardown after SIGTERM during {phase}: exit {proc.returncode}, stacks left {left}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=8)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--io-wait", type=float, default=0.0, help="seconds each program waits, like a cloud API")
    parser.add_argument("--skip-teardown", action="store_true", help="only the rollout figures")
    args = parser.parse_args()
    os.environ.setdefault("PULUMI_CONFIG_PASSPHRASE", "benchmark")
    os.environ["EC2C_TEST_PROGRAM_DELAY"] = str(args.io_wait)
    with tempfile.TemporaryDirectory() as tmp:
        config = _project(Path(tmp))
        sequential = _timed_rollout(config, args.stacks, 1, "seq")
        parallel = _timed_rollout(config, args.stacks, args.parallelism, "par")
        latencies = {} if args.skip_teardown else {p: _teardown_latency(config, p) for p in ("tests", "up")}
    print(f"stacks:              {args.stacks}")
    print(f"cores:               {os.cpu_count()}")
    print(f"io wait per stack:   {args.io_wait:.1f} s")
    print(f"sequential:          {sequential:.2f} s ({sequential / args.stacks:.2f} s per stack)")
    print(f"{f'parallel (x{args.parallelism}):':<21}{parallel:.2f} s")
    print(f"speed-up:            {sequential / parallel:.2f}x")
    for phase, took in latencies.items():
        print(f"{f'teardown ({phase}):':<21}{took:.2f} s from SIGTERM to stack removed")


if __name__ == "__main__":
    main()
