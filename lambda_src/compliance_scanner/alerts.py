"""When to alert, and the plain-text alert itself (pure).

The message is meant for a human reading an e-mail: the summary first, then the new findings, and
a link to the full report. SNS rejects messages over 256 KB, so the list of findings is cut to fit
and says how many were left out; the report in S3 always has all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import SEVERITIES

MESSAGE_LIMIT_BYTES = 240 * 1024
"""Below SNS's 262,144-byte limit, leaving room for the subject and message attributes."""
SUBJECT_LIMIT = 100


def _rate(report: Mapping[str, Any]) -> float | None:
    rate = report["summary"]["compliance_rate"]
    return None if rate is None else float(rate)


def _rate_text(report: Mapping[str, Any]) -> str:
    rate = _rate(report)
    return "n/a" if rate is None else f"{rate:.1f}%"


def below_threshold(report: Mapping[str, Any]) -> bool:
    """Below the threshold, or unknown because the scan was incomplete (a broken scan is news too;
    an empty account, fully scanned, is not)."""
    rate = _rate(report)
    if rate is None:
        return bool(report.get("partial"))
    return rate < float(report["policy"]["alert_threshold"])


def should_alert(report: Mapping[str, Any]) -> bool:
    """Alert when compliance is below the policy's threshold, or on new findings if enabled."""
    new = bool(report.get("new_findings")) and bool(report["policy"]["alert_on_new_findings"])
    return below_threshold(report) or new


def alert_subject(report: Mapping[str, Any]) -> str:
    """SNS subjects must be ASCII, single-line and at most 100 characters."""
    subject = (
        f"EC2 compliance {_rate_text(report)}: {len(report.get('new_findings', []))} new "
        f"finding(s) in account {report.get('account_id') or 'unknown'}"
    )
    ascii_only = subject.encode("ascii", errors="ignore").decode("ascii")
    return " ".join(ascii_only.split())[:SUBJECT_LIMIT]


def _summary_lines(report: Mapping[str, Any]) -> list[str]:
    summary = report["summary"]
    threshold = float(report["policy"]["alert_threshold"])
    state = "BELOW THRESHOLD" if below_threshold(report) else "at or above threshold"
    severities = ", ".join(f"{s} {summary['by_severity'].get(s, 0)}" for s in SEVERITIES)
    lines = [
        f"EC2 compliance report {report['run_id']}",
        f"Account: {report.get('account_id') or 'unknown'}",
        f"Regions: {', '.join(report.get('regions', []))}",
        f"Generated: {report['generated_at']}",
        "",
        f"Compliance rate: {_rate_text(report)} (alert threshold {threshold:.1f}%): {state}",
        f"Instances: {summary['total_instances']} total, {summary['compliant_instances']} "
        f"compliant, {summary['non_compliant_instances']} non-compliant",
        f"Unsuppressed failures by severity: {severities}",
        f"Resolved since the last report: {len(report.get('resolved_findings', []))}",
        f"Scan errors: {len(report.get('errors', []))}",
    ]
    if report.get("partial"):
        lines.append(f"PARTIAL SCAN: {report.get('partial_reason')}")
    return lines


def _finding_line(finding: Mapping[str, Any]) -> str:
    return (
        f"- [{str(finding['severity']).upper()}] {finding.get('resource_id') or finding['instance_id']} ({finding['region']}) "
        f"{finding['rule_id']}: {finding['message']}"
    )


def _size(lines: list[str]) -> int:
    return len("\n".join(lines).encode("utf-8"))


def alert_message(
    report: Mapping[str, Any], report_uri: str, limit_bytes: int = MESSAGE_LIMIT_BYTES
) -> str:
    """The alert text, at most `limit_bytes` of UTF-8 (as long as the summary itself fits)."""
    new = list(report.get("new_findings", []))
    head = _summary_lines(report) + ["", f"New findings: {len(new)}"]
    footer = ["", f"Full report: {report_uri}"]
    omission = [f"... and {len(new)} more new findings: see the full report."]
    budget = limit_bytes - _size(head + omission + footer)
    shown: list[str] = []
    for finding in new:
        line = _finding_line(finding)
        cost = len(line.encode("utf-8")) + 1
        if cost > budget:
            break
        shown.append(line)
        budget -= cost
    left = len(new) - len(shown)
    tail = [f"... and {left} more new findings: see the full report."] if left else []
    return "\n".join(head + shown + tail + footer)
