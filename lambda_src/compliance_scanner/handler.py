"""The Lambda handler: settings -> scan -> S3 report -> CloudWatch metrics -> SNS alert."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import boto3

from .asff import to_asff
from .clients import make_client
from .publish import put_metrics, send_alert, store_report
from .security_hub import import_findings
from .scanner import scan
from .settings import load_settings

LOG = logging.getLogger("compliance_scanner")
LOG.setLevel(logging.INFO)


def account_from_context(context: Any) -> str | None:
    """The account id from the function's own ARN, sparing an sts:GetCallerIdentity call."""
    parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
    return parts[4] if len(parts) > 4 and parts[4] else None


def _log_progress(region: str, seen: int) -> None:
    LOG.info("scanning %s: %d instances listed", region, seen)


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        settings = load_settings(os.environ, event)
    except ValueError as exc:
        LOG.error("invalid configuration: %s", exc)
        raise
    session = boto3.session.Session(region_name=settings.home_region)
    report = scan(
        session,
        settings.regions,
        settings.policy,
        account_id=account_from_context(context),
        time_left_ms=getattr(context, "get_remaining_time_in_millis", None),
        on_progress=_log_progress,
    )
    key = store_report(make_client(session, "s3", settings.home_region), settings.bucket, report)
    put_metrics(
        make_client(session, "cloudwatch", settings.home_region), settings.namespace, report
    )
    alerted = settings.topic_arn is not None and send_alert(
        make_client(session, "sns", settings.home_region),
        settings.topic_arn,
        report,
        f"s3://{settings.bucket}/{key}",
    )
    imported = None
    if settings.security_hub:
        outcome = import_findings(
            make_client(session, "securityhub", settings.home_region), to_asff(report, settings.home_region)
        )
        LOG.log(logging.INFO if outcome.ok else logging.ERROR, "%s", outcome.summary())
        imported = {"imported": outcome.imported, "failed": outcome.failed}
    result = {
        "status": "partial" if report["partial"] else "ok",
        "run_id": report["run_id"],
        "report_key": key,
        "summary": report["summary"],
        "errors": len(report["errors"]),
        "alerted": alerted,
        "security_hub": imported,
    }
    LOG.info(
        "scan finished: %s",
        json.dumps({k: v for k, v in result.items() if k != "summary"}, sort_keys=True),
    )
    return result
