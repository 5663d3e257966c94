"""Rollout speed-up: N component-only stacks deployed sequentially, then in parallel.

Prints the wall time of each run and their ratio. Uses the real pulumi CLI through the same
`rollout.execute` + `lifecycle.run_operation` path as `ec2c rollout`, on a throw-away embedded
backend, with a component-only program (no provider plugin needed).

    python benchmarks/rollout.py [--stacks 8] [--parallelism 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402

from orchestrator.deploy.engine import require_engine  # noqa: E402
from orchestrator.deploy.environments import ConfigDir  # noqa: E402
from orchestrator.deploy.lifecycle import run_operation  # noqa: E402
from orchestrator.deploy.programs import resolve_program  # noqa: E402
from orchestrator.deploy.progress import ProgressView  # noqa: E402
from orchestrator.deploy.rollout import Plan, PlannedTarget, execute  # noqa: E402
from orchestrator.deploy.workspace import StackTarget  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=8)
    parser.add_argument("--parallelism", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("PULUMI_CONFIG_PASSPHRASE", "benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        config = _project(Path(tmp))
        sequential = _timed_rollout(config, args.stacks, 1, "seq")
        parallel = _timed_rollout(config, args.stacks, args.parallelism, "par")
    print(f"stacks:              {args.stacks}")
    print(f"cores:               {os.cpu_count()}")
    print(f"sequential:          {sequential:.2f} s ({sequential / args.stacks:.2f} s per stack)")
    print(f"{f'parallel (x{args.parallelism}):':<21}{parallel:.2f} s")
    print(f"speed-up:            {sequential / parallel:.2f}x")


if __name__ == "__main__":
    main()
