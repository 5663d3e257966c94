"""The HTML report in a real headless Chromium: what renders, what the filters do, and that the
page makes no request beyond its own file.

The report is the real demo scan (the moto fleet `ec2c scan --demo` uses) stored in a folder with
the bucket's layout, then scanned again after one instance was fixed and three lost a required
tag, so that "new" and "resolved" both have entries and the page streams the second run's shards.
Its failures are of every resource type: instances, launch templates, security groups and account
guardrails (one region of which passes). The page is opened from disk (`file://`), the way people
open it from a CI artifact or a mail attachment.

Needs Debian's chromium-headless-shell (or chromium): `make browser` installs it, and `make test`
runs that first. Without it these tests FAIL rather than skip, so CI cannot pass them by accident.

A full-page screenshot goes to build/html-report.png (a CI artifact); with
EC2C_UPDATE_DOCS_SCREENSHOT=1 it is also copied to docs/html-report.png, the README's picture.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from ec2c.orchestrator import demo
from ec2c.orchestrator.reporting import html_report
from ec2c.orchestrator.reporting.html_report import to_html
from ec2c.orchestrator.reporting.render import sort_findings
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.documents import format_rate
from ec2c.scanner.reports.reader import Report, load_report
from ec2c.scanner.run.scanner import scan
from ec2c.scanner.storage import DirStore

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "build" / "html-report.png"
DOCS_SCREENSHOT = REPO / "docs" / "html-report.png"
UPDATE_DOCS = "EC2C_UPDATE_DOCS_SCREENSHOT"
NO_BROWSER = (
    "No headless Chromium on PATH (looked for `chromium-headless-shell` and `chromium`): "
    "run `make browser` to install Debian's chromium-headless-shell."
)
FINDING_ROWS = "#findings tbody.finding"
VISIBLE_ROWS = "#findings tbody.finding:not([hidden])"
# Initialisation scripts run outside the page's CSP, so this one can watch for anything the
# policy refused (a blocked fetch never reaches the network, hence never the route handler).
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def _chromium() -> str | None:
    return shutil.which("chromium-headless-shell") or shutil.which("chromium")


FIXED = "legacy-erp-1"
"""Fails imdsv2_required only: the second scan finds it fixed (resolved)."""
UNTAGGED = ("web-prod-1", "shop-eu-1", "api-syd-1")
"""Compliant at first: the second scan finds them without their Owner tag (new findings)."""


def _demo_report(store: DirStore) -> Report:
    """The demo scanned into `store`, then again after the changes above, diffed against the first."""
    policy = load_policy(demo.demo_policy(), "demo policy")
    with demo.demo_session() as (session, fleet):
        first = scan(session, fleet.regions, policy, store, account_id=demo.DEMO_ACCOUNT_ID)
        fixed = fleet.by_name(FIXED)
        session.client("ec2", region_name=fixed.region).modify_instance_metadata_options(
            InstanceId=fixed.instance_id, HttpTokens="required", HttpEndpoint="enabled"
        )
        for name in UNTAGGED:
            instance = fleet.by_name(name)
            session.client("ec2", region_name=instance.region).delete_tags(
                Resources=[instance.instance_id], Tags=[{"Key": "Owner"}]
            )
        report = scan(session, fleet.regions, policy, store, account_id=demo.DEMO_ACCOUNT_ID, previous=first)
    assert report.sharded and report.index["previous_run_id"] == first.index["run_id"]
    assert (report.index["new_findings"], report.index["resolved_findings"]) == (3, 1)
    return report


def _inline(report: Report, **fields: Any) -> Report:
    """A one-document copy of `report` (its lists inline) with `fields` replaced."""
    document: dict[str, Any] = copy.deepcopy(dict(report.index))
    document.pop("region_shards")
    document.update(
        findings=list(report.findings()),
        new_findings=list(report.new_findings()),
        resolved_findings=list(report.resolved_findings()),
        **fields,
    )
    return load_report(document, None, "test")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return _demo_report(DirStore(tmp_path_factory.mktemp("store")))


@pytest.fixture(scope="module")
def index(report: Report) -> dict[str, Any]:
    return dict(report.index)


@pytest.fixture(scope="module")
def rows(report: Report) -> list[dict[str, Any]]:
    """What the findings table lists: every failure (findings, then failing account guardrails)."""
    failing = list(report.failures())
    assert {f["resource_type"] for f in failing} == {"instance", "launch_template", "security_group", "account"}
    return failing


@pytest.fixture(scope="module")
def report_file(report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(to_html(report), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = _chromium()
    if executable is None:
        pytest.fail(NO_BROWSER, pytrace=False)
    browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
    yield browser
    browser.close()


class Guard:
    """What the page asked for beyond its own file, and what went wrong inside it."""

    def __init__(self) -> None:
        self.allowed: str = ""
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []

    def route(self, route: Any) -> None:
        if route.request.url == self.allowed:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Any]:
    """`open_page(path)` loads a file in a fresh 1280px-wide page that fails the test on any
    request but the file itself, any CSP violation, console error or uncaught exception."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=True)
    page = context.new_page()
    guard = Guard()
    page.add_init_script(CSP_WATCH)
    page.route("**/*", guard.route)
    page.on("request", lambda request: guard.requests.append(request.url))
    page.on(
        "console",
        lambda msg: (
            guard.errors.append(f"console {msg.type}: {msg.text}") if msg.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda exc: guard.errors.append(f"page error: {exc}"))

    def load(path: Path) -> Page:
        guard.allowed = path.as_uri()
        page.goto(guard.allowed)
        page.wait_for_load_state("load")
        return page

    yield load
    violations = page.evaluate("window.__cspViolations || []") if guard.allowed else []
    context.close()
    assert guard.blocked == [], f"the page tried to fetch: {guard.blocked}"
    assert set(guard.requests) <= {guard.allowed}, f"requests beyond the page: {guard.requests}"
    assert violations == [], f"CSP violations: {violations}"
    assert guard.errors == [], guard.errors


def _visible_rows(page: Page) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        FINDING_ROWS,
        """rows => rows.filter(r => r.offsetParent !== null && !r.hidden)
                       .map(r => ({severity: r.dataset.severity, rule: r.dataset.rule, region: r.dataset.region,
                                   type: r.dataset.type}))""",
    )


def _counter(page: Page) -> str:
    return re.sub(r"\s+", " ", page.locator("[data-hook=finding-count]").inner_text()).strip()


def test_a_headless_chromium_is_installed() -> None:
    if _chromium() is None:
        pytest.fail(NO_BROWSER, pytrace=False)


def test_the_summary_shows_the_reports_numbers(
    open_page: Any, report_file: Path, index: dict[str, Any], rows: list[dict[str, Any]]
) -> None:
    page = open_page(report_file)
    summary = index["summary"]
    for key in ("total_instances", "compliant_instances", "non_compliant_instances", "unevaluated_instances"):
        stat = page.locator(f"[data-stat={key}]")
        assert stat.is_visible()
        assert stat.inner_text() == str(summary[key]), key
    assert page.locator("[data-stat=compliance_rate]").inner_text() == format_rate(summary["compliance_rate"])
    assert page.locator("[data-stat=errors]").inner_text() == str(len(index["errors"]))
    assert page.locator("[data-stat=open_findings]").inner_text() == str(sum(1 for f in rows if not f["suppressed"]))
    for kind in ("launch_template", "security_group", "account"):
        counts = summary["by_resource_type"][kind]
        item = page.locator(f"[data-hook=resource-types] [data-type={kind}]")
        assert item.is_visible()
        assert item.inner_text().startswith(f"{counts['non_compliant']} of {counts['evaluated']} ")
    assert page.locator("[data-field=account_id]").inner_text() == index["account_id"]
    assert page.locator("[data-field=run_id]").inner_text() == index["run_id"]
    assert page.locator("[data-field=previous_run_id]").inner_text() == index["previous_run_id"]
    assert page.locator("[data-field=regions] .chip").all_inner_texts() == index["regions"]
    assert page.locator("[data-field=generated_at]").get_attribute("datetime") == index["generated_at"]
    assert page.locator("[data-hook=partial-warning]").count() == 0  # the demo reads every region
    assert page.locator("[data-hook=findings-cap]").count() == 0  # every failure is on the page
    assert page.title().startswith("EC2 compliance report")


def test_the_charts_match_the_summary(open_page: Any, report_file: Path, index: dict[str, Any]) -> None:
    page = open_page(report_file)
    by_severity = index["summary"]["by_severity"]
    chart = page.locator("svg[data-chart=severity]")
    assert chart.is_visible()
    bars = chart.locator("rect[data-severity]")
    assert bars.count() == len(by_severity)
    drawn = {
        bars.nth(i).get_attribute("data-severity"): int(bars.nth(i).get_attribute("data-count"))
        for i in range(bars.count())
    }
    assert drawn == by_severity
    # The bars are drawn to scale: the tallest bar is the largest count.
    heights = {sev: (bars.nth(i).bounding_box() or {"height": 0})["height"] for i, sev in enumerate(drawn)}
    assert max(heights, key=heights.get) == max(by_severity, key=by_severity.get)
    assert all(heights[s] > 0 for s, n in by_severity.items() if n)

    by_rule = index["summary"]["by_rule"]
    rules = page.locator("[data-chart=rules]")
    assert rules.is_visible()
    rows = rules.locator("[data-rule]")
    assert rows.count() == len(by_rule)
    shown = [rows.nth(i).get_attribute("data-rule") for i in range(rows.count())]
    assert set(shown) == set(by_rule)
    open_counts = [by_rule[r]["failed"] - by_rule[r]["suppressed"] for r in shown]
    assert open_counts == sorted(open_counts, reverse=True)  # failing rules first
    first = rows.nth(0)
    assert first.locator("rect[data-segment=open]").is_visible()
    assert int(first.get_attribute("data-passed")) == by_rule[shown[0]]["passed"]


def test_new_and_resolved_findings_are_listed_with_counts(open_page: Any, report_file: Path, report: Report) -> None:
    page = open_page(report_file)
    for hook, changes in (
        ("new-findings", list(report.new_findings())),
        ("resolved-findings", list(report.resolved_findings())),
    ):
        card = page.locator(f"[data-hook={hook}]")
        assert card.locator(".pill").inner_text() == str(len(changes))
        items = card.locator("li")
        assert items.count() == len(changes)
        listed = sorted(
            (items.nth(i).get_attribute("data-rule"), items.nth(i).get_attribute("data-region"))
            for i in range(items.count())
        )
        assert listed == sorted((f["rule_id"], f["region"]) for f in changes)
    new = page.locator("[data-hook=new-findings]").inner_text()
    assert all(name in new for name in UNTAGGED)
    assert FIXED in page.locator("[data-hook=resolved-findings]").inner_text()


def test_every_finding_is_a_visible_row(open_page: Any, report_file: Path, rows: list[dict[str, Any]]) -> None:
    page = open_page(report_file)
    total = len(rows)
    assert Counter(r["type"] for r in _visible_rows(page)) == Counter(f["resource_type"] for f in rows)
    assert _counter(page) == f"{total} of {total} findings"
    assert page.locator("#findings-empty").is_hidden()


@pytest.mark.parametrize("field", ["severity", "rule", "region", "type"])
def test_each_filter_shows_exactly_the_matching_findings(
    open_page: Any, report_file: Path, rows: list[dict[str, Any]], field: str
) -> None:
    page = open_page(report_file)
    key = {"severity": "severity", "rule": "rule_id", "region": "region", "type": "resource_type"}[field]
    expected = Counter(f[key] for f in rows)
    total = len(rows)
    select = page.locator(f"#filter-{field}")
    options = [v for v in select.locator("option").evaluate_all("os => os.map(o => o.value)") if v]
    assert sorted(options) == sorted(expected)
    for value in options:
        select.select_option(value)
        rows = _visible_rows(page)
        assert len(rows) == expected[value], (field, value)
        assert {row[field] for row in rows} == {value}
        assert _counter(page) == f"{expected[value]} of {total} findings"
        for tbody in page.locator(FINDING_ROWS).all():
            assert tbody.is_visible() == (tbody.get_attribute(f"data-{field}") == value)
    page.locator("#filter-reset").click()
    assert len(_visible_rows(page)) == total
    assert _counter(page) == f"{total} of {total} findings"
    assert page.locator("#filter-reset").is_disabled()


def test_filters_combine_and_an_empty_result_says_so(
    open_page: Any, report_file: Path, rows: list[dict[str, Any]]
) -> None:
    page = open_page(report_file)
    findings = rows
    total = len(findings)
    severity, region = findings[0]["severity"], findings[0]["region"]
    page.select_option("#filter-severity", severity)
    page.select_option("#filter-region", region)
    want = sum(1 for f in findings if f["severity"] == severity and f["region"] == region)
    assert len(_visible_rows(page)) == want
    assert _counter(page) == f"{want} of {total} findings"
    # A rule that has no finding of this severity in this region leaves nothing, and says so.
    other = next(
        f["rule_id"]
        for f in findings
        if not any(
            g["rule_id"] == f["rule_id"] and g["severity"] == severity and g["region"] == region for g in findings
        )
    )
    page.select_option("#filter-rule", other)
    assert _visible_rows(page) == []
    assert _counter(page) == f"0 of {total} findings"
    assert page.locator("#findings-empty").is_visible()
    # The type filter combines with the others: the account guardrails failing in one region.
    page.locator("#filter-reset").click()
    account = next(f for f in findings if f["resource_type"] == "account")
    page.select_option("#filter-type", "account")
    page.select_option("#filter-region", account["region"])
    want = [f for f in findings if f["resource_type"] == "account" and f["region"] == account["region"]]
    assert sorted(r["rule"] for r in _visible_rows(page)) == sorted(f["rule_id"] for f in want)
    assert {r["type"] for r in _visible_rows(page)} == {"account"}
    assert _counter(page) == f"{len(want)} of {total} findings"


def test_a_severity_bar_filters_the_table(open_page: Any, report_file: Path, rows: list[dict[str, Any]]) -> None:
    page = open_page(report_file)
    page.locator("svg[data-chart=severity] g[data-filter-severity=high]").click()
    assert page.locator("#filter-severity").input_value() == "high"
    assert len(_visible_rows(page)) == sum(1 for f in rows if f["severity"] == "high")


def test_launch_template_and_account_rows_say_what_they_are(
    open_page: Any, report_file: Path, rows: list[dict[str, Any]]
) -> None:
    page = open_page(report_file)
    for kind, label in (
        ("launch_template", "Launch template"),
        ("security_group", "Security group"),
        ("account", "Account"),
    ):
        finding = sort_findings(f for f in rows if f["resource_type"] == kind)[0]  # the page's order
        row = page.locator(f"{FINDING_ROWS}[data-type={kind}]").first
        resource = row.locator(".c-res")
        assert resource.locator(".type-tag").inner_text().lower() == label.lower()
        assert resource.locator(".res-id").inner_text() == finding["resource_id"]
        assert resource.locator(".arn").inner_text() == finding["resource_arn"]
    # Instances are labelled too (the table holds several types), and keep their Name tag.
    row = page.locator(f"{FINDING_ROWS}[data-type=instance]").first
    assert row.locator(".type-tag").inner_text().lower() == "instance"
    assert row.locator(".res-name").is_visible()


def test_the_account_guardrails_panel_shows_every_result(
    open_page: Any, report_file: Path, index: dict[str, Any]
) -> None:
    page = open_page(report_file)
    panel = page.locator("[data-hook=account-guardrails]")
    assert panel.is_visible()
    results = index["account_findings"]
    regions = [r for r in index["regions"] if any(f["region"] == r for f in results)]
    assert (
        panel.locator("th[data-guardrail-region]").evaluate_all("ths => ths.map(th => th.dataset.guardrailRegion)")
        == regions
    )
    rules = {f["rule_id"] for f in results}
    assert panel.locator("tbody tr").count() == len(rules)
    for finding in results:
        cell = panel.locator(f"tr[data-rule={finding['rule_id']}] td[data-region={finding['region']}]")
        assert cell.get_attribute("data-status") == finding["status"]
        badge = cell.locator(".status")
        assert badge.is_visible()
        assert badge.inner_text().upper() == ("SUPPRESSED" if finding["suppressed"] else finding["status"])
        assert badge.get_attribute("title").startswith(finding["message"])
    # The demo hardens one region: it shows as passing everything, the others as failing.
    failing = {
        r: sum(1 for f in results if f["region"] == r and f["status"] == "FAIL" and not f["suppressed"])
        for r in regions
    }
    assert 0 in failing.values() and any(failing.values())
    for region, count in failing.items():
        head = panel.locator(f"th[data-guardrail-region={region}]")
        assert head.get_attribute("data-failing") == str(count)
        assert ("no failure" if not count else f"{count} failing") in head.inner_text()


def test_remediation_opens_and_shows_the_cli_command(
    open_page: Any, report_file: Path, rows: list[dict[str, Any]]
) -> None:
    page = open_page(report_file)
    row = page.locator(FINDING_ROWS).first
    details = row.locator("details[data-hook=remediation]")
    cli = details.locator("[data-hook=remediation-cli]")
    assert details.get_attribute("open") is None
    assert not cli.is_visible()
    details.locator("summary").click()
    assert details.get_attribute("open") is not None
    assert cli.is_visible()
    resource = row.locator(".res-id").inner_text()
    (finding,) = [
        f
        for f in rows
        if f["resource_id"] == resource
        and f["rule_id"] == row.get_attribute("data-rule")
        and f["region"] == row.get_attribute("data-region")
    ]
    assert cli.inner_text() == finding["remediation_cli"]
    assert details.locator("[data-hook=remediation-pulumi]").inner_text() == finding["remediation_pulumi"]
    body = details.inner_text()
    assert finding["remediation"] in body
    for ids in finding["mappings"].values():
        assert ids in body


def test_a_partial_report_warns_visibly(open_page: Any, report: Report, tmp_path: Path) -> None:
    partial = _inline(
        report,
        partial=True,
        partial_reason="ap-southeast-2: AccessDenied on ec2:DescribeInstances",
        incomplete_regions=["ap-southeast-2"],
        summary={**report.summary, "compliance_rate": None},
        errors=[
            {
                "region": "ap-southeast-2",
                "operation": "ec2:DescribeInstances",
                "code": "AccessDenied",
                "message": "<b>not authorized</b>",
            }
        ],
    )
    path = tmp_path / "partial.html"
    path.write_text(to_html(partial), encoding="utf-8")
    page = open_page(path)
    warning = page.locator("[data-hook=partial-warning]")
    assert warning.is_visible()
    assert "AccessDenied on ec2:DescribeInstances" in warning.inner_text()
    assert "ap-southeast-2" in warning.inner_text()
    assert page.locator("[data-stat=compliance_rate]").inner_text() == "n/a"
    assert page.locator("[data-hook=errors]").is_visible()
    assert "<b>not authorized</b>" in page.locator("[data-hook=errors]").inner_text()  # shown as text


def test_a_capped_page_embeds_the_cap_and_says_where_the_rest_are(
    open_page: Any, report: Report, rows: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = 5
    monkeypatch.setattr(html_report, "FINDINGS_SHOWN", cap)
    path = tmp_path / "capped.html"
    path.write_text(to_html(report), encoding="utf-8")
    page = open_page(path)
    notice = page.locator("[data-hook=findings-cap]")
    assert notice.is_visible()
    text = re.sub(r"\s+", " ", notice.inner_text())
    assert f"embeds the {cap} most severe of {len(rows)} findings" in text
    assert "findings.csv.gz" in text and report.index["run_id"] in text  # the run's shard folder
    assert page.locator(FINDING_ROWS).count() == cap
    assert _counter(page) == f"{cap} of {cap} findings"  # the filters work on the rows embedded
    shown = _visible_rows(page)
    assert {r["severity"] for r in shown} <= {"critical", "high"}  # the most severe, unsuppressed first
    # The summary still counts every failure.
    assert page.locator("[data-stat=open_findings]").inner_text() == str(sum(1 for f in rows if not f["suppressed"]))


def test_full_page_screenshot(open_page: Any, report_file: Path) -> None:
    """build/html-report.png (the whole page) for CI to keep; docs/html-report.png (the first
    screen, small enough for a README) only when asked to refresh it."""
    page = open_page(report_file)
    page.locator(f"{FINDING_ROWS} details[data-hook=remediation] summary").first.click()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
    if os.environ.get(UPDATE_DOCS) == "1":
        page.set_viewport_size({"width": 1280, "height": 1280})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(DOCS_SCREENSHOT))
