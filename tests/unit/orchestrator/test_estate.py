"""The estate: rates from instance counts, unread targets never compliant, schema 2 and 3 reports
merged, shards that cannot be read, findings streamed into JSON and CSV and capped in the HTML.

Reports come through the reader's boundary: schema 2 documents through `load_report` (inline
lists), schema 3 ones from a folder store, either written shard by shard here (to control every
count) or by a real scan on moto.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from ec2c.orchestrator.fleet.plan import latest_reader
from ec2c.orchestrator.reporting import estate as estate_module
from ec2c.orchestrator.reporting.estate import Estate, TargetReport, merge, tally
from ec2c.orchestrator.reporting.estate_output import write_estate
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.contract import LATEST_REPORT_KEY
from ec2c.scanner.reports.reader import Report, load_latest, load_report
from ec2c.scanner.reports.report import CSV_COLUMNS
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.run.scanner import scan
from ec2c.scanner.storage import DirStore, ReportReadError, S3Store, ShardWriter, put_json
from tests.unit.orchestrator.test_html_report import Page

ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def summary(compliant: int, failing: int, unevaluated: int = 0, severity: str = "high") -> dict[str, Any]:
    rated = compliant + failing
    return {
        "total_instances": rated + unevaluated,
        "compliant_instances": compliant,
        "non_compliant_instances": failing,
        "unevaluated_instances": unevaluated,
        "compliance_rate": round(100 * compliant / rated, 2) if rated else None,
        "by_rule": {"imdsv2_required": {"failed": failing, "passed": compliant, "suppressed": 0, "skipped": 0}},
        "by_severity": {severity: failing},
    }


def finding(
    instance: str, region: str, severity: str = "high", *, suppressed: bool = False, rule: str = "imdsv2_required"
) -> dict[str, Any]:
    return {
        "rule_id": rule,
        "status": "FAIL",
        "region": region,
        "severity": severity,
        "resource_type": "instance",
        "resource_id": instance,
        "instance_id": instance,
        "account_id": None,
        "suppressed": suppressed,
        "message": "IMDSv1 is enabled",
    }


def schema2(
    account: str,
    regions: Sequence[str],
    compliant: int,
    failing: int,
    *,
    unevaluated: int = 0,
    findings: Sequence[dict[str, Any]] = (),
    partial: bool = False,
) -> dict[str, Any]:
    """A stored schema 2 report: one document, its findings inline."""
    return {
        "schema_version": 2,
        "account_id": account,
        "regions": list(regions),
        "run_id": f"run-{account}-{'+'.join(regions)}",
        "generated_at": "2026-11-26T10:00:00Z",
        "partial": partial,
        "errors": [],
        "summary": summary(compliant, failing, unevaluated),
        "findings": list(findings),
        "account_findings": [{"rule_id": "ebs_default_encryption", "status": "PASS", "region": regions[0]}],
    }


def report(account: str, region: str, compliant: int, failing: int, **keywords: Any) -> Report:
    return load_report(schema2(account, [region], compliant, failing, **keywords), None, "test")


def target(env: str, account: str | None, region: str, body: Report | None, reason: str | None = None) -> TargetReport:
    return TargetReport(env, env, account, region, body, reason)


def sharded(
    root: Path,
    account: str,
    regions: dict[str, tuple[int, list[dict[str, Any]]]],
    totals: dict[str, Any],
    account_findings: Sequence[dict[str, Any]] = (),
) -> Report:
    """A schema 3 report in a folder store, shard by shard: `regions` maps each region to its
    instance count and its findings; `totals` is the summary."""
    store = DirStore(root)
    entries = []
    for region, (instances, findings) in regions.items():
        base = f"reports/2026/11/26/run-{account}/{region}/"
        keys = {name: base + f"{name}.jsonl.gz" for name in ("findings", "new", "resolved", "unevaluated")}
        keys["csv"] = base + "findings.csv.gz"
        if findings:
            writer = ShardWriter(store, keys["findings"])
            for document in findings:
                writer.write({**document, "account_id": account})
            writer.finish()
        entries.append(
            {
                "region": region,
                "complete": True,
                "instances": instances,
                "findings": len(findings),
                "new": 0,
                "resolved": 0,
                "unevaluated": 0,
                "bytes": 0,
                "shards": keys,
            }
        )
    put_json(
        store,
        LATEST_REPORT_KEY,
        {
            "schema_version": 3,
            "run_id": f"run-{account}",
            "generated_at": "2026-11-26T11:00:00Z",
            "account_id": account,
            "regions": list(regions),
            "summary": totals,
            "region_shards": entries,
            "account_findings": list(account_findings),
            "errors": [],
            "partial": False,
        },
    )
    latest = load_latest(store)
    assert latest is not None and latest.sharded
    return latest


def json_of(estate: Estate) -> dict[str, Any]:
    out = io.StringIO()
    write_estate(estate, "json", out)
    return json.loads(out.getvalue())


def csv_of(estate: Estate) -> list[dict[str, str]]:
    out = io.StringIO()
    write_estate(estate, "csv", out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_the_estate_rate_comes_from_instance_counts_not_an_average() -> None:
    small = target("a", ACCOUNT_A, "eu-west-1", report(ACCOUNT_A, "eu-west-1", 5, 5))
    large = target("b", ACCOUNT_B, "us-east-1", report(ACCOUNT_B, "us-east-1", 1000, 0))
    estate = merge([small, large], "2026-11-26T12:00:00Z")
    totals = estate["summary"]
    assert totals["compliant_instances"] == 1005 and totals["non_compliant_instances"] == 5
    assert totals["compliance_rate"] == 99.5  # an average of rates would say 75.0
    assert totals["by_account"][ACCOUNT_A]["compliance_rate"] == 50.0
    assert totals["by_region"]["us-east-1"]["compliance_rate"] == 100.0
    assert [(c["account_id"], c["region"], c["compliance_rate"]) for c in totals["by_account_region"]] == [
        (ACCOUNT_A, "eu-west-1", 50.0),
        (ACCOUNT_B, "us-east-1", 100.0),
    ]
    assert totals["by_rule"]["imdsv2_required"] == {"failed": 5, "passed": 1005, "suppressed": 0, "skipped": 0}
    assert totals["by_severity"] == {"high": 5}
    assert estate["partial"] is False and estate["unread_targets"] == []
    assert "findings" not in estate  # the document holds counts; findings are streamed


def test_unread_targets_make_the_estate_partial_and_are_not_counted() -> None:
    good = target("a", ACCOUNT_A, "eu-west-1", report(ACCOUNT_A, "eu-west-1", 3, 1))
    unread = target("b", ACCOUNT_B, "us-east-1", None, "AccessDenied: s3:GetObject")
    estate = merge([good, unread], "2026-11-26T12:00:00Z")
    assert estate["partial"] is True
    assert estate["unread_targets"] == [{"target": "b/b", "reason": "AccessDenied: s3:GetObject"}]
    assert estate["summary"]["total_instances"] == 4 and estate["summary"]["compliance_rate"] == 75.0
    assert ACCOUNT_B not in estate["summary"]["by_account"]
    assert [row["readable"] for row in estate["targets"]] == [True, False]


def test_findings_are_streamed_tagged_with_their_target_and_account() -> None:
    failing = finding("i-1", "eu-west-1")
    body = report(ACCOUNT_A, "eu-west-1", 0, 1, findings=[failing])
    estate = Estate([target("dev", ACCOUNT_A, "eu-west-1", body)], "t")
    expected = {**failing, "account_id": ACCOUNT_A, "target": "dev/dev"}
    assert list(estate.findings()) == [expected]  # the PASS account finding is left out
    document = json_of(estate)
    assert document["findings"] == [expected]
    assert document["summary"]["findings_total"] == 1 and document["summary"]["findings_suppressed"] == 0
    assert {key: value for key, value in document.items() if key != "findings"} == estate.document()
    [row] = csv_of(estate)
    assert row["target"] == "dev/dev" and row["instance_id"] == "i-1"


def test_a_partial_target_report_makes_the_estate_partial_and_nothing_rated_gives_no_rate() -> None:
    body = report("1", "eu-west-1", 0, 0, unevaluated=2, partial=True)
    estate = merge([target("a", "1", "eu-west-1", body)], "t")
    assert estate["partial"] is True and estate["summary"]["compliance_rate"] is None
    assert estate["summary"]["unevaluated_instances"] == 2


def test_a_schema_2_and_a_schema_3_report_merge_into_one_estate(tmp_path: Path) -> None:
    old_store = DirStore(tmp_path / "old")
    old = schema2(
        ACCOUNT_A,
        ["eu-west-1", "us-east-1"],
        3,
        2,
        findings=[finding("i-old1", "eu-west-1"), finding("i-old2", "us-east-1", "medium")],
    )
    put_json(old_store, LATEST_REPORT_KEY, old)
    old_report = load_latest(old_store)
    assert old_report is not None and not old_report.sharded
    new_report = sharded(
        tmp_path / "new",
        ACCOUNT_B,
        {
            "eu-west-1": (
                4,
                [
                    finding("i-a", "eu-west-1"),
                    finding("i-a", "eu-west-1", rule="ebs_encrypted"),
                    finding("i-b", "eu-west-1", "low", suppressed=True),
                ],
            ),
            "us-east-1": (2, [finding("i-c", "us-east-1", "critical")]),
            "ap-southeast-2": (0, []),
        },
        summary(4, 2),
        account_findings=[{**finding(ACCOUNT_B, "eu-west-1", "medium"), "resource_type": "account"}],
    )
    estate = Estate(
        [target("old", ACCOUNT_A, "eu-west-1", old_report), target("new", ACCOUNT_B, "eu-west-1", new_report)],
        "2026-11-26T12:00:00Z",
        workers=2,
    )
    document = json_of(estate)
    totals = document["summary"]
    assert (totals["total_instances"], totals["compliant_instances"], totals["non_compliant_instances"]) == (11, 7, 4)
    assert totals["compliance_rate"] == 63.64  # 7 of 11, from the counts of both
    # Schema 3: each region's instances from its index entry, its non-compliant ones counted from
    # the shards (i-a fails twice, i-b is suppressed). Schema 2 has no per-region instance count:
    # its regions' joined names, as before.
    cells = {
        (c["account_id"], c["region"]): (c["total_instances"], c["non_compliant_instances"])
        for c in totals["by_account_region"]
    }
    assert cells == {
        (ACCOUNT_A, "eu-west-1+us-east-1"): (5, 2),
        (ACCOUNT_B, "eu-west-1"): (4, 1),
        (ACCOUNT_B, "us-east-1"): (2, 1),
        (ACCOUNT_B, "ap-southeast-2"): (0, 0),
    }
    assert totals["by_region"]["eu-west-1"]["compliance_rate"] == 75.0
    assert totals["by_region"]["ap-southeast-2"]["compliance_rate"] is None
    # Every failure of both, in plan order, tagged; the failing account guardrail last of its report.
    assert [(f["target"], f["resource_id"]) for f in document["findings"]] == [
        ("old/old", "i-old1"),
        ("old/old", "i-old2"),
        ("new/new", "i-a"),
        ("new/new", "i-a"),
        ("new/new", "i-b"),
        ("new/new", "i-c"),
        ("new/new", ACCOUNT_B),
    ]
    assert {f["account_id"] for f in document["findings"] if f["target"] == "old/old"} == {ACCOUNT_A}
    assert (totals["findings_total"], totals["findings_suppressed"]) == (7, 1)
    assert [r["readable"] for r in document["targets"]] == [True, True] and document["partial"] is False
    rows = csv_of(estate)
    assert [(r["target"], r["instance_id"]) for r in rows][:3] == [
        ("old/old", "i-old1"),
        ("old/old", "i-old2"),
        ("new/new", "i-a"),
    ]
    assert len(rows) == 7


def test_a_real_scan_and_a_schema_2_report_merge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        for region, open_, required in (("us-east-1", 3, 1), ("eu-west-1", 2, 0)):
            ec2 = session.client("ec2", region_name=region)
            image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            ec2.run_instances(ImageId=image, MinCount=open_, MaxCount=open_)
            if required:
                ec2.run_instances(
                    ImageId=image, MinCount=required, MaxCount=required, MetadataOptions={"HttpTokens": "required"}
                )
        policy = load_policy({"rules": {rule: {"enabled": rule == "imdsv2_required"} for rule in CATALOGUE}}, "test")
        scanned = scan(session, ["us-east-1", "eu-west-1"], policy, DirStore(tmp_path), account_id=ACCOUNT_B, now=NOW)
    latest = load_latest(DirStore(tmp_path))
    assert latest is not None and latest.index["run_id"] == scanned.index["run_id"]
    old = target(
        "old", ACCOUNT_A, "eu-west-1", report(ACCOUNT_A, "eu-west-1", 1, 1, findings=[finding("i-1", "eu-west-1")])
    )
    document = json_of(Estate([old, target("new", ACCOUNT_B, "us-east-1", latest)], "t"))
    cells = {
        (c["account_id"], c["region"]): (c["total_instances"], c["compliant_instances"])
        for c in document["summary"]["by_account_region"]
    }
    assert cells == {
        (ACCOUNT_A, "eu-west-1"): (2, 1),
        (ACCOUNT_B, "us-east-1"): (4, 1),
        (ACCOUNT_B, "eu-west-1"): (2, 0),
    }
    assert document["summary"]["compliance_rate"] == 25.0  # 2 of 8
    assert sum(f["target"] == "new/new" for f in document["findings"]) == 5 == document["summary"]["findings_total"] - 1


def test_a_multi_region_report_with_unevaluated_instances_in_several_regions_is_not_split(tmp_path: Path) -> None:
    """Its index cannot say in which region the unevaluated instances are: joined names."""
    body = sharded(
        tmp_path,
        ACCOUNT_A,
        {"eu-west-1": (3, [finding("i-1", "eu-west-1")]), "us-east-1": (3, [])},
        summary(3, 1, unevaluated=2),
    )
    assert dict(tally(body).regions) == {
        "eu-west-1+us-east-1": {
            "total_instances": 6,
            "compliant_instances": 3,
            "non_compliant_instances": 1,
            "unevaluated_instances": 2,
        }
    }
    only_one = sharded(
        tmp_path / "one",
        ACCOUNT_A,
        {"eu-west-1": (4, [finding("i-1", "eu-west-1")]), "us-east-1": (0, [])},
        summary(1, 1, unevaluated=2),
    )
    assert tally(only_one).regions["eu-west-1"]["unevaluated_instances"] == 2  # all in the one region with instances


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda path: path.unlink(), "no such file"),
        (lambda path: path.write_bytes(b"not gzip"), "not a gzip file"),
        (lambda path: path.write_bytes(gzip.compress(b'{"rule_id": 1}\n')[:-12]), "truncated or corrupt"),
    ],
)
def test_a_shard_that_cannot_be_read_lists_its_target_unread_with_the_reason(
    tmp_path: Path, damage: Any, why: str
) -> None:
    broken = sharded(
        tmp_path / "broken",
        ACCOUNT_B,
        {"eu-west-1": (2, [finding("i-1", "eu-west-1")]), "us-east-1": (1, [finding("i-2", "us-east-1")])},
        summary(1, 2),
    )
    shard = tmp_path / "broken" / broken.index["region_shards"][1]["shards"]["findings"]
    damage(shard)
    good = target(
        "good", ACCOUNT_A, "eu-west-1", report(ACCOUNT_A, "eu-west-1", 1, 1, findings=[finding("i-9", "eu-west-1")])
    )
    estate = Estate([good, target("broken", ACCOUNT_B, "us-east-1", broken)], "t")
    document = json_of(estate)
    [unread] = document["unread_targets"]
    assert unread["target"] == "broken/broken" and unread["reason"].startswith(f"{shard}: {why}")
    assert "\n" not in unread["reason"]
    assert document["partial"] is True and ACCOUNT_B not in document["summary"]["by_account"]
    assert document["summary"]["total_instances"] == 2  # never counted compliant
    assert {f["target"] for f in document["findings"]} == {"good/good"}  # found unreadable before any output
    assert document["targets"][1]["readable"] is False


def test_a_shard_lost_while_the_findings_are_written_marks_its_target_unread_in_the_counts(tmp_path: Path) -> None:
    """Tallied, then gone: the findings already written stay, the counts after them exclude it."""
    body = sharded(
        tmp_path,
        ACCOUNT_B,
        {"eu-west-1": (2, [finding("i-1", "eu-west-1")]), "us-east-1": (1, [finding("i-2", "us-east-1")])},
        summary(1, 2),
    )
    estate = Estate([target("lost", ACCOUNT_B, "us-east-1", body)], "t")
    assert estate.document()["partial"] is False
    (tmp_path / body.index["region_shards"][1]["shards"]["findings"]).unlink()
    document = json_of(estate)
    assert [f["resource_id"] for f in document["findings"]] == ["i-1"]
    assert document["partial"] is True and "no such file" in document["unread_targets"][0]["reason"]
    assert document["summary"]["total_instances"] == 0 and document["summary"]["findings_total"] == 0


def test_the_html_page_embeds_only_the_most_severe_findings_and_says_how_many_there_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(estate_module, "FINDINGS_SHOWN", 3)
    low = sharded(
        tmp_path / "low",
        ACCOUNT_A,
        {
            "eu-west-1": (
                5,
                [
                    finding("i-l1", "eu-west-1", "low"),
                    finding("i-l2", "eu-west-1", "low"),
                    finding("i-h1", "eu-west-1", "high"),
                    finding("i-c0", "eu-west-1", "critical", suppressed=True),
                ],
            )
        },
        summary(2, 3),
    )
    high = report(
        ACCOUNT_B,
        "us-east-1",
        0,
        2,
        findings=[finding("i-m1", "us-east-1", "medium"), finding("i-c1", "us-east-1", "critical")],
    )
    estate = Estate([target("low", ACCOUNT_A, "eu-west-1", low), target("high", ACCOUNT_B, "us-east-1", high)], "t")
    out = io.StringIO()
    write_estate(estate, "html", out)
    page = Page(out.getvalue())
    shown = [(a["data-target"], a["data-severity"]) for tag, a in page.tags if tag == "tbody" and "data-target" in a]
    # The most severe open findings across both targets; the suppressed critical is not open.
    assert shown == [("high/high", "critical"), ("low/low", "high"), ("high/high", "medium")]
    (count,) = page.with_attr("data-hook", "finding-count")
    assert (count["data-shown"], count["data-total"]) == ("3", "6")
    assert "most severe of" in out.getvalue()
    assert (page.stats["open_findings"], page.stats["suppressed_findings"]) == ("5", "1")
    monkeypatch.setattr(estate_module, "FINDINGS_SHOWN", 10)
    uncapped = io.StringIO()
    write_estate(estate, "html", uncapped)
    (count,) = Page(uncapped.getvalue()).with_attr("data-hook", "finding-count")
    assert (count["data-shown"], count["data-total"]) == ("6", "6") and "most severe of" not in uncapped.getvalue()


def test_the_latest_report_is_read_from_the_bucket_and_a_missing_one_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.session.Session(region_name="eu-west-1")
        s3 = session.client("s3", region_name="eu-west-1")
        for bucket in ("reports-a", "reports-empty"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        put_json(S3Store(s3, "reports-a"), LATEST_REPORT_KEY, schema2(ACCOUNT_A, ["eu-west-1"], 1, 0))
        fetch = latest_reader(session)
        assert fetch("reports-a", "eu-west-1").index["account_id"] == ACCOUNT_A
        with pytest.raises(ReportReadError, match=r"^s3://reports-empty/reports/latest\.json: no report yet;"):
            fetch("reports-empty", "eu-west-1")
        with pytest.raises(ReportReadError, match=r"^s3://reports-gone/reports/latest\.json: NoSuchBucket: "):
            fetch("reports-gone", "eu-west-1")


def test_changed_keys_name_the_properties_that_differ() -> None:
    from ec2c.orchestrator.fleet.drift import changed_keys

    old = {"outputs": {"region": "eu-west-1", "name": "a"}, "tags": {"Owner": "x"}, "size": 1}
    new = {"outputs": {"region": "mars-1", "name": "a"}, "tags": {"Owner": "y"}, "size": 1, "extra": True}
    assert changed_keys(old, new) == ["extra", "outputs.region", "tags.Owner"]
    assert changed_keys(None, {"a": 1}) == ["a"] and changed_keys({"a": {"b": {"c": 1}}}, {"a": {"b": {"c": 2}}}) == [
        "a.b"
    ]


# `ec2c report --plan`: the formats and the exit code, the plan's reading replaced by the targets above


@pytest.fixture
def plan_estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[TargetReport]]:
    """`ec2c report --plan` reads these targets (the stacks' reading is the engine tests')."""
    targets = [
        target(
            "a",
            ACCOUNT_A,
            "eu-west-1",
            report(
                ACCOUNT_A,
                "eu-west-1",
                1,
                2,
                findings=[finding("i-1", "eu-west-1"), finding("=cmd", "eu-west-1", "low")],
            ),
        ),
        target("b", ACCOUNT_B, "us-east-1", None, "s3://reports-b/reports/latest.json: NoSuchBucket: [red]gone[/red]"),
    ]
    monkeypatch.setattr(
        "ec2c.orchestrator.fleet.plan.estate_report",
        lambda plan, config_dir, workers: Estate(targets, "2026-11-26T12:00:00Z", workers),
    )
    yield targets


def _report(*args: str) -> Any:
    from ec2c.orchestrator.cli import app

    return CliRunner().invoke(app, ["report", "--plan", "plan.yaml", *args])


def test_report_plan_writes_every_format_and_exits_1_when_partial(
    plan_estate: list[TargetReport], tmp_path: Path
) -> None:
    as_json = _report("--format", "json")
    assert as_json.exit_code == 1, as_json.output
    document = json.loads(as_json.stdout)
    assert [f["instance_id"] for f in document["findings"]] == ["i-1", "=cmd"] and document["partial"] is True
    as_csv = _report("--format", "csv")
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["target", *CSV_COLUMNS] and [r[:2] for r in rows[1:]] == [["a/a", "i-1"], ["a/a", "'=cmd"]]
    page = tmp_path / "out" / "estate.html"
    as_html = _report("--format", "html", "--output", str(page))
    assert as_html.exit_code == 1 and 'data-hook="heatmap"' in page.read_text()
    assert not list(page.parent.glob(".*"))  # written through a temporary file, renamed
    mask = os.umask(0)
    os.umask(mask)
    assert page.stat().st_mode & 0o777 == 0o666 & ~mask  # as a plain `open` would create it
    table = _report("--output", str(tmp_path / "estate.json"))
    assert table.exit_code == 1
    said = " ".join(table.stderr.split())
    assert "estate: 3 instances" in said and "33.3% · 2 findings" in said
    assert "[red]gone[/red]" in table.stderr  # a reason from AWS is printed as given, never as markup
    assert json.loads((tmp_path / "estate.json").read_text())["summary"]["findings_total"] == 2
    assert "not available for an estate report" in _report("--format", "asff").stderr


def test_report_plan_exits_0_when_every_target_was_read(plan_estate: list[TargetReport]) -> None:
    del plan_estate[1]
    result = _report("--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["partial"] is False
