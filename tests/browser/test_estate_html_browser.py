"""The estate HTML page in a real headless Chromium: the heat map renders with its colours, the
partial warning shows, and the page makes no request beyond its own file.

The estate is the sample of tests/unit/orchestrator/test_estate_html.py (three accounts by two
regions: green, amber and red cells, one with nothing rated, one target not read) merged with the
real `estate.Estate`, opened from disk (`file://`) like a CI artifact or a mail attachment.

Uses the browser, page guard and CSP watch of test_html_report_browser.py: without Debian's
chromium-headless-shell (or chromium) on PATH these tests FAIL rather than skip (`make browser`).
A full-page screenshot goes to build/estate-report.png (a CI artifact).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ec2c.orchestrator.reporting.estate_html import to_html
from ec2c.scanner.documents import format_rate
from tests.browser.test_html_report_browser import REPO
from tests.unit.orchestrator.test_estate_html import DEV, HOSTILE, PROD, STAGING, hostile_estate, sample_estate

SCREENSHOT = REPO / "build" / "estate-report.png"
CELLS = "[data-hook=heatmap] td[data-account][data-region]"


@pytest.fixture(scope="module")
def estate() -> dict[str, Any]:
    return sample_estate()


@pytest.fixture(scope="module")
def estate_file(estate: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("estate") / "estate.html"
    path.write_text(to_html(estate), encoding="utf-8")
    return path


def _background(page: Any, account: str, region: str) -> str:
    cell = page.locator(f"{CELLS}[data-account='{account}'][data-region='{region}']")
    return cell.evaluate("el => getComputedStyle(el).backgroundColor + ' ' + getComputedStyle(el).backgroundImage")


def test_the_heat_map_renders_a_coloured_cell_per_account_and_region(
    open_page: Any, estate_file: Path, estate: dict[str, Any]
) -> None:
    page = open_page(estate_file)
    heatmap = page.locator("[data-hook=heatmap]")
    assert heatmap.is_visible()
    accounts = {c["account_id"] for c in estate["summary"]["by_account_region"]} | {DEV}
    regions = {c["region"] for c in estate["summary"]["by_account_region"]}
    cells = page.locator(CELLS)
    assert cells.count() == len(accounts) * len(regions) == 6
    assert all(cell.is_visible() for cell in cells.all())
    assert page.locator("[data-hook=heatmap] tbody th").all_inner_texts() == sorted(accounts)
    # Every cell is drawn with a size and the rate it carries is the one it shows.
    for cell in cells.all():
        box = cell.bounding_box()
        assert box is not None and box["width"] > 60 and box["height"] > 40
        rate = cell.get_attribute("data-rate")
        if rate:
            assert cell.locator(".heat-rate").inner_text() == format_rate(float(rate))
    # A 50% cell and a 100% cell are painted differently; so are amber, no-rate and not read.
    fifty, hundred = _background(page, PROD, "us-east-1"), _background(page, STAGING, "eu-west-1")
    assert fifty != hundred
    amber = _background(page, STAGING, "us-east-1")
    unread = _background(page, DEV, "eu-west-1")
    assert len({fifty, hundred, amber, _background(page, DEV, "us-east-1"), unread}) == 5
    assert "repeating-linear-gradient" in unread  # hatched
    assert page.locator(f"{CELLS}[data-state=unread]").inner_text().lower().startswith("not read")


def test_the_partial_warning_is_visible_with_the_unread_targets(open_page: Any, estate_file: Path) -> None:
    page = open_page(estate_file)
    warning = page.locator("[data-hook=partial-warning]")
    assert warning.is_visible()
    text = warning.inner_text()
    assert "PARTIAL" in text and "dev/web" in text and "AccessDenied: s3:GetObject" in text
    assert "sandbox/web" in text and "stack not deployed" in text
    assert page.locator("[data-stat=compliance_rate]").inner_text() == "84.0%"  # 42 of 50 rated, read targets only


def test_hostile_text_stays_text(open_page: Any, tmp_path: Path) -> None:
    """The page runs no script: a `<script>` in a reason shows as text (the guard fails the test
    on any console error or CSP violation)."""
    path = tmp_path / "hostile.html"
    path.write_text(to_html(hostile_estate()), encoding="utf-8")
    page = open_page(path)
    assert HOSTILE in page.locator("[data-hook=partial-warning]").inner_text()
    assert page.locator("script").count() == 0 and page.locator("img").count() == 0


def test_full_page_screenshot(open_page: Any, estate_file: Path) -> None:
    """build/estate-report.png (the whole page) for CI to keep."""
    page = open_page(estate_file)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
