"""When to alert, and the plain-text alert itself (pure).

The message is meant for a human reading an e-mail: the summary first, then the new findings, and
a link to the full report. SNS rejects messages over 256 KB, so the list of findings is cut to fit
and says how many were left out; the report in S3 always has all of them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from ..documents import ReportIndex, format_rate
from ..registry import SEVERITIES
from .reader import Report

MESSAGE_LIMIT_BYTES = 240 * 1024
"""Below SNS's 262,144-byte limit, leaving room for the subject and message attributes."""
SUBJECT_LIMIT = 100


def below_threshold(index: ReportIndex) -> bool:
    """Below the threshold, or unknown because the scan was incomplete (a broken scan is news too;
    an empty account, fully scanned, is not)."""
    rate = index["summary"]["compliance_rate"]
    if rate is None:
        return index["partial"]
    return float(rate) < float(index["policy"]["alert_threshold"])


def should_alert(index: ReportIndex, repeated: int = 0) -> bool:
    """Alert when compliance is below the policy's threshold, or on new findings if enabled;
    `repeated` of the new findings were alerted already (after a change) and are no news."""
    fresh = index["new_findings"] - repeated
    return below_threshold(index) or (fresh > 0 and bool(index["policy"]["alert_on_new_findings"]))


def alert_subject(index: ReportIndex, repeated: int = 0) -> str:
    """The run's rate, new findings not alerted yet and account, as an SNS subject (`_subject`)."""
    subject = (
        f"EC2 compliance {format_rate(index['summary']['compliance_rate'])}: {index['new_findings'] - repeated} new "
        f"finding(s) in account {index['account_id'] or 'unknown'}"
    )
    return _subject(subject)


def _subject(text: str) -> str:
    """SNS subjects must be ASCII, single-line and at most 100 characters."""
    ascii_only = text.encode("ascii", errors="ignore").decode("ascii")
    return " ".join(ascii_only.split())[:SUBJECT_LIMIT]


def _summary_lines(index: ReportIndex) -> list[str]:
    summary = index["summary"]
    threshold = float(index["policy"]["alert_threshold"])
    state = "BELOW THRESHOLD" if below_threshold(index) else "at or above threshold"
    severities = ", ".join(f"{s} {summary['by_severity'].get(s, 0)}" for s in SEVERITIES)
    lines = [
        f"EC2 compliance report {index['run_id']}",
        f"Account: {index['account_id'] or 'unknown'}",
        f"Regions: {', '.join(index['regions'])}",
        f"Generated: {index['generated_at']}",
        "",
        f"Compliance rate: {format_rate(summary['compliance_rate'])} (alert threshold {threshold:.1f}%): {state}",
        f"Instances: {summary['total_instances']} total, {summary['compliant_instances']} "
        f"compliant, {summary['non_compliant_instances']} non-compliant",
        f"Unsuppressed failures by severity: {severities}",
        f"Resolved since the last report: {index['resolved_findings']}",
        f"Scan errors: {len(index['errors'])}",
    ]
    if index["partial"]:
        lines.append(f"PARTIAL SCAN: {index['partial_reason']}")
    return lines


def _finding_line(finding: Mapping[str, Any]) -> str:
    return (
        f"- [{str(finding['severity']).upper()}] {finding.get('resource_id') or finding['instance_id']} ({finding['region']}) "
        f"{finding['rule_id']}: {finding['message']}"
    )


def _size(lines: list[str]) -> int:
    return len("\n".join(lines).encode("utf-8"))


def alert_message(
    report: Report,
    report_uri: str,
    limit_bytes: int = MESSAGE_LIMIT_BYTES,
    alerted: Collection[str] = frozenset(),
    repeated: int = 0,
) -> str:
    """The alert text, at most `limit_bytes` of UTF-8 (as long as the summary itself fits): the
    new findings are streamed from the shards until the next line would not fit. The `alerted`
    ones (`repeated` of them are new here) went out after a change already: counted, not listed."""
    new = (finding for finding in report.new_findings() if finding.get("finding_id") not in alerted)
    return compose_alert(report.index, new, report_uri, limit_bytes, repeated)


def compose_alert(
    index: ReportIndex,
    new: Iterable[Mapping[str, Any]],
    report_uri: str,
    limit_bytes: int = MESSAGE_LIMIT_BYTES,
    repeated: int = 0,
) -> str:
    total = index["new_findings"] - repeated
    head = _summary_lines(index) + ["", f"New findings: {total}"]
    if repeated:
        head.append(f"Alerted already after a change since the last report, not listed again: {repeated}")
    footer = ["", f"Full report: {report_uri}"]
    omission = [f"... and {total} more new findings: see the full report."]
    budget = limit_bytes - _size(head + omission + footer)
    shown: list[str] = []
    for finding in new:
        line = _finding_line(finding)
        cost = len(line.encode("utf-8")) + 1
        if cost > budget:
            break
        shown.append(line)
        budget -= cost
    left = total - len(shown)
    tail = [f"... and {left} more new findings: see the full report."] if left > 0 else []
    return "\n".join(head + shown + tail + footer)


CHANGE_ALERT_CAP = 20
"""New failures listed in one change alert; the rest are counted, and all are in the record."""


def change_alert_subject(count: int, least: str, account_id: str | None) -> str:
    return _subject(
        f"EC2 compliance: {count} new {least}+ failure(s) after a change in account {account_id or 'unknown'}"
    )


def change_alert_message(
    findings: Sequence[Mapping[str, Any]],
    least: str,
    record_uri: str,
    event_ids: Sequence[str],
    cap: int = CHANGE_ALERT_CAP,
) -> str:
    """One message for a whole batch: the first `cap` new failures (worst first, as given), how
    many more there are, and the change record that holds them all. A burst of changes is one
    e-mail, never one per event."""
    lines = [
        f"New failures at {least} or worse, found after a change: {len(findings)}",
        f"Events: {len(event_ids)} ({', '.join(event_ids[:3])}{', ...' if len(event_ids) > 3 else ''})",
        "",
        *(_finding_line(finding) for finding in findings[:cap]),
    ]
    if len(findings) > cap:
        lines.append(f"... and {len(findings) - cap} more: see the change record.")
    lines += ["", f"Change record: {record_uri}"]
    return "\n".join(lines)
