"""The estate HTML page without a browser: the heat map's cells, the partial warning, escaping,
no network loads.

Estates are built with the real `estate.Estate` from small schema 2 reports (through the reader's
`load_report`), as in test_estate.py, and the page from the document it embeds (`Estate.top`).
What the page looks like in a real browser is tests/browser/test_estate_html_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from ec2c.orchestrator.reporting.estate import Estate, TargetReport
from ec2c.orchestrator.reporting.estate_html import build_view, rate_tone, to_html
from ec2c.scanner.documents import format_rate
from ec2c.scanner.reports.reader import Report, load_report
from tests.unit.orchestrator.test_html_report import ATTRIBUTE_BREAKER, HOSTILE, NETWORK, Page

GENERATED_AT = "2026-11-26T12:00:00Z"
PROD, STAGING, DEV = "111111111111", "222222222222", "333333333333"


def finding(rule: str, severity: str, region: str, instance: str, name: str, message: str) -> dict[str, Any]:
    return {
        "rule_id": rule,
        "title": rule.replace("_", " ").capitalize(),
        "severity": severity,
        "status": "FAIL",
        "resource_type": "instance",
        "resource_id": instance,
        "instance_id": instance,
        "region": region,
        "tags": {"Name": name},
        "message": message,
        "suppressed": False,
        "remediation": "Require IMDSv2 on the instance.",
    }


def report(account: str, region: str, compliant: int, failing: int, **keywords: Any) -> Report:
    return load_report(report_document(account, region, compliant, failing, **keywords), None, "test")


def report_document(
    account: str,
    region: str,
    compliant: int,
    failing: int,
    *,
    unevaluated: int = 0,
    findings: tuple[dict[str, Any], ...] = (),
    partial: bool = False,
    errors: int = 0,
) -> dict[str, Any]:
    """A schema 2 report of one account and region (as test_estate.py)."""
    rated = compliant + failing
    return {
        "schema_version": 2,
        "account_id": account,
        "regions": [region],
        "run_id": f"20261126T1000Z-{account[:4]}-{region}",
        "generated_at": "2026-11-26T10:00:00Z",
        "partial": partial,
        "errors": [{"region": region, "operation": "ec2:DescribeInstances", "code": "Throttling", "message": "slow"}]
        * errors,
        "summary": {
            "total_instances": rated + unevaluated,
            "compliant_instances": compliant,
            "non_compliant_instances": failing,
            "unevaluated_instances": unevaluated,
            "compliance_rate": round(100 * compliant / rated, 2) if rated else None,
            "by_rule": {
                "imdsv2_required": {"failed": failing, "passed": compliant, "suppressed": 0, "skipped": unevaluated},
                "ebs_encrypted": {"failed": 0, "passed": rated, "suppressed": 0, "skipped": unevaluated},
            },
            "by_severity": {"high": failing},
        },
        "findings": list(findings),
        "account_findings": [{"rule_id": "ebs_default_encryption", "status": "PASS", "region": region}],
    }


def target(
    env: str, stack: str, account: str | None, region: str, body: Report | None, reason: str | None = None
) -> TargetReport:
    return TargetReport(env, stack, account, region, body, reason)


def sample_targets() -> list[TargetReport]:
    """Three accounts by two regions with every kind of cell: green (95, 100), amber (80), red
    (50), nothing rated (only unevaluated instances), not read; and an unread target whose
    account is unknown (it cannot be placed on the map)."""
    failing = tuple(
        finding("imdsv2_required", "high", "us-east-1", f"i-0api{n:012d}", f"api-{n}", "IMDSv1 is enabled")
        for n in range(5)
    )
    return [
        target(
            "prod",
            "web",
            PROD,
            "eu-west-1",
            report(
                PROD,
                "eu-west-1",
                19,
                1,
                findings=(
                    finding("imdsv2_required", "high", "eu-west-1", "i-0web000000000001", "web-1", "IMDSv1 is enabled"),
                ),
            ),
        ),
        target("prod", "api", PROD, "us-east-1", report(PROD, "us-east-1", 5, 5, findings=failing, errors=1)),
        target("staging", "web", STAGING, "eu-west-1", report(STAGING, "eu-west-1", 10, 0)),
        target(
            "staging",
            "api",
            STAGING,
            "us-east-1",
            report(
                STAGING,
                "us-east-1",
                8,
                2,
                partial=True,
                findings=(
                    finding(
                        "imdsv2_required", "high", "us-east-1", "i-0stg000000000001", "batch-1", "IMDSv1 is enabled"
                    ),
                    finding(
                        "imdsv2_required", "high", "us-east-1", "i-0stg000000000002", "batch-2", "IMDSv1 is enabled"
                    ),
                ),
            ),
        ),
        target("dev", "web", DEV, "eu-west-1", None, "AccessDenied: s3:GetObject on reports/latest.json"),
        target("dev", "api", DEV, "us-east-1", report(DEV, "us-east-1", 0, 0, unevaluated=3)),
        target("sandbox", "web", None, "eu-west-1", None, "stack not deployed"),
    ]


def merge(targets: list[TargetReport], generated_at: str) -> dict[str, Any]:
    """The document the page is built from: the counts and the most severe findings."""
    return Estate(targets, generated_at).top()


def sample_estate() -> dict[str, Any]:
    return merge(sample_targets(), GENERATED_AT)


def cells(page: Page) -> dict[tuple[str | None, str | None], dict[str, str | None]]:
    return {
        (a["data-account"], a["data-region"]): a
        for tag, a in page.tags
        if tag == "td" and "data-account" in a and "data-region" in a
    }


def classes(attrs: dict[str, str | None]) -> set[str]:
    return set((attrs.get("class") or "").split())


def test_rate_tones_follow_the_thresholds() -> None:
    assert [rate_tone(r) for r in (None, 0.0, 69.99, 70.0, 89.99, 90.0, 100.0)] == [
        "none",
        "bad",
        "bad",
        "warn",
        "warn",
        "good",
        "good",
    ]


def test_the_heat_map_has_a_cell_per_account_and_region_with_its_rate_and_colour() -> None:
    estate = sample_estate()
    page = Page(to_html(estate))
    (heatmap,) = page.with_attr("data-hook", "heatmap")
    grid = cells(page)
    accounts, regions = [PROD, STAGING, DEV], ["eu-west-1", "us-east-1"]
    assert set(grid) == {(a, r) for a in accounts for r in regions}
    # Every merged cell of the estate shows its rate and the tone that rate calls for.
    for entry in estate["summary"]["by_account_region"]:
        cell = grid[(entry["account_id"], entry["region"])]
        rate = entry["compliance_rate"]
        assert cell["data-rate"] == ("" if rate is None else f"{rate:g}")
        assert f"heat-{rate_tone(rate)}" in classes(cell)
    # red < 70, amber < 90, green >= 90, grey when nothing is rated, hatched when not read.
    expected = {
        (PROD, "eu-west-1"): ("95", "good", "rated"),
        (PROD, "us-east-1"): ("50", "bad", "rated"),
        (STAGING, "eu-west-1"): ("100", "good", "rated"),
        (STAGING, "us-east-1"): ("80", "warn", "rated"),
        (DEV, "us-east-1"): ("", "none", "unrated"),
        (DEV, "eu-west-1"): ("", "unread", "unread"),
    }
    assert {key: (c["data-rate"], c["data-tone"], c["data-state"]) for key, c in grid.items()} == expected
    tones = {f"heat-{tone}" for tone in ("good", "warn", "bad", "none", "unread", "empty")}
    assert all(classes(c) & tones == {f"heat-{c['data-tone']}"} for c in grid.values())
    # The account and region totals come from the estate's by_account / by_region.
    totals = {a["data-account-total"]: a["data-rate"] for _, a in page.tags if "data-account-total" in a}
    assert totals == {PROD: "80", STAGING: "90", DEV: ""}  # 24 of 30, 18 of 20; DEV: nothing rated
    regions_total = {a["data-region-total"]: a["data-rate"] for _, a in page.tags if "data-region-total" in a}
    assert regions_total == {r: f"{estate['summary']['by_region'][r]['compliance_rate']:g}" for r in regions}
    (estate_total,) = page.with_attr("data-estate-total")
    assert estate_total["data-rate"] == f"{estate['summary']['compliance_rate']:g}"
    assert heatmap is not None


def test_an_unread_target_is_a_not_read_cell_never_a_rate() -> None:
    view = build_view(sample_estate())
    (cell,) = [c for row in view.heat_rows for c in row.cells if (c.account, c.region) == (DEV, "eu-west-1")]
    assert cell.state == "unread" and cell.tone == "unread" and cell.counts is None and cell.unread == ("dev/web",)
    assert "no report read" in cell.title and "dev/web" in cell.title
    html = to_html(sample_estate())
    page = Page(html)
    attrs = cells(page)[(DEV, "eu-west-1")]
    assert attrs["data-rate"] == "" and attrs["data-unread"] == "1" and "heat-unread" in classes(attrs)
    # The target with no known account is in the warning and the table, but not on the map.
    assert not [a for a in cells(page) if a[0] in ("", None)]
    assert page.with_attr("data-unread-target", "sandbox/web")
    assert page.with_attr("data-target", "sandbox/web")[0]["data-readable"] == "false"


def test_unread_targets_beside_a_read_one_flag_the_cell_and_keep_its_rate() -> None:
    both = merge(
        [
            target("prod", "web", PROD, "eu-west-1", report(PROD, "eu-west-1", 9, 1)),
            target("prod", "web-b", PROD, "eu-west-1", None, "NoSuchKey"),
            target("prod", "web-c", PROD, "eu-west-1", None),  # no reason recorded
        ],
        GENERATED_AT,
    )
    html = to_html(both)
    attrs = cells(Page(html))[(PROD, "eu-west-1")]
    assert attrs["data-rate"] == "90" and attrs["data-state"] == "rated" and attrs["data-unread"] == "2"
    assert {"heat-good", "has-unread"} <= classes(attrs)
    assert "+2 not read" in html and "prod/web-b, prod/web-c" in (attrs["title"] or "")
    assert "no reason given" in html and "report not read" in html


def test_the_partial_warning_lists_every_unread_target_and_its_reason() -> None:
    estate = sample_estate()
    html = to_html(estate)
    page = Page(html)
    (warning,) = page.with_attr("data-hook", "partial-warning")
    assert warning["role"] == "alert"
    assert [a["data-unread-target"] for a in page.with_attr("data-unread-target")] == ["dev/web", "sandbox/web"]
    assert "AccessDenied: s3:GetObject on reports/latest.json" in html and "stack not deployed" in html
    assert page.with_attr("data-partial-target", "staging/api")  # read, but its report is partial
    assert "PARTIAL estate" in html
    # Nothing unread is counted: the estate rate is the merged one, from the read targets only.
    assert page.stats["compliance_rate"] == format_rate(estate["summary"]["compliance_rate"])
    assert page.stats["read_targets"].startswith("5")


def test_a_complete_estate_has_no_warning_and_its_totals() -> None:
    estate = merge([target("prod", "web", PROD, "eu-west-1", report(PROD, "eu-west-1", 3, 1))], GENERATED_AT)
    page = Page(to_html(estate))
    assert not page.with_attr("data-hook", "partial-warning")
    for key in ("total_instances", "compliant_instances", "non_compliant_instances", "unevaluated_instances"):
        assert page.stats[key] == str(estate["summary"][key])
    assert page.stats["compliance_rate"] == "75.0%"
    assert page.with_attr("data-hook", "no-findings")


def test_nothing_rated_anywhere_shows_na() -> None:
    estate = merge([target("dev", "api", DEV, "us-east-1", report(DEV, "us-east-1", 0, 0, unevaluated=2))], "t")
    page = Page(to_html(estate))
    assert page.stats["compliance_rate"] == "n/a"
    assert cells(page)[(DEV, "us-east-1")]["data-rate"] == ""


def test_targets_rules_severities_and_findings_are_listed() -> None:
    estate = sample_estate()
    page = Page(to_html(estate))
    rows = {a["data-target"]: a for tag, a in page.tags if tag == "tr" and "data-target" in a}
    assert list(rows) == [f"{t.env}/{t.stack}" for t in sample_targets()]
    assert rows["prod/api"]["data-rate"] == "50" and rows["dev/web"]["data-readable"] == "false"
    rules = {a["data-rule"]: a for _, a in page.tags if "data-rule" in a and "data-failed" in a}
    assert rules["imdsv2_required"]["data-failed"] == str(estate["summary"]["by_rule"]["imdsv2_required"]["failed"])
    assert list(rules) == ["imdsv2_required", "ebs_encrypted"]  # failing rules first
    bars = [(a["data-severity"], a["data-count"]) for tag, a in page.tags if tag == "rect" and "data-severity" in a]
    assert bars == [("critical", "0"), ("high", "8"), ("medium", "0"), ("low", "0"), ("informational", "0")]
    findings = [a for tag, a in page.tags if tag == "tbody" and "finding" in classes(a)]
    assert len(findings) == len(estate["findings"]) == 8
    assert {(a["data-target"], a["data-account"]) for a in findings} == {
        ("prod/web", PROD),
        ("prod/api", PROD),
        ("staging/api", STAGING),
    }
    assert page.stats["open_findings"] == "8"


def hostile_estate() -> dict[str, Any]:
    bad = finding(
        ATTRIBUTE_BREAKER, ATTRIBUTE_BREAKER, ATTRIBUTE_BREAKER, HOSTILE, HOSTILE, HOSTILE + ATTRIBUTE_BREAKER
    )
    bad.update(suppressed=True, suppression_reason=HOSTILE, remediation=HOSTILE)
    body = report_document(HOSTILE, ATTRIBUTE_BREAKER, 1, 1, findings=(bad,))
    body["summary"]["by_rule"][ATTRIBUTE_BREAKER] = {"failed": 1, "passed": 0, "suppressed": 1, "skipped": 0}
    body["summary"]["by_severity"][ATTRIBUTE_BREAKER] = 1
    return merge(
        [
            target(HOSTILE, ATTRIBUTE_BREAKER, HOSTILE, ATTRIBUTE_BREAKER, load_report(body, None, "test")),
            target("dev", HOSTILE, ATTRIBUTE_BREAKER, HOSTILE, None, HOSTILE + ATTRIBUTE_BREAKER),
        ],
        ATTRIBUTE_BREAKER,
    )


def test_estate_text_is_escaped_in_content_and_attributes() -> None:
    html = to_html(hostile_estate())
    page = Page(html)
    assert HOSTILE not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not [tag for tag, _ in page.tags if tag in ("script", "img", "iframe", "object", "embed", "link", "base")]
    assert not [name for _, attrs in page.tags for name in attrs if name.startswith("on")]
    # The hostile values round-trip exactly as attribute data: the heat map's hooks included.
    grid = cells(page)
    assert (HOSTILE, ATTRIBUTE_BREAKER) in grid and (ATTRIBUTE_BREAKER, HOSTILE) in grid
    assert grid[(ATTRIBUTE_BREAKER, HOSTILE)]["data-state"] == "unread"
    assert page.with_attr("data-unread-target", f"dev/{HOSTILE}")
    assert page.with_attr("data-target", f"{HOSTILE}/{ATTRIBUTE_BREAKER}")
    assert page.with_attr("data-rule", ATTRIBUTE_BREAKER) and page.with_attr("data-severity", ATTRIBUTE_BREAKER)
    assert page.with_attr("datetime", ATTRIBUTE_BREAKER)


def test_templates_never_mark_data_safe() -> None:
    from pathlib import Path

    import ec2c.orchestrator.reporting.html_report as module

    for name in ("estate.html.j2", "estate.css.j2"):
        text = (Path(module.__file__).parent / "templates" / name).read_text(encoding="utf-8")
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, name


@pytest.mark.parametrize("doc", [sample_estate(), hostile_estate(), {}], ids=["estate", "hostile", "empty"])
def test_nothing_is_loaded_from_the_network_and_the_csp_allows_only_the_stylesheet(doc: dict[str, Any]) -> None:
    html = to_html(doc)
    for pattern in NETWORK:
        assert not pattern.search(html), pattern.pattern
    page = Page(html)
    assert not [(tag, a) for tag, a in page.tags if "src" in a or tag in ("link", "script")]
    (csp,) = [
        a["content"] for tag, a in page.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp is not None and "default-src 'none'" in csp and "script-src 'none'" in csp
    (style,) = page.raw["style"]
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp
    assert ".heatmap" in style and ".findings" in style  # the estate's rules after the report's


def test_an_empty_estate_renders() -> None:
    html = to_html({})
    assert "No account or region to show" in html and 'data-stat="compliance_rate">n/a<' in html
