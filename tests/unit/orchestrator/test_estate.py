"""The estate arithmetic: rates from instance counts, unread targets never compliant."""

from __future__ import annotations

from orchestrator.fleet.estate import TargetReport, merge


def report(account: str, region: str, compliant: int, failing: int, *, unevaluated: int = 0, findings=()) -> dict:
    return {
        "account_id": account, "regions": [region], "run_id": f"run-{account}-{region}",
        "generated_at": "2026-11-26T10:00:00Z", "partial": False, "errors": [],
        "summary": {
            "total_instances": compliant + failing + unevaluated, "compliant_instances": compliant,
            "non_compliant_instances": failing, "unevaluated_instances": unevaluated,
            "compliance_rate": round(100 * compliant / (compliant + failing), 2) if compliant + failing else None,
            "by_rule": {"imdsv2_required": {"failed": failing, "passed": compliant, "suppressed": 0, "skipped": 0}},
            "by_severity": {"high": failing},
        },
        "findings": list(findings),
        "account_findings": [{"rule_id": "ebs_default_encryption", "status": "PASS", "region": region}],
    }  # fmt: skip


def target(env: str, account: str, region: str, body: dict | None, reason: str | None = None) -> TargetReport:
    return TargetReport(env, env, account, region, body, reason)


def test_the_estate_rate_comes_from_instance_counts_not_an_average() -> None:
    small = target("a", "111111111111", "eu-west-1", report("111111111111", "eu-west-1", 5, 5))
    large = target("b", "222222222222", "us-east-1", report("222222222222", "us-east-1", 1000, 0))
    estate = merge([small, large], "2026-11-26T12:00:00Z")
    summary = estate["summary"]
    assert summary["compliant_instances"] == 1005 and summary["non_compliant_instances"] == 5
    assert summary["compliance_rate"] == 99.5  # an average of rates would say 75.0
    assert summary["by_account"]["111111111111"]["compliance_rate"] == 50.0
    assert summary["by_region"]["us-east-1"]["compliance_rate"] == 100.0
    assert [(c["account_id"], c["region"], c["compliance_rate"]) for c in summary["by_account_region"]] == [
        ("111111111111", "eu-west-1", 50.0), ("222222222222", "us-east-1", 100.0),
    ]  # fmt: skip
    assert summary["by_rule"]["imdsv2_required"] == {"failed": 5, "passed": 1005, "suppressed": 0, "skipped": 0}
    assert summary["by_severity"] == {"high": 5}
    assert estate["partial"] is False and estate["unread_targets"] == []


def test_unread_targets_make_the_estate_partial_and_are_not_counted() -> None:
    good = target("a", "111111111111", "eu-west-1", report("111111111111", "eu-west-1", 3, 1))
    unread = target("b", "222222222222", "us-east-1", None, "AccessDenied: s3:GetObject")
    estate = merge([good, unread], "2026-11-26T12:00:00Z")
    assert estate["partial"] is True
    assert estate["unread_targets"] == [{"target": "b/b", "reason": "AccessDenied: s3:GetObject"}]
    assert estate["summary"]["total_instances"] == 4 and estate["summary"]["compliance_rate"] == 75.0
    assert "222222222222" not in estate["summary"]["by_account"]
    assert [row["readable"] for row in estate["targets"]] == [True, False]


def test_findings_are_tagged_with_their_target_and_account() -> None:
    finding = {"rule_id": "imdsv2_required", "status": "FAIL", "region": "eu-west-1", "account_id": None}
    body = report("111111111111", "eu-west-1", 0, 1, findings=[finding])
    estate = merge([target("dev", "111111111111", "eu-west-1", body)], "t")
    assert estate["findings"] == [{**finding, "account_id": "111111111111", "target": "dev/dev"}]  # PASSes left out


def test_a_partial_target_report_makes_the_estate_partial_and_nothing_rated_gives_no_rate() -> None:
    body = {**report("1", "eu-west-1", 0, 0, unevaluated=2), "partial": True}
    estate = merge([target("a", "1", "eu-west-1", body)], "t")
    assert estate["partial"] is True and estate["summary"]["compliance_rate"] is None
    assert estate["summary"]["unevaluated_instances"] == 2


def test_changed_keys_name_the_properties_that_differ() -> None:
    from orchestrator.fleet.drift import changed_keys

    old = {"outputs": {"region": "eu-west-1", "name": "a"}, "tags": {"Owner": "x"}, "size": 1}
    new = {"outputs": {"region": "mars-1", "name": "a"}, "tags": {"Owner": "y"}, "size": 1, "extra": True}
    assert changed_keys(old, new) == ["extra", "outputs.region", "tags.Owner"]
    assert changed_keys(None, {"a": 1}) == ["a"] and changed_keys({"a": {"b": {"c": 1}}}, {"a": {"b": {"c": 2}}}) == ["a.b"]
