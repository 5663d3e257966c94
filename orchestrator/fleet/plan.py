"""Every target of a rollout plan, read in parallel: the data behind `ec2c status`, `ec2c drift`
and `ec2c report --plan`.

Each target is read `workers` at a time: its stack straight from the backend's files for status
and report (no engine process per target; drift needs the engine's refresh preview), the latest
report's index from the bucket its outputs name, with the caller's credentials. The estate's
findings stay in the targets' shards and are streamed by the format written
(`reporting.estate.Estate`), never gathered in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ec2c.scanner.contract import LATEST_REPORT_KEY
from ec2c.scanner.documents import iso_utc
from ec2c.scanner.reports.reader import Report, load_latest
from ec2c.scanner.storage import ReportReadError, S3Store

from ..deploy.inputs.environments import ConfigDir, locate_config_dir
from ..deploy.inputs.fingerprint import scanner_sha256
from ..deploy.rollouts.rollout import PlannedTarget, load_plan
from ..engine.pulumi_cli import require_engine
from ..reporting.estate import Estate
from ..scan.aws import checked_session
from .drift import TargetDrift, detect
from .status import TargetStatus, read_all, read_target


def plan_targets(plan: Path, config_dir: Path | None) -> tuple[ConfigDir, list[PlannedTarget]]:
    """The config folder and every target of the plan's waves, in plan order."""
    config = locate_config_dir(config_dir)
    return config, [target for _, _, wave in load_plan(plan, config).waves for target in wave]


def latest_reader(session: Any) -> Callable[[str, str], Report]:
    """`fetch(bucket, region)`: the latest report of a bucket, read with `session`'s credentials;
    a ReportReadError (one line: the object, then why) when there is none or it is unusable."""
    lock = threading.Lock()  # a boto3 session is not thread-safe; the clients it makes are

    def fetch(bucket: str, region: str) -> Report:
        with lock:
            client = session.client("s3", region_name=region)
        store = S3Store(client, bucket)
        report = load_latest(store)
        if report is None:
            raise ReportReadError(
                store.uri(LATEST_REPORT_KEY),
                "no report yet; the analyzer has not completed a "
                "scan (its schedule runs it, or `ec2c run --env <env>` starts one now)",
            )
        return report

    return fetch


def read_plan(plan: Path, config_dir: Path | None, workers: int) -> list[TargetStatus]:
    """Every target's `TargetStatus`, in plan order; one `pulumi version` for the whole plan (the
    engine's version is part of each target's inputs fingerprint)."""
    config, targets = plan_targets(plan, config_dir)
    engine_version = require_engine().version
    local = scanner_sha256()
    fetch = latest_reader(checked_session())
    return read_all(targets, lambda target: read_target(target, config.root, engine_version, local, fetch), workers)


def read_drift(plan: Path, config_dir: Path | None, workers: int) -> list[TargetDrift]:
    """Every target's drift (a refresh preview: writes nothing), in plan order."""
    config, targets = plan_targets(plan, config_dir)
    engine = require_engine()
    return read_all(targets, lambda target: detect(target, config.root, engine), workers)


def estate_report(plan: Path, config_dir: Path | None, workers: int) -> Estate:
    """Every target read and tallied, `workers` at a time."""
    rows = read_plan(plan, config_dir, workers)
    return Estate([row.as_target_report() for row in rows], iso_utc(datetime.now(UTC)), workers)
