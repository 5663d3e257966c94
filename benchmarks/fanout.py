"""Fan-out benchmark: the Step Functions scan of several regions, at one and at several workers at once.

The deployed scan is a state machine (`ec2c.scanner.run.workflow.definition`): Plan, a Map over
the regions at MaxConcurrency workers, each region's worker invoked until its region is done
(ScanRegion, MoreToScan), then Aggregate. This script runs that very definition and measures, for
each MaxConcurrency asked (default 1 and 6), what the execution costs:

* its wall time, from StartExecution to the end of the execution;
* the worker invocations (the scan_region events), in total and per region: a region larger
  than one invocation's time budget goes on in the next invocation;
* the state transitions: the *StateEntered events of the execution's history (Step Functions
  bills a standard workflow per state transition);
* the instances in the report, which must be whole (not partial, every region complete);
* this process's CPU time (user + system, getrusage) over the run, to tell whether the run
  was CPU-bound, and each concurrency's speed-up against the first.

How: moto's Step Functions interpreter runs the execution in this process
(`mock_aws(config={"stepfunctions": {"execute_state_machine": True}})`); its Lambda tasks reach
the real handler (`ec2c.scanner.run.handler.handler`) through the one seam of the tests
(`tests.sfn_seam.LocalLambda`), whose `clock` gives each invocation a real-time budget: a
simulated function timeout (`--lambda-timeout-s`) minus the time the invocation has taken so
far, of which the scanner keeps max(15 s, 10 %) in reserve (`budget.TimeBudget`). The default
timeout, 25 s, leaves 10 s for listing a region of 5,000 instances that takes about 25 s here
(about 4.7 s a page of 1,000 at MaxConcurrency 1), so each region needs several invocations.

The time an invocation has taken is, by default (`--clock share`), its share of this process's
wall time: while n invocations run at once, each is charged 1/n of every second. At
MaxConcurrency 1 that is the wall time itself. At 6 it stands for the Lambda with a CPU of its
own that each worker is in AWS: here the six share one interpreter lock, one core's worth of CPU
(the CPU / wall figure says how much they had), and a page takes six times the wall time (33 s a
page at MaxConcurrency 6 with a 900 s timeout, one invocation per region). On the wall clock
itself (`--clock wall`) a worker at MaxConcurrency 6 must therefore have a timeout above about
50 s (a 33 s page plus the 15 s reserve) or fail for want of progress, and with such a timeout a
region at MaxConcurrency 1 fits one invocation: the two concurrencies would not run the same
work. moto's retrier would sleep between attempts: the waits are recorded and printed instead (no
attempt is expected to fail). Before each run the report bucket is emptied, so that every run is
a first run with the same work.

The fleet is seeded once, before the runs (its time is printed apart, not in the figures): in
each region the same mixed fleet as `scale.py`'s (`scale.seed_fleet`, written into moto's EC2
backend in-process), with its own instance ids. The policy is the default one minus the rules
whose reads moto does not serve: ssm_managed (ssm:DescribeInstanceInformation) and the three
account guardrails imds_defaults_v2, snapshot_block_public_access and image_block_public_access
(GetInstanceMetadataDefaults, GetSnapshotBlockPublicAccessState, GetImageBlockPublicAccessState,
which moto answers as not offered; see tests/unit/scanner/test_region_resources.py), so that no
region carries an error of moto's. The report's errors are printed; only a report that is not
whole (partial, a region incomplete or missing) fails the benchmark, with exit status 1.

The adjustments of moto are `scale.py`'s, applied to each region's backend so that moto's own
quadratic behaviour stays out of the figures: an instance per reservation (moto pages
DescribeInstances by reservations), an instance's tags looked up by id (moto scans every tag of
every resource for each instance it returns), DescribeVolumes paged by MaxResults and its id
filters matched by set membership. After seeding, the fleet is frozen out of the garbage
collector's reach (gc.freeze).

Everything (moto's APIs, the interpreter and every worker) shares this one Python process: the
speed-up is bounded by its interpreter lock (at most one core's worth of Python at a time, what
the CPU / wall figure shows) and costs CPU of its own (garbage collections over six workers'
pages at once, the lock handed between two cores: both are printed), not by the regions' APIs as
in AWS, where each worker is a Lambda of its own.

    .venv/bin/python benchmarks/fanout.py [--regions 6] [--instances 5000] [--concurrency 1,6]
                                          [--lambda-timeout-s 25] [--clock share|wall]
"""

from __future__ import annotations

import argparse
import gc
import io
import ipaddress
import json
import logging
import os
import resource
import sys
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
for _path in (BENCHMARKS, REPO):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import boto3  # noqa: E402
import pytest  # noqa: E402
import scale  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl  # noqa: E402

from ec2c.scanner import contract, workflow  # noqa: E402
from ec2c.scanner.reports.reader import load_latest  # noqa: E402
from ec2c.scanner.run.handler import handler  # noqa: E402
from ec2c.scanner.storage import S3Store  # noqa: E402
from tests.sfn_seam import LocalLambda  # noqa: E402

HOME_REGION = scale.REGION
ALL_REGIONS = (
    "us-east-1",
    "eu-west-1",
    "us-west-2",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "us-east-2",
    "us-west-1",
    "eu-west-2",
    "eu-north-1",
    "ap-south-1",
    "ca-central-1",
)
BUCKET = scale.BUCKET
UNSERVED_BY_MOTO = ("ssm_managed", "imds_defaults_v2", "snapshot_block_public_access", "image_block_public_access")
POLICY = {"rules": {rule_id: {"enabled": False} for rule_id in UNSERVED_BY_MOTO}}
DEFAULT_REGIONS = 6
DEFAULT_INSTANCES = 5000
DEFAULT_CONCURRENCY = "1,6"
DEFAULT_TIMEOUT_S = 25.0
POLL_S = 0.1
EXECUTION_DEADLINE_S = 3600


@dataclass
class Invocation:
    """One Lambda invocation as the seam ran it: its wall time, and its share of the process's."""

    action: str
    region: str | None
    wall_s: float
    share_s: float


class Shares:
    """The wall time of the process shared out among the invocations running at once: while n of
    them run, each is charged 1/n of every second. All of them share one interpreter lock, one
    core's worth of CPU (the CPU / wall figure says how much they had), where in AWS each would
    be a Lambda with a CPU of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._charged: dict[int, float] = {}
        self._since = time.monotonic()
        self._next = 0

    def _advance(self, now: float) -> None:
        if self._charged:
            share = (now - self._since) / len(self._charged)
            for key in self._charged:
                self._charged[key] += share
        self._since = now

    def start(self) -> int:
        with self._lock:
            self._advance(time.monotonic())
            self._next += 1
            self._charged[self._next] = 0.0
            return self._next

    def taken(self, key: int) -> float:
        with self._lock:
            now = time.monotonic()
            if key not in self._charged:
                return 0.0
            return self._charged[key] + (now - self._since) / len(self._charged)

    def end(self, key: int) -> float:
        with self._lock:
            self._advance(time.monotonic())
            return self._charged.pop(key, 0.0)


class Remaining:
    """An invocation's get_remaining_time_in_millis: the simulated timeout minus the time it has
    taken, on the wall clock (`wall`) or as its share of the process's wall time (`share`)."""

    def __init__(self, timeout_s: float, clock: str, shares: Shares) -> None:
        self.timeout_ms = timeout_s * 1000
        self.by_share = clock == "share"
        self.shares = shares
        self.key = shares.start()
        self.started = time.monotonic()
        self.wall_s: float | None = None
        self.share_s: float | None = None

    def taken_s(self) -> float:
        return self.shares.taken(self.key) if self.by_share else time.monotonic() - self.started

    def __call__(self) -> int:
        return int(self.timeout_ms - self.taken_s() * 1000)

    def end(self) -> None:
        self.wall_s, self.share_s = time.monotonic() - self.started, self.shares.end(self.key)


@dataclass
class Timed:
    """The handler behind the seam, with a time budget per invocation; each invocation recorded."""

    timeout_s: float
    clock_kind: str
    shares: Shares = field(default_factory=Shares)
    invocations: list[Invocation] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def clock(self, event: dict[str, Any]) -> Callable[[], int]:
        """The seam's clock: called as the invocation starts, before the handler runs."""
        return Remaining(self.timeout_s, self.clock_kind, self.shares)

    def __call__(self, event: Any, context: Any) -> Any:
        remaining = context.get_remaining_time_in_millis
        try:
            return handler(event, context)
        finally:
            remaining.end()
            invocation = Invocation(str(event.get("action")), event.get("region"), remaining.wall_s, remaining.share_s)
            with self._lock:
                self.invocations.append(invocation)

    def taken(self, invocation: Invocation) -> float:
        """What the budget counted of the invocation."""
        return invocation.share_s if self.clock_kind == "share" else invocation.wall_s


class Collections:
    """The garbage collector's passes and the seconds they took, while installed."""

    def __init__(self) -> None:
        self.passes: Counter[int] = Counter()
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.passes[info["generation"]] += 1

    def __enter__(self) -> Collections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self)


@dataclass
class Run:
    concurrency: int
    timed: Timed
    wall_s: float
    cpu_s: float
    user_s: float
    switches: tuple[int, int]
    """Context switches of the process (voluntary, involuntary): waits for the interpreter lock are voluntary."""
    status: str
    result: dict[str, Any] | None
    index: dict[str, Any] | None
    transitions: int
    entered: Counter[str]
    workers: Counter[str]
    invocations: list[Invocation]
    retries: list[float]
    collections: Collections

    @property
    def instances(self) -> int:
        return int(self.index["summary"]["total_instances"]) if self.index else 0

    def whole(self, regions: list[str], per_region: int) -> list[str]:
        """What keeps the report from being whole (empty when it is)."""
        problems = []
        if self.status != "SUCCEEDED":
            problems.append(f"execution {self.status}")
        if self.result is None or self.result.get("status") != "ok":
            problems.append(f"aggregate status {self.result and self.result.get('status')!r}")
        if self.index is None:
            return [*problems, "no report stored"]
        if self.index["partial"]:
            problems.append(f"partial: {self.index['partial_reason']}")
        shards = {entry["region"]: entry for entry in self.index["region_shards"]}
        for region in regions:
            entry = shards.get(region)
            if entry is None or not entry["complete"] or entry["instances"] != per_region:
                problems.append(f"{region}: {entry and {k: entry[k] for k in ('complete', 'instances')}}")
        return problems


class Account:
    """A moto account with the report bucket, the scanner function, and a fleet in each region."""

    def __init__(self, regions: list[str]) -> None:
        self.regions = regions
        self.session = boto3.session.Session(region_name=HOME_REGION)
        self.s3 = self.session.client("s3")
        self.s3.create_bucket(Bucket=BUCKET)
        iam = self.session.client("iam")
        self.role_arn = iam.create_role(RoleName="scan", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("index.py", "from ec2c.scanner.run.handler import handler\n")
        self.function_arn = self.session.client("lambda").create_function(
            FunctionName="scanner",
            Runtime="python3.12",
            Role=self.role_arn,
            Handler="index.handler",
            Code={"ZipFile": archive.getvalue()},
            Timeout=900,
        )["FunctionArn"]
        self.sfn = self.session.client("stepfunctions")

    def seed(self, instances: int) -> dict[str, float]:
        """The same fleet in every region (moto gives each instance its own id); seconds per region."""
        took = {}
        for region in self.regions:
            started = time.perf_counter()
            scale.seed_fleet(self.session.client("ec2", region_name=region), instances, "backend", region)
            took[region] = time.perf_counter() - started
        gc.collect()
        gc.freeze()  # the fleet is long-lived: keep the runs' collections from rescanning it
        return took

    def empty_bucket(self) -> None:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys})

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token: dict[str, str] = {}
        while True:
            page = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000, **token)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            token = {"nextToken": page["nextToken"]}

    def run(self, concurrency: int, timeout_s: float, clock: str, monkeypatch: pytest.MonkeyPatch) -> Run:
        self.empty_bucket()
        timed = Timed(timeout_s, clock)
        seam = LocalLambda(timed, clock=timed.clock)
        seam.install(monkeypatch)
        retries: list[float] = []
        monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=retries.append))
        definition = json.dumps(workflow.definition(self.function_arn, concurrency))
        machine = self.sfn.create_state_machine(
            name=f"scan-{concurrency}-{time.monotonic_ns()}", definition=definition, roleArn=self.role_arn
        )["stateMachineArn"]
        gc.collect()
        with Collections() as collections:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            started = time.monotonic()
            arn = self.sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
            while (described := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                if time.monotonic() - started > EXECUTION_DEADLINE_S:
                    raise SystemExit(
                        f"MaxConcurrency {concurrency}: the execution did not end in {EXECUTION_DEADLINE_S} s"
                    )
                time.sleep(POLL_S)
            wall = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
        events = self.history(arn)
        # Step Functions bills a standard workflow per state transition: each state entered is one.
        entered = Counter(e["type"] for e in events if e["type"].endswith("StateEntered"))
        report = load_latest(S3Store(self.s3, BUCKET))
        return Run(
            concurrency=concurrency,
            timed=timed,
            wall_s=wall,
            cpu_s=cpu,
            user_s=after.ru_utime - usage.ru_utime,
            switches=(after.ru_nvcsw - usage.ru_nvcsw, after.ru_nivcsw - usage.ru_nivcsw),
            status=described["status"],
            result=json.loads(described["output"]) if described.get("output") else None,
            index=report.index if report is not None else None,
            transitions=sum(entered.values()),
            entered=entered,
            workers=Counter(
                str(event["region"]) for event in seam.invocations if event.get("action") == workflow.ACTION_SCAN_REGION
            ),
            invocations=list(timed.invocations),
            retries=retries,
            collections=collections,
        )


def _details(run: Run, regions: list[str]) -> str:
    timed = run.timed
    workers = [i for i in run.invocations if i.action == workflow.ACTION_SCAN_REGION]
    others = ", ".join(
        f"{i.action} {i.wall_s:.1f} s" for i in run.invocations if i.action != workflow.ACTION_SCAN_REGION
    )
    over = [i for i in run.invocations if timed.taken(i) > timed.timeout_s]
    passes = run.collections.passes
    lines = [
        f"MaxConcurrency {run.concurrency}: {run.status} in {run.wall_s:.1f} s, process CPU {run.cpu_s:.1f} s "
        f"({run.cpu_s / run.wall_s:.2f} of one core; user {run.user_s:.1f} s, system {run.cpu_s - run.user_s:.1f} s), "
        f"of it garbage collection {run.collections.seconds:.1f} s "
        f"({', '.join(f'{passes[g]} of generation {g}' for g in sorted(passes))}); "
        f"context switches {run.switches[0]:,} voluntary, {run.switches[1]:,} involuntary",
        "worker invocations per region: " + ", ".join(f"{r} {run.workers[r]}" for r in regions),
    ]
    if workers:
        wall = [i.wall_s for i in workers]
        share = [i.share_s for i in workers]
        lines.append(
            f"worker invocations: {len(workers)}; wall time each {sum(wall) / len(wall):.1f} s on average, "
            f"{max(wall):.1f} s at most; share of the process's each {sum(share) / len(share):.1f} s on average, "
            f"{max(share):.1f} s at most (the budget counted the {timed.clock_kind}; timeout {timed.timeout_s:g} s)"
        )
    lines += [
        f"other invocations (wall): {others}",
        "states entered: " + ", ".join(f"{kind} {count}" for kind, count in sorted(run.entered.items())),
    ]
    if over:
        late = ", ".join(f"{i.action} {i.region or ''} {timed.taken(i):.1f} s".replace("  ", " ") for i in over)
        lines.append(f"OVER THE TIMEOUT (a Lambda would have been killed): {late}")
    if run.retries:
        lines.append(f"retries: {len(run.retries)} (backoff not slept: {sum(run.retries):.1f} s)")
    errors = run.index["errors"] if run.index else []
    if errors:
        lines.append(f"the report's errors ({len(errors)}): {json.dumps(errors)}")
    return "\n  ".join(lines)


def _table(runs: list[Run], regions: list[str]) -> str:
    first = runs[0]
    header = (
        "MaxConcurrency",
        "wall s",
        "CPU s",
        "CPU / wall",
        "worker invocations",
        "per region",
        "state transitions",
        "instances",
        "speed-up",
    )
    rows = [header, tuple("---" for _ in header)]
    for run in runs:
        rows.append(
            (
                str(run.concurrency),
                f"{run.wall_s:.1f}",
                f"{run.cpu_s:.1f}",
                f"{run.cpu_s / run.wall_s:.2f}",
                str(sum(run.workers.values())),
                " ".join(str(run.workers[r]) for r in regions),
                str(run.transitions),
                f"{run.instances:,}",
                f"{first.wall_s / run.wall_s:.2f}x",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "| " + " | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows
    )


def _concurrencies(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or any(not 1 <= v <= workflow.MAX_CONCURRENCY_LIMIT for v in values):
        raise argparse.ArgumentTypeError(
            f"expected MaxConcurrency values in 1..{workflow.MAX_CONCURRENCY_LIMIT}, got {text!r}"
        )
    return values


def _regions(text: str) -> int:
    count = int(text)
    if not 1 <= count <= len(ALL_REGIONS):
        raise argparse.ArgumentTypeError(f"expected 1..{len(ALL_REGIONS)} regions, got {text!r}")
    return count


def _instances(text: str) -> int:
    count = int(text.replace("_", ""))
    capacity = ipaddress.ip_network(scale.SUBNET_CIDR).num_addresses - 5
    if not 1 <= count <= capacity:
        raise argparse.ArgumentTypeError(f"expected 1..{capacity} instances a region (the subnet {scale.SUBNET_CIDR})")
    return count


def _environment() -> None:
    """The function's environment, as the stack sets it (no SNS topic, no Security Hub)."""
    for name in (contract.ENV_SNS_TOPIC_ARN, contract.ENV_SECURITY_HUB, "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": HOME_REGION,
            "AWS_DEFAULT_REGION": HOME_REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "REPORT_BUCKET": BUCKET,
            "METRIC_NAMESPACE": "EC2ComplianceBench",
            "COMPLIANCE_POLICY": json.dumps(POLICY),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--regions",
        type=_regions,
        default=DEFAULT_REGIONS,
        help=f"how many regions, from {', '.join(ALL_REGIONS)} (default {DEFAULT_REGIONS})",
    )
    parser.add_argument(
        "--instances",
        type=_instances,
        default=DEFAULT_INSTANCES,
        help=f"instances in each region (default {DEFAULT_INSTANCES})",
    )
    parser.add_argument(
        "--concurrency",
        type=_concurrencies,
        default=_concurrencies(DEFAULT_CONCURRENCY),
        help=f"comma-separated MaxConcurrency values, one run each (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--lambda-timeout-s",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"the simulated function timeout of every invocation (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--clock",
        choices=("share", "wall"),
        default="share",
        help="what an invocation's budget counts as its time taken: its share of the process's "
        "wall time (default; the wall time itself at MaxConcurrency 1), or the wall time",
    )
    args = parser.parse_args(argv)
    regions = list(ALL_REGIONS[: args.regions])
    _environment()
    os.environ["SCAN_REGIONS"] = ",".join(regions)
    logging.getLogger("ec2c.scanner").setLevel(logging.WARNING)
    runs: list[Run] = []
    with pytest.MonkeyPatch.context() as monkeypatch, scale.paged_volumes():
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            account = Account(regions)
            seeded = account.seed(args.instances)
            print(
                f"seeded {args.instances:,} instances in each of {len(regions)} regions in "
                f"{sum(seeded.values()):.1f} s ({', '.join(f'{r} {s:.1f} s' for r, s in seeded.items())})"
                " -- not in the figures",
                flush=True,
            )
            for concurrency in args.concurrency:
                run = account.run(concurrency, args.lambda_timeout_s, args.clock, monkeypatch)
                runs.append(run)
                print(_details(run, regions), flush=True)
                problems = run.whole(regions, args.instances)
                if problems:
                    print(f"MaxConcurrency {concurrency}: the report is not whole: {'; '.join(problems)}")
                    print(json.dumps(run.result, indent=2, default=str))
                    return 1
    print(
        f"\ncores: {os.cpu_count()}; {len(regions)} regions x {args.instances:,} instances "
        f"({', '.join(regions)}; home {HOME_REGION}); simulated Lambda timeout {args.lambda_timeout_s:g} s "
        f"an invocation (the budget keeps max(15 s, 10 %) of it in reserve), time taken counted as the "
        f"{'share of the wall time' if args.clock == 'share' else 'wall time'}; policy {json.dumps(POLICY)} "
        "(the default otherwise)\n"
    )
    print(_table(runs, regions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
