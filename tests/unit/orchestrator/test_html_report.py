"""The HTML report renderer without a browser: escaping, no network loads, odd reports.

The page is opened from mail and CI artifacts, and its text comes from whoever can tag an
instance, so what matters most is that report text can never become markup or script, and that
nothing on the page fetches from the network. What it looks like and does in a real browser is
tests/browser/test_html_report_browser.py.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from orchestrator.scan.html_report import build_view, to_html

HOSTILE = "<script>alert(1)</script>"
ATTRIBUTE_BREAKER = '"><img src=x onerror=alert(2)>'


def finding(**overrides: Any) -> dict[str, Any]:
    base = {
        "finding_id": "f" * 64,
        "resource_type": "instance",
        "resource_id": "i-0abc",
        "resource_arn": "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc",
        "account_id": "123456789012",
        "instance_id": "i-0abc",
        "region": "us-east-1",
        "rule_id": "imdsv2_required",
        "title": "Instance requires IMDSv2",
        "severity": "high",
        "severity_reason": None,
        "status": "FAIL",
        "suppressed": False,
        "suppression_reason": None,
        "message": "IMDSv1 is allowed (HttpTokens=optional)",
        "tags": {"Name": "web-1", "Owner": "ops"},
        "first_seen": "2026-01-10T08:00:00Z",
        "risk": "Credentials can be stolen through SSRF.",
        "remediation": "Require session tokens.",
        "remediation_cli": "aws ec2 modify-instance-metadata-options --instance-id i-0abc --http-tokens required",
        "remediation_pulumi": 'aws.ec2.Instance("web", metadata_options={"http_tokens": "required"})',
        "mappings": {"security_hub": "EC2.8", "aws_config": "ec2-imdsv2-check"},
    }
    base.update(overrides)
    return base


def report(**overrides: Any) -> dict[str, Any]:
    findings = [
        finding(),
        finding(
            finding_id="e" * 64, resource_id="i-0def", instance_id="i-0def", region="eu-west-1",
            rule_id="ssh_open_to_internet", title="SSH (22/tcp) is not open to the internet",
            severity="critical", severity_reason="reachable from 0.0.0.0/0 through sg-1",
            message="SSH port 22 is open to the internet via sg-1", tags={"Name": "bastion"},
        ),
        finding(
            finding_id="d" * 64, resource_id="i-0fed", instance_id="i-0fed", rule_id="required_tags",
            title="Instance carries the required tags", severity="low", suppressed=True,
            suppression_reason="Sandbox account (SEC-9)", message="missing tags: CostCenter", mappings={},
        ),
    ]
    base = {
        "schema_version": 2,
        "run_id": "20260115T090000Z-0123abcd",
        "generated_at": "2026-01-15T09:00:00Z",
        "account_id": "123456789012",
        "regions": ["us-east-1", "eu-west-1"],
        "incomplete_regions": [],
        "partial": False,
        "partial_reason": None,
        "policy": {"enabled_rules": ["imdsv2_required", "ssh_open_to_internet", "required_tags"],
                   "alert_threshold": 90.0, "alert_on_new_findings": True, "suppressions": 1},
        "summary": {
            "total_instances": 5,
            "compliant_instances": 3,
            "non_compliant_instances": 2,
            "unevaluated_instances": 0,
            "compliance_rate": 60.0,
            "by_rule": {
                "imdsv2_required": {"failed": 1, "passed": 4, "suppressed": 0, "skipped": 0},
                "ssh_open_to_internet": {"failed": 1, "passed": 4, "suppressed": 0, "skipped": 0},
                "required_tags": {"failed": 1, "passed": 4, "suppressed": 1, "skipped": 0},
                "no_key_pair": {"failed": 0, "passed": 5, "suppressed": 0, "skipped": 0},
            },
            "by_severity": {"critical": 1, "high": 1, "medium": 0, "low": 0, "informational": 0},
        },
        "findings": findings,
        "errors": [],
        "expired_suppressions": [],
        "new_findings": [copy.deepcopy(findings[1])],
        "resolved_findings": [finding(resource_id="i-0old", instance_id="i-0old", tags={"Name": "gone"})],
        "previous_run_id": "20260114T090000Z-89abcdef",
    }
    base.update(overrides)
    return base


class Page(HTMLParser):
    """Every start tag with its attributes, the text inside elements carrying a `data-stat`, and
    the raw contents of <script> and <style> (for the CSP hashes)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stats: dict[str, str] = {}
        self.raw: dict[str, list[str]] = {"script": [], "style": []}
        self._stat: str | None = None
        self._raw: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if dict(attrs).get("data-stat"):
            self._stat = dict(attrs)["data-stat"]
            self.stats[self._stat] = ""
        if tag in self.raw:
            self._raw = tag
            self.raw[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        self._stat = None
        if tag == self._raw:
            self._raw = None

    def handle_data(self, data: str) -> None:
        if self._stat:
            self.stats[self._stat] += data
        if self._raw:
            self.raw[self._raw][-1] += data

    def with_attr(self, name: str, value: str | None = None) -> list[dict[str, str | None]]:
        return [a for _, a in self.tags if name in a and (value is None or a[name] == value)]


def hostile_report() -> dict[str, Any]:
    doc = report()
    first = doc["findings"][0]
    first["tags"] = {"Name": HOSTILE, HOSTILE: ATTRIBUTE_BREAKER}
    first["message"] = ATTRIBUTE_BREAKER + HOSTILE
    first["region"] = ATTRIBUTE_BREAKER
    first["rule_id"] = ATTRIBUTE_BREAKER
    first["suppressed"], first["suppression_reason"] = True, HOSTILE
    first["severity_reason"] = HOSTILE
    first["remediation_cli"] = "echo '</pre></code>" + HOSTILE + "'"
    first["mappings"] = {"cis": HOSTILE}
    doc["account_id"] = HOSTILE
    doc["regions"] = [ATTRIBUTE_BREAKER]
    doc["errors"] = [{"region": HOSTILE, "operation": "ec2:DescribeInstances", "code": "X", "message": HOSTILE}]
    doc["partial"], doc["partial_reason"], doc["incomplete_regions"] = True, HOSTILE, [ATTRIBUTE_BREAKER]
    doc["summary"]["by_rule"][ATTRIBUTE_BREAKER] = {"failed": 1, "passed": 0, "suppressed": 1, "skipped": 0}
    doc["summary"]["by_severity"][ATTRIBUTE_BREAKER] = 1
    doc["new_findings"] = [copy.deepcopy(first)]
    doc["expired_suppressions"] = [{"rule": HOSTILE, "tag": {"key": HOSTILE, "value": ATTRIBUTE_BREAKER},
                                    "reason": HOSTILE, "expires": "2026-01-01"}]
    return doc


def test_report_text_is_escaped_in_content_and_attributes() -> None:
    html = to_html(hostile_report())
    page = Page(html)

    # The hostile strings never appear raw; their escaped form does.
    assert HOSTILE not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Exactly one script element (the page's own) and no event-handler attribute anywhere: the
    # attribute breaker stayed inside its quoted attribute value.
    assert [tag for tag, _ in page.tags if tag == "script"] == ["script"]
    assert not [name for _, attrs in page.tags for name in attrs if name.startswith("on")]
    assert not [tag for tag, _ in page.tags if tag in ("img", "iframe", "object", "embed", "link", "base")]
    # ... and round-trips exactly as data for the filters.
    assert page.with_attr("data-region", ATTRIBUTE_BREAKER)
    assert page.with_attr("data-rule", ATTRIBUTE_BREAKER)
    assert page.with_attr("data-severity", ATTRIBUTE_BREAKER)  # the severity chart's odd key
    options = [a["value"] for tag, a in page.tags if tag == "option"]
    assert ATTRIBUTE_BREAKER in options
    assert page.stats["compliance_rate"] == "60%"


def test_never_marks_report_data_safe() -> None:
    from pathlib import Path

    import orchestrator.scan.html_report as module

    templates = Path(module.__file__).parent / "templates"
    for path in templates.glob("*.j2"):
        text = path.read_text(encoding="utf-8")
        assert "|safe" not in text.replace(" ", ""), path
        assert "autoescape false" not in text, path


NETWORK = (
    re.compile(r"""\b(?:src|href|action|formaction|poster|data|srcset|xlink:href)\s*=\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"@import", re.I),
    re.compile(r"url\(\s*['\"]?\s*(?:https?:)?//", re.I),
)


@pytest.mark.parametrize("doc", [report(), hostile_report(), {}], ids=["report", "hostile", "empty"])
def test_nothing_is_loaded_from_the_network(doc: dict[str, Any]) -> None:
    html = to_html(doc)
    for pattern in NETWORK:
        assert not pattern.search(html), pattern.pattern
    page = Page(html)
    # No element that fetches at all: no external script/style/image/frame, no src= of any kind.
    assert not [(tag, a) for tag, a in page.tags if "src" in a or (tag == "link")]
    assert all(tag != "script" or not a for tag, a in page.tags)  # the one script is inline
    # And the browser is told to refuse any fetch, allowing only this page's own style and script.
    csp = next(a["content"] for tag, a in page.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None and "default-src 'none'" in csp
    for kind, directive in (("script", "script-src"), ("style", "style-src")):
        (body,) = page.raw[kind]
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp


def test_summary_counts_charts_changes_and_filters() -> None:
    doc = report()
    page = Page(to_html(doc))
    for key in ("total_instances", "compliant_instances", "non_compliant_instances", "unevaluated_instances"):
        assert page.stats[key] == str(doc["summary"][key])
    assert page.stats["compliance_rate"] == "60%"
    assert page.stats["open_findings"] == "2" and page.stats["suppressed_findings"] == "1"
    assert page.stats["errors"] == "0"

    (chart,) = page.with_attr("data-chart", "severity")
    bars = [a for tag, a in page.tags if tag == "rect" and "data-count" in a and "data-severity" in a]
    assert [(a["data-severity"], a["data-count"]) for a in bars] == [
        ("critical", "1"), ("high", "1"), ("medium", "0"), ("low", "0"), ("informational", "0")]
    assert page.with_attr("data-chart", "rules")
    rules = [a for _, a in page.tags if "data-rule" in a and "data-failed" in a]
    # Rules with open failures first, then the suppressed-only one, then the clean one.
    assert [a["data-rule"] for a in rules][-2:] == ["required_tags", "no_key_pair"]
    assert {a["data-rule"] for a in rules[:2]} == {"imdsv2_required", "ssh_open_to_internet"}
    assert [(a["data-open"], a["data-suppressed"], a["data-passed"]) for a in rules][-2] == ("0", "1", "4")

    rows = [a for tag, a in page.tags if tag == "tbody" and "finding" in (a.get("class") or "").split()]
    assert len(rows) == 3
    assert [a["data-severity"] for a in rows] == ["critical", "high", "low"]  # unsuppressed first, by severity
    assert page.with_attr("data-hook", "remediation")
    new_items = [a for tag, a in page.tags if tag == "li" and "data-rule" in a]
    assert [a["data-rule"] for a in new_items] == ["ssh_open_to_internet", "imdsv2_required"]  # new, resolved
    for select, values in (("filter-severity", ["", "critical", "high", "low"]),
                           ("filter-rule", ["", "imdsv2_required", "required_tags", "ssh_open_to_internet"]),
                           ("filter-region", ["", "eu-west-1", "us-east-1"])):
        html = to_html(doc)
        section = html.split(f'id="{select}"', 1)[1].split("</select>", 1)[0]
        assert re.findall(r'<option value="([^"]*)"', section) == values


def test_finding_row_shows_remediation_mappings_severity_reason_and_suppression() -> None:
    html = to_html(report())
    assert "aws ec2 modify-instance-metadata-options --instance-id i-0abc --http-tokens required" in html
    assert "aws.ec2.Instance(&#34;web&#34;, metadata_options={&#34;http_tokens&#34;: &#34;required&#34;})" in html
    assert "Security Hub (FSBP)" in html and "EC2.8" in html and "ec2-imdsv2-check" in html
    assert "reachable from 0.0.0.0/0 through sg-1" in html
    assert "Sandbox account (SEC-9)" in html
    assert "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc" in html
    assert "2026-01-10 08:00 UTC" in html  # first_seen
    assert "2 of 3" not in html and re.search(r'id="findings-shown">3</strong> of <span id="findings-total">3<', html)


def test_a_null_compliance_rate_shows_na() -> None:
    doc = report()
    doc["summary"]["compliance_rate"] = None
    page = Page(to_html(doc))
    assert page.stats["compliance_rate"] == "n/a"
    assert build_view(doc).rate_tone == "none"
    assert not [a for tag, a in page.tags if tag == "circle" and "donut-value" in (a.get("class") or "")]


def test_a_partial_report_shows_a_warning_with_reason_and_regions() -> None:
    doc = report(partial=True, partial_reason="eu-west-1: AccessDenied on ec2:DescribeVolumes",
                 incomplete_regions=["eu-west-1"],
                 errors=[{"region": "eu-west-1", "operation": "ec2:DescribeVolumes", "code": "AccessDenied",
                          "message": "User is not authorized"}])
    html = to_html(doc)
    page = Page(html)
    (warning,) = page.with_attr("data-hook", "partial-warning")
    assert warning.get("role") == "alert"
    assert "eu-west-1: AccessDenied on ec2:DescribeVolumes" in html
    assert [a["data-incomplete-region"] for a in page.with_attr("data-incomplete-region")] == ["eu-west-1"]
    assert page.stats["errors"] == "1"
    assert page.with_attr("data-error-region", "eu-west-1")
    assert "User is not authorized" in html
    assert "partial-warning" not in to_html(report())


@pytest.mark.parametrize(
    "doc",
    [
        {},
        report(findings=[], new_findings=[], resolved_findings=[], errors=[],
               summary={"total_instances": 0, "compliant_instances": 0, "non_compliant_instances": 0,
                        "unevaluated_instances": 0, "compliance_rate": None, "by_rule": {}, "by_severity": {}}),
    ],
    ids=["no-fields", "no-instances"],
)
def test_an_empty_report_renders(doc: dict[str, Any]) -> None:
    html = to_html(doc)
    page = Page(html)
    assert html.startswith("<!DOCTYPE html>")
    assert page.stats["total_instances"] == "0"
    assert page.stats["compliance_rate"] == "n/a"
    assert page.with_attr("data-hook", "no-findings")
    assert not page.with_attr("id", "findings")  # no table, hence no filters to wire
    assert re.search(r'id="findings-shown">0</strong> of <span id="findings-total">0<', html)
    assert "No new findings." in html


def test_a_schema_1_report_without_the_newer_fields_renders() -> None:
    doc = report()
    keep = ("instance_id", "region", "rule_id", "title", "severity", "status", "suppressed",
            "suppression_reason", "message", "tags")
    doc["findings"] = [{k: f[k] for k in keep} for f in doc["findings"]]
    for key in ("new_findings", "resolved_findings", "previous_run_id", "expired_suppressions"):
        doc.pop(key)
    page = Page(to_html(doc))
    rows = [a for tag, a in page.tags if tag == "tbody" and "finding" in (a.get("class") or "").split()]
    assert len(rows) == 3
    assert not page.with_attr("data-hook", "remediation")  # nothing to show, no empty panel
