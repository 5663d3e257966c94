"""The checks on a finished report that decide a command's exit: every region failing, the
`--fail-on` gate (its hits counted as the failures stream past) and a partial report under it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ec2c.scanner.registry import Severity
from ec2c.scanner.reports.reader import Report

from ..errors import OperationFailed
from ..reporting.render import severity_rank


def failed_regions(report: Report) -> list[str]:
    """Regions where the instance inventory itself could not be listed."""
    failed = []
    for error in report.index["errors"]:
        operation = str(error.get("operation") or "")
        region = error.get("region")
        listing = operation.split(":")[-1] in ("", "DescribeInstances")
        if region and listing and region not in failed:
            failed.append(region)
    return failed


def gate_failures(report: Report, threshold: str) -> int:
    """How many unsuppressed FAILs are at or above `threshold` (the failures streamed, counted)."""
    limit = severity_rank(threshold)
    return sum(
        1
        for f in report.failures()
        if str(f.get("status", "FAIL")).upper() == "FAIL"
        and not f.get("suppressed")
        and severity_rank(f.get("severity")) <= limit
    )


def check_regions(report: Report, regions: Sequence[str]) -> None:
    """Every region scanned failing is a failed scan, whatever the gate says."""
    failed = failed_regions(report)
    if regions and failed and set(regions) <= set(failed):
        codes: dict[str, str] = {}
        for error in report.index["errors"]:
            codes.setdefault(error["region"], error["code"] or "error")
        detail = ", ".join(f"{region}: {codes.get(region)}" for region in failed)
        raise OperationFailed(f"every region failed to scan ({detail}); see the report's errors")


def check_gate(report: Report, fail_on: Severity | None, allow_partial: bool) -> None:
    """`--fail-on`: a hit at or above it fails, and so does a partial report unless allowed."""
    if fail_on is None:
        return
    hits = gate_failures(report, fail_on.value)
    if hits:
        raise OperationFailed(
            f"--fail-on {fail_on.value}: {hits} unsuppressed finding{'s' if hits != 1 else ''} "
            f"at {fail_on.value} severity or above"
        )
    index = report.index
    if index["partial"] and not allow_partial:
        incomplete = index["incomplete_regions"]
        where = f"regions not fully scanned: {', '.join(incomplete)}" if incomplete else index["partial_reason"]
        raise OperationFailed(
            f"--fail-on {fail_on.value}: the report is partial ({where}); a region that was not read "
            "cannot pass the gate (see the errors; --allow-partial accepts it)"
        )


def expired_suppressions(report: Report) -> list[str]:
    """One warning per expired suppression: they stop matching, and their findings come back."""
    warnings = []
    for item in report.index["expired_suppressions"]:
        tag = item.get("tag")
        tag = tag if isinstance(tag, Mapping) else {}
        selector = f"{tag.get('key')}~{tag.get('regex')}" if "regex" in tag else f"{tag.get('key')}={tag.get('value')}"
        target = f"instance {item['instance_id']}" if item.get("instance_id") else f"tag {selector}"
        warnings.append(
            f"warning: suppression of {item.get('rule')} for {target} expired on {item.get('expires')} "
            f"({item.get('reason')}); its findings count again"
        )
    return warnings
