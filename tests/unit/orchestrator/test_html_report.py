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
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest

from ec2c.orchestrator.reporting import html_report
from ec2c.orchestrator.reporting.html_report import build_view, to_html
from ec2c.scanner.reports.reader import Report, load_report

MINIMAL = {
    "run_id": "r",
    "generated_at": "2026-01-15T09:00:00Z",
    "summary": {"total_instances": 0, "compliant_instances": 0, "non_compliant_instances": 0, "compliance_rate": None},
}
"""The least a report holds (schema 1): no lists, no policy, no errors."""
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
            finding_id="e" * 64,
            resource_id="i-0def",
            instance_id="i-0def",
            region="eu-west-1",
            rule_id="ssh_open_to_internet",
            title="SSH (22/tcp) is not open to the internet",
            severity="critical",
            severity_reason="reachable from 0.0.0.0/0 through sg-1",
            message="SSH port 22 is open to the internet via sg-1",
            tags={"Name": "bastion"},
        ),
        finding(
            finding_id="d" * 64,
            resource_id="i-0fed",
            instance_id="i-0fed",
            rule_id="required_tags",
            title="Instance carries the required tags",
            severity="low",
            suppressed=True,
            suppression_reason="Sandbox account (SEC-9)",
            message="missing tags: CostCenter",
            mappings={},
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
        "policy": {
            "enabled_rules": ["imdsv2_required", "ssh_open_to_internet", "required_tags"],
            "alert_threshold": 90.0,
            "alert_on_new_findings": True,
            "suppressions": 1,
        },
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


def loaded(doc: dict[str, Any]) -> Report:
    """A hand-made schema 2 document through the reader's boundary, as `ec2c report` reads one."""
    return load_report(copy.deepcopy(doc), None, "test")


def page_html(doc: dict[str, Any], **keywords: Any) -> str:
    return to_html(loaded(doc), **keywords)


def view_of(doc: dict[str, Any]) -> Any:
    return build_view(loaded(doc))


def guardrail(rule_id: str, region: str, status: str, **overrides: Any) -> dict[str, Any]:
    """An account guardrail result (account findings hold PASS and SKIPPED results too)."""
    return finding(
        **{
            "finding_id": f"{rule_id}-{region}",
            "resource_type": "account",
            "resource_id": "123456789012",
            "resource_arn": "arn:aws:iam::123456789012:root",
            "instance_id": None,
            "region": region,
            "rule_id": rule_id,
            "title": f"title of {rule_id}",
            "severity": "medium",
            "status": status,
            "message": f"{rule_id} {status} in {region}",
            "tags": {},
            "mappings": {},
            **overrides,
        }
    )


def typed_report() -> dict[str, Any]:
    """report() plus two launch templates (one named by its Name tag) and the account guardrails of
    two rules in the two regions: FAIL, suppressed FAIL, PASS, SKIPPED, and one region without a
    result for one rule."""
    doc = report()
    doc["findings"] += [
        finding(
            finding_id="c" * 64,
            resource_type="launch_template",
            resource_id="lt-0named",
            instance_id=None,
            resource_arn="arn:aws:ec2:us-east-1:123456789012:launch-template/lt-0named",
            rule_id="launch_template_imdsv2",
            title="Launch templates require IMDSv2",
            severity="high",
            message="launch template golden: IMDSv1 is allowed",
            tags={"Name": "golden-web"},
        ),
        finding(
            finding_id="b" * 64,
            resource_type="launch_template",
            resource_id="lt-0plain",
            instance_id=None,
            resource_arn="arn:aws:ec2:eu-west-1:123456789012:launch-template/lt-0plain",
            region="eu-west-1",
            rule_id="launch_template_ebs_encrypted",
            title="Launch template EBS volumes are encrypted",
            severity="medium",
            message="launch template plain: EBS mappings without Encrypted=true",
            tags={},
        ),
    ]
    doc["account_findings"] = [
        guardrail("ebs_default_encryption", "us-east-1", "FAIL"),
        guardrail(
            "ebs_default_encryption", "eu-west-1", "FAIL", suppressed=True, suppression_reason="Migrating (SEC-7)"
        ),
        guardrail("serial_console_access_disabled", "us-east-1", "PASS", severity="low"),
        guardrail(
            "serial_console_access_disabled",
            "eu-west-1",
            "SKIPPED",
            severity="low",
            message="could not read the serial console setting",
        ),
        guardrail("imds_defaults_v2", "us-east-1", "PASS"),
    ]
    doc["summary"]["by_resource_type"] = {
        "instance": {"evaluated": 5, "non_compliant": 2},
        "launch_template": {"evaluated": 3, "non_compliant": 2},
        "account": {"evaluated": 2, "non_compliant": 1},
    }
    return doc


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
    doc["expired_suppressions"] = [
        {
            "rule": HOSTILE,
            "tag": {"key": HOSTILE, "value": ATTRIBUTE_BREAKER},
            "reason": HOSTILE,
            "expires": "2026-01-01",
        }
    ]
    doc["findings"].append(
        finding(
            finding_id="9" * 64,
            resource_type="launch_template",
            resource_id=ATTRIBUTE_BREAKER,
            instance_id=None,
            tags={"Name": HOSTILE},
            message=HOSTILE,
            resource_arn=ATTRIBUTE_BREAKER,
        )
    )
    doc["account_findings"] = [
        guardrail(ATTRIBUTE_BREAKER, ATTRIBUTE_BREAKER, "FAIL", message=ATTRIBUTE_BREAKER + HOSTILE, title=HOSTILE),
        guardrail(ATTRIBUTE_BREAKER, "us-east-1", "PASS", message=ATTRIBUTE_BREAKER, suppression_reason=HOSTILE),
        guardrail("imds_defaults_v2", "us-east-1", ATTRIBUTE_BREAKER, message=HOSTILE),
    ]
    return doc


def test_report_text_is_escaped_in_content_and_attributes() -> None:
    html = page_html(hostile_report())
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
    # Launch template and account guardrail text too, in the table, the grid and its tooltips.
    assert [a for a in page.with_attr("data-type", "account") if a.get("data-region") == ATTRIBUTE_BREAKER]
    assert page.with_attr("data-guardrail-region", ATTRIBUTE_BREAKER)
    assert page.with_attr("title", ATTRIBUTE_BREAKER + HOSTILE) and page.with_attr(
        "data-status", ATTRIBUTE_BREAKER.upper()
    )
    options = [a["value"] for tag, a in page.tags if tag == "option"]
    assert ATTRIBUTE_BREAKER in options
    assert page.stats["compliance_rate"] == "60.0%"


def test_never_marks_report_data_safe() -> None:
    from pathlib import Path

    import ec2c.orchestrator.reporting.html_report as module

    templates = Path(module.__file__).parent / "templates"
    for path in templates.glob("*.j2"):
        text = path.read_text(encoding="utf-8")
        assert "|safe" not in text.replace(" ", ""), path
        assert "autoescape false" not in text, path


NETWORK = (
    re.compile(
        r"""\b(?:src|href|action|formaction|poster|data|srcset|xlink:href)\s*=\s*["']?\s*(?:https?:)?//""", re.I
    ),
    re.compile(r"@import", re.I),
    re.compile(r"url\(\s*['\"]?\s*(?:https?:)?//", re.I),
)


@pytest.mark.parametrize("doc", [report(), hostile_report(), MINIMAL], ids=["report", "hostile", "empty"])
def test_nothing_is_loaded_from_the_network(doc: dict[str, Any]) -> None:
    html = page_html(doc)
    for pattern in NETWORK:
        assert not pattern.search(html), pattern.pattern
    page = Page(html)
    # No element that fetches at all: no external script/style/image/frame, no src= of any kind.
    assert not [(tag, a) for tag, a in page.tags if "src" in a or (tag == "link")]
    assert all(tag != "script" or not a for tag, a in page.tags)  # the one script is inline
    # And the browser is told to refuse any fetch, allowing only this page's own style and script.
    csp = next(
        a["content"] for tag, a in page.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None and "default-src 'none'" in csp
    for kind, directive in (("script", "script-src"), ("style", "style-src")):
        (body,) = page.raw[kind]
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp


def test_summary_counts_charts_changes_and_filters() -> None:
    doc = report()
    page = Page(page_html(doc))
    for key in ("total_instances", "compliant_instances", "non_compliant_instances", "unevaluated_instances"):
        assert page.stats[key] == str(doc["summary"][key])
    assert page.stats["compliance_rate"] == "60.0%"
    assert page.stats["open_findings"] == "2" and page.stats["suppressed_findings"] == "1"
    assert page.stats["errors"] == "0"

    (chart,) = page.with_attr("data-chart", "severity")
    bars = [a for tag, a in page.tags if tag == "rect" and "data-count" in a and "data-severity" in a]
    assert [(a["data-severity"], a["data-count"]) for a in bars] == [
        ("critical", "1"),
        ("high", "1"),
        ("medium", "0"),
        ("low", "0"),
        ("informational", "0"),
    ]
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
    for select, values in (
        ("filter-severity", ["", "critical", "high", "low"]),
        ("filter-rule", ["", "imdsv2_required", "required_tags", "ssh_open_to_internet"]),
        ("filter-region", ["", "eu-west-1", "us-east-1"]),
    ):
        html = page_html(doc)
        section = html.split(f'id="{select}"', 1)[1].split("</select>", 1)[0]
        assert re.findall(r'<option value="([^"]*)"', section) == values


def test_finding_row_shows_remediation_mappings_severity_reason_and_suppression() -> None:
    html = page_html(report())
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
    page = Page(page_html(doc))
    assert page.stats["compliance_rate"] == "n/a"
    assert view_of(doc).rate_tone == "none"
    assert not [a for tag, a in page.tags if tag == "circle" and "donut-value" in (a.get("class") or "")]


def test_a_partial_report_shows_a_warning_with_reason_and_regions() -> None:
    doc = report(
        partial=True,
        partial_reason="eu-west-1: AccessDenied on ec2:DescribeVolumes",
        incomplete_regions=["eu-west-1"],
        errors=[
            {
                "region": "eu-west-1",
                "operation": "ec2:DescribeVolumes",
                "code": "AccessDenied",
                "message": "User is not authorized",
            }
        ],
    )
    html = page_html(doc)
    page = Page(html)
    (warning,) = page.with_attr("data-hook", "partial-warning")
    assert warning.get("role") == "alert"
    assert "eu-west-1: AccessDenied on ec2:DescribeVolumes" in html
    assert [a["data-incomplete-region"] for a in page.with_attr("data-incomplete-region")] == ["eu-west-1"]
    assert page.stats["errors"] == "1"
    assert page.with_attr("data-error-region", "eu-west-1")
    assert "User is not authorized" in html
    assert "partial-warning" not in page_html(report())


@pytest.mark.parametrize(
    "doc",
    [
        MINIMAL,
        report(
            findings=[],
            new_findings=[],
            resolved_findings=[],
            errors=[],
            summary={
                "total_instances": 0,
                "compliant_instances": 0,
                "non_compliant_instances": 0,
                "unevaluated_instances": 0,
                "compliance_rate": None,
                "by_rule": {},
                "by_severity": {},
            },
        ),
    ],
    ids=["no-fields", "no-instances"],
)
def test_an_empty_report_renders(doc: dict[str, Any]) -> None:
    html = page_html(doc)
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
    keep = (
        "instance_id",
        "region",
        "rule_id",
        "title",
        "severity",
        "status",
        "suppressed",
        "suppression_reason",
        "message",
        "tags",
    )
    doc["findings"] = [{k: f[k] for k in keep} for f in doc["findings"]]
    for key in ("new_findings", "resolved_findings", "previous_run_id", "expired_suppressions"):
        doc.pop(key)
    page = Page(page_html(doc))
    rows = [a for tag, a in page.tags if tag == "tbody" and "finding" in (a.get("class") or "").split()]
    assert len(rows) == 3
    assert not page.with_attr("data-hook", "remediation")  # nothing to show, no empty panel


# ------------------------------------------------------------------------------------------------
# Resource types: launch templates and account guardrails
# ------------------------------------------------------------------------------------------------


def _rows(page: Page) -> list[dict[str, str | None]]:
    return [a for tag, a in page.tags if tag == "tbody" and "finding" in (a.get("class") or "").split()]


def _cell_text(html: str, css_class: str) -> list[str]:
    """The text of every <td class="css_class"> of the findings table, tags stripped."""
    cells = re.findall(rf'<td class="{css_class}"[^>]*>(.*?)</td>', html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def test_every_resource_type_is_a_labelled_row_with_a_type_filter() -> None:
    doc = typed_report()
    html = page_html(doc)
    page = Page(html)
    rows = _rows(page)
    # Findings plus the failing guardrails (suppressed included); PASS and SKIPPED are no rows.
    assert len(rows) == 3 + 2 + 2
    assert sorted(a["data-type"] for a in rows) == ["account"] * 2 + ["instance"] * 3 + ["launch_template"] * 2
    assert [(a["data-rule"], a["data-region"], a["data-suppressed"]) for a in rows if a["data-type"] == "account"] == [
        ("ebs_default_encryption", "us-east-1", "false"),
        ("ebs_default_encryption", "eu-west-1", "true"),
    ]
    assert not [a for a in rows if a["data-rule"] in ("serial_console_access_disabled", "imds_defaults_v2")]
    # Most severe unsuppressed first, instances before templates before accounts at one severity.
    assert [(a["data-severity"], a["data-type"]) for a in rows][:4] == [
        ("critical", "instance"),
        ("high", "instance"),
        ("high", "launch_template"),
        ("medium", "launch_template"),
    ]
    assert page.stats["open_findings"] == "5" and page.stats["suppressed_findings"] == "2"

    # The resource cell: a type label, the Name tag where there is one, the id, the ARN.
    resources = _cell_text(html, "c-res")
    assert (
        "Launch template golden-web lt-0named arn:aws:ec2:us-east-1:123456789012:launch-template/lt-0named" in resources
    )
    assert "Launch template lt-0plain arn:aws:ec2:eu-west-1:123456789012:launch-template/lt-0plain" in resources
    assert resources.count("Account 123456789012 arn:aws:iam::123456789012:root") == 2
    assert "Instance bastion i-0def arn:aws:ec2:us-east-1:123456789012:instance/i-0abc" in resources

    section = html.split('id="filter-type"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="([^"]*)">([^<]*)<', section) == [
        ("", "All resource types"),
        ("instance", "Instances (3)"),
        ("launch_template", "Launch templates (2)"),
        ("account", "Account guardrails (2)"),
    ]
    # The other filters offer what the rows carry, the guardrails' rules and regions included.
    section = html.split('id="filter-rule"', 1)[1].split("</select>", 1)[0]
    assert "ebs_default_encryption" in section and "serial_console_access_disabled" not in section

    counts = page.with_attr("data-hook", "resource-types")
    assert counts
    assert [
        (a["data-type"], a["data-evaluated"], a["data-non-compliant"]) for a in page.with_attr("data-evaluated")
    ] == [("launch_template", "3", "2"), ("account", "2", "1")]
    assert "2</strong> of 3 launch templates non-compliant" in html and "1</strong> of 2 account regions" in html


def test_a_report_of_instances_only_has_no_type_filter_labels_or_guardrails() -> None:
    html = page_html(report())
    page = Page(html)
    assert not page.with_attr("id", "filter-type")
    assert "type-tag" not in html.split('id="findings"', 1)[1]
    assert not page.with_attr("data-hook", "account-guardrails")
    assert not page.with_attr("data-hook", "resource-types")
    assert {a["data-type"] for a in _rows(page)} == {"instance"}


def test_the_account_guardrails_panel_shows_every_result_per_region() -> None:
    doc = typed_report()
    html = page_html(doc)
    page = Page(html)
    (panel,) = page.with_attr("data-hook", "account-guardrails")
    columns = [(a["data-guardrail-region"], a["data-failing"]) for a in page.with_attr("data-guardrail-region")]
    assert columns == [("us-east-1", "1"), ("eu-west-1", "0")]  # the report's region order; suppressed is no failure
    rules = [(a["data-rule"], a["data-failing"]) for tag, a in page.tags if tag == "tr" and "data-failing" in a]
    assert rules == [
        ("ebs_default_encryption", "1"),
        ("imds_defaults_v2", "0"),
        ("serial_console_access_disabled", "0"),
    ]
    cells = [
        (a["data-region"], a["data-status"], a["data-suppressed"])
        for tag, a in page.tags
        if tag == "td" and "g-cell" in (a.get("class") or "")
    ]
    assert cells == [
        ("us-east-1", "FAIL", "false"),
        ("eu-west-1", "FAIL", "true"),
        ("us-east-1", "PASS", "false"),
        ("eu-west-1", "", "false"),  # imds_defaults_v2: no result in eu-west-1
        ("us-east-1", "PASS", "false"),
        ("eu-west-1", "SKIPPED", "false"),
    ]
    badges = re.findall(r'<span class="status status-(\w+)"(?: title="([^"]*)")?>([^<]*)</span>', html)
    assert badges == [
        ("fail", "ebs_default_encryption FAIL in us-east-1", "Fail"),
        ("suppressed", "ebs_default_encryption FAIL in eu-west-1 (suppressed: Migrating (SEC-7))", "Suppressed"),
        ("pass", "imds_defaults_v2 PASS in us-east-1", "Pass"),
        ("none", "", "No result"),
        ("pass", "serial_console_access_disabled PASS in us-east-1", "Pass"),
        ("skipped", "could not read the serial console setting", "Skipped"),
    ]
    assert "1 of 2 regions failing" in html
    assert "title of serial_console_access_disabled" in html  # a rule that never failed keeps its title
    assert view_of(doc).guardrail_rows[0].title == "title of ebs_default_encryption"


def test_guardrail_changes_are_listed_with_their_type() -> None:
    doc = typed_report()
    doc["new_findings"] = [copy.deepcopy(doc["account_findings"][0]), copy.deepcopy(doc["findings"][3])]
    html = page_html(doc)
    new = html.split('data-hook="new-list"', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r'data-type="(\w+)"', new) == ["launch_template", "account"]
    text = " ".join(re.sub(r"<[^>]+>", " ", new).split())
    assert "Launch template golden-web lt-0named" in text and "Account 123456789012 · us-east-1" in text


# ------------------------------------------------------------------------------------------------
# The cap: a report with more failures than the page embeds
# ------------------------------------------------------------------------------------------------


def test_more_failures_than_the_cap_embeds_the_cap_and_says_where_the_rest_are(monkeypatch) -> None:
    monkeypatch.setattr(html_report, "FINDINGS_SHOWN", 2)
    doc = report()
    doc["new_findings"] = copy.deepcopy(doc["findings"])
    html = page_html(doc)
    page = Page(html)
    rows = _rows(page)
    assert [(a["data-severity"], a["data-suppressed"]) for a in rows] == [("critical", "false"), ("high", "false")]
    (notice,) = page.with_attr("data-hook", "findings-cap")
    assert (notice["data-shown"], notice["data-total"]) == ("2", "3")
    text = " ".join(
        re.sub(r"<[^>]+>", " ", unescape(html.split('data-hook="findings-cap"', 1)[1].split("</p>", 1)[0])).split()
    )
    assert "embeds the 2 most severe of 3 findings" in text
    assert "the report's CSV or JSON export (--format csv or json)" in text
    # The counts are the whole report's, the suppressed finding left out included.
    assert page.stats["open_findings"] == "2" and page.stats["suppressed_findings"] == "1"
    # The new findings: the total in the pill, the cap in the list, and the same pointer.
    new = page.with_attr("data-hook", "new-findings")
    assert new and re.search(r'New since last run <span class="pill pill-bad" data-count="3">3</span>', html)
    assert len(re.findall(r"<li ", html.split('data-hook="new-list"', 1)[1].split("</ul>", 1)[0])) == 2
    assert page.with_attr("data-hook", "new-cap") and not page.with_attr("data-hook", "resolved-cap")
    assert "<code>new_findings</code> (<code>--format json</code>)" in html.split('data-hook="new-cap"', 1)[1]
    # The caller may say better where the rest are (`ec2c report --env` names its command).
    assert "`ec2c report --env dev --format csv`" in page_html(doc, rest_at="`ec2c report --env dev --format csv`")


def test_within_the_cap_there_is_no_notice() -> None:
    page = Page(page_html(report()))
    assert not page.with_attr("data-hook", "findings-cap") and not page.with_attr("data-hook", "new-cap")
    assert len(_rows(page)) == 3


def test_a_sharded_report_points_at_its_csv_shards(monkeypatch, tmp_path) -> None:
    """A report scanned into a folder store: the page names the run's shard folder there."""
    import boto3
    from moto import mock_aws

    from ec2c.scanner.assessment.policy import load_policy
    from ec2c.scanner.rules import CATALOGUE
    from ec2c.scanner.run.scanner import scan
    from ec2c.scanner.storage import DirStore

    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(html_report, "FINDINGS_SHOWN", 1)
    policy = load_policy({"rules": {rule: {"enabled": rule == "imdsv2_required"} for rule in CATALOGUE}})
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        ec2 = session.client("ec2")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ec2.run_instances(ImageId=image, MinCount=3, MaxCount=3, MetadataOptions={"HttpTokens": "optional"})
        stored = scan(session, ["us-east-1"], policy, DirStore(tmp_path))
    assert stored.sharded
    page = Page(to_html(stored))
    assert len(_rows(page)) == 1
    (notice,) = page.with_attr("data-hook", "findings-cap")
    assert notice["data-total"] == "3"
    index = stored.index
    folder = tmp_path / "reports" / index["generated_at"][:10].replace("-", "/") / index["run_id"]
    assert html_report.rest_location(stored) == (
        f"the CSV shards of this run under {folder}/ (one findings.csv.gz per region)"
    )
    assert (folder / "us-east-1" / "findings.csv.gz").is_file()
    assert f"{folder}/" in to_html(stored)
