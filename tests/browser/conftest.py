"""Fixtures shared by the browser tests, found by name (defined with the HTML report's tests)."""

from tests.browser.test_html_report_browser import browser, open_page, playwright  # noqa: F401 - fixtures
