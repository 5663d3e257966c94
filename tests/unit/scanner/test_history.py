"""Run-to-run history: `history.PreviousFailures` on its own, then across stored shards (two
scans into one store on moto): first_seen carried, new and resolved findings, and the cases
where a run cannot tell that a failure is fixed."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.collection import collector
from ec2c.scanner.identity import finding_id
from ec2c.scanner.reports.history import PreviousFailures, finding_digest, is_active
from ec2c.scanner.reports.reader import Report, load_report
from ec2c.scanner.rules import CATALOGUE

from .conftest import ACCOUNT, NOW, OTHER_REGION, REGION, inline_report, launch, tag_spec
from .test_scan import DEFAULT, fail_when

LATER = NOW + timedelta(days=1)
TWO_RULES = load_policy(
    {
        "rules": {
            **{rule: {"enabled": False} for rule in CATALOGUE},
            "required_tags": {"enabled": True, "params": {"keys": ["Owner"]}},
            "imdsv2_required": {"enabled": True},
        }
    }
)
"""Two instance rules every moto instance fails until it is tagged and requires IMDSv2."""


def failure(resource_id: str, rule_id: str = "required_tags", **fields: Any) -> dict[str, Any]:
    document = {
        "finding_id": finding_id(ACCOUNT, REGION, resource_id, rule_id),
        "resource_id": resource_id,
        "instance_id": resource_id,
        "region": REGION,
        "rule_id": rule_id,
        "status": "FAIL",
        "suppressed": False,
        "first_seen": "2025-01-01T00:00:00Z",
    }
    return {**document, **fields}


def digest(resource_id: str, rule_id: str = "required_tags") -> int:
    return finding_digest(failure(resource_id, rule_id), ACCOUNT)


def pairs(findings: Any) -> set[tuple[str, str]]:
    return {(f["resource_id"], f["rule_id"]) for f in findings}


def test_previous_failures_know_their_first_seen_and_whether_they_were_active() -> None:
    previous = PreviousFailures(
        [
            failure("i-1"),
            failure("i-2", suppressed=True),
            failure("i-3", first_seen=None),
            failure("i-4", status="PASS"),
        ],
        ACCOUNT,
        default_seen="2024-12-24T06:00:00Z",
    )
    assert len(previous) == 4
    assert previous.first_seen(digest("i-1")) == "2025-01-01T00:00:00Z"
    assert previous.first_seen(digest("i-3")) == "2024-12-24T06:00:00Z"  # no first_seen: the report's time
    assert previous.first_seen(digest("i-9")) is None
    assert previous.was_active(digest("i-1"))
    assert not previous.was_active(digest("i-2"))  # suppressed
    assert not previous.was_active(digest("i-4"))  # a passing guardrail
    assert not previous.was_active(digest("i-9"))


def test_a_previous_failure_is_gone_unless_the_run_still_has_it() -> None:
    previous = PreviousFailures([failure("i-1"), failure("i-2"), failure("i-3", suppressed=True)], ACCOUNT, None)
    previous.still_failing(digest("i-1"))
    previous.still_failing(digest("i-9"))  # not a previous failure: nothing to mark
    assert not previous.gone(digest("i-1"))
    assert previous.gone(digest("i-2"))
    assert not previous.gone(digest("i-3"))  # it was not an active failure to begin with
    assert not previous.gone(digest("i-9"))


def test_schema_1_findings_are_matched_by_their_derived_id() -> None:
    """A schema 1 finding has no finding_id, resource_id or first_seen: its id is derived from
    the run's account, the region, the instance and the rule, and it was first seen no later than
    its report; without any time at all, first_seen is unknown."""
    v1 = {"instance_id": "i-1", "region": REGION, "rule_id": "required_tags", "status": "FAIL", "suppressed": False}
    assert finding_digest(v1, ACCOUNT) == digest("i-1")
    assert finding_digest(dict(v1, account_id="111122223333"), ACCOUNT) != digest("i-1")
    previous = PreviousFailures([v1], ACCOUNT, default_seen="2024-12-24T06:00:00Z")
    assert previous.first_seen(digest("i-1")) == "2024-12-24T06:00:00Z"
    assert previous.was_active(digest("i-1"))
    assert PreviousFailures([v1], ACCOUNT, default_seen=None).first_seen(digest("i-1")) is None


def test_only_unsuppressed_fails_are_active() -> None:
    assert is_active({"status": "FAIL", "suppressed": False})
    assert is_active({})  # schema 1: findings were FAILs
    assert not is_active({"status": "FAIL", "suppressed": True})
    assert not is_active({"status": "SKIPPED"})


@pytest.fixture
def paged(monkeypatch: pytest.MonkeyPatch) -> None:
    """One instance a page (moto pages by reservation): the history spans pages."""
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)


def test_terminated_and_fixed_instances_are_resolved_across_pages(ec2, run, paged) -> None:
    kept, gone, fixed = (launch(ec2)[0] for _ in range(3))
    first = run([REGION], TWO_RULES, now=NOW)
    assert pairs(first.new_findings()) == {
        (i, r) for i in (kept, gone, fixed) for r in ("required_tags", "imdsv2_required")
    }
    ec2.terminate_instances(InstanceIds=[gone])
    ec2.create_tags(Resources=[fixed], Tags=[{"Key": "Owner", "Value": "ops"}])
    [newcomer] = launch(ec2)

    second = run([REGION], TWO_RULES, now=LATER, previous=first)

    assert pairs(second.resolved_findings()) == {
        (gone, "required_tags"),
        (gone, "imdsv2_required"),
        (fixed, "required_tags"),
    }
    assert pairs(second.new_findings()) == {(newcomer, "required_tags"), (newcomer, "imdsv2_required")}
    assert (second.index["new_findings"], second.index["resolved_findings"]) == (2, 3)
    entry = second.region_entry(REGION)
    assert entry is not None and (entry["new"], entry["resolved"]) == (2, 3)
    seen = {(f["resource_id"], f["rule_id"]): f["first_seen"] for f in second.findings()}
    assert seen[(kept, "required_tags")] == seen[(fixed, "imdsv2_required")] == "2025-06-01T12:00:00Z"
    assert seen[(newcomer, "required_tags")] == "2025-06-02T12:00:00Z"
    assert second.index["previous_run_id"] == first.index["run_id"]


def test_first_seen_is_carried_run_after_run(ec2, run) -> None:
    launch(ec2)
    report = run([REGION], TWO_RULES, now=NOW)
    for days in (1, 2):
        report = run([REGION], TWO_RULES, now=NOW + timedelta(days=days), previous=report)
    assert {f["first_seen"] for f in report.findings()} == {"2025-06-01T12:00:00Z"}
    assert list(report.new_findings()) == [] and list(report.resolved_findings()) == []


def test_nothing_is_resolved_in_a_region_read_incompletely(session, run) -> None:
    east, west = (session.client("ec2", region_name=region) for region in (REGION, OTHER_REGION))
    [here], [there] = launch(east), launch(west)
    first = run([REGION, OTHER_REGION], TWO_RULES, now=NOW)
    east.terminate_instances(InstanceIds=[here])
    west.terminate_instances(InstanceIds=[there])
    fail_when(session, "DescribeInstances", "UnauthorizedOperation", region=OTHER_REGION)

    second = run([REGION, OTHER_REGION], TWO_RULES, now=LATER, previous=first)

    assert second.index["incomplete_regions"] == [OTHER_REGION]
    assert pairs(second.resolved_findings()) == {(here, "required_tags"), (here, "imdsv2_required")}
    assert list(second.resolved_findings(OTHER_REGION)) == []
    assert second.region_entry(OTHER_REGION)["resolved"] == 0  # type: ignore[index]


def test_a_fix_on_an_early_page_is_not_resolved_when_a_later_page_fails(session, ec2, run, paged) -> None:
    """The region stopped being readable after its first page: the whole region is unproven."""
    [fixed] = launch(ec2)
    launch(ec2)
    first = run([REGION], TWO_RULES, now=NOW)
    ec2.create_tags(Resources=[fixed], Tags=[{"Key": "Owner", "Value": "ops"}])
    fail_when(session, "DescribeInstances", "InternalError", paged=True)
    second = run([REGION], TWO_RULES, now=LATER, previous=first)
    assert second.index["incomplete_regions"] == [REGION]
    assert {f["resource_id"] for f in second.findings()} == {fixed}
    assert list(second.resolved_findings()) == []


def test_a_failure_no_longer_suppressed_is_new(ec2, run) -> None:
    [instance] = launch(ec2)
    suppressing = load_policy(
        {
            "rules": {rule: {"enabled": rule == "imdsv2_required"} for rule in CATALOGUE},
            "suppressions": [{"rule": "imdsv2_required", "instance_id": instance, "reason": "legacy app"}],
        }
    )
    first = run([REGION], suppressing, now=NOW)
    assert [f["suppressed"] for f in first.findings()] == [True]
    assert list(first.new_findings()) == []

    second = run(
        [REGION],
        load_policy({"rules": {rule: {"enabled": rule == "imdsv2_required"} for rule in CATALOGUE}}),
        now=LATER,
        previous=first,
    )

    [new] = second.new_findings()
    assert (new["resource_id"], new["rule_id"], new["suppressed"]) == (instance, "imdsv2_required", False)
    assert new["first_seen"] == "2025-06-01T12:00:00Z"  # the suppressed finding was listed then
    assert list(second.resolved_findings()) == []


def test_a_failure_suppressed_since_is_neither_new_nor_resolved(ec2, run) -> None:
    """It still fails, only accepted now: archiving it as resolved would contradict the ACTIVE,
    SUPPRESSED finding the same report sends to Security Hub."""
    [instance] = launch(ec2)
    only_imds = {"rules": {rule: {"enabled": rule == "imdsv2_required"} for rule in CATALOGUE}}
    first = run([REGION], load_policy(only_imds), now=NOW)
    suppressing = load_policy(
        {**only_imds, "suppressions": [{"rule": "imdsv2_required", "instance_id": instance, "reason": "legacy app"}]}
    )
    second = run([REGION], suppressing, now=LATER, previous=first)
    assert [(f["resource_id"], f["suppressed"]) for f in second.findings()] == [(instance, True)]
    assert list(second.new_findings()) == [] and list(second.resolved_findings()) == []


def previous_of(*findings: dict[str, Any], **fields: Any) -> Report:
    """A schema 2 report of the previous run, findings inline."""
    return inline_report(run_id="before", generated_at="2025-05-01T00:00:00Z", findings=list(findings), **fields)


def test_a_schema_1_report_still_feeds_first_seen_and_the_diff(ec2, run) -> None:
    """v1 findings have no ids, resource_id or first_seen: they are matched by their derived id
    and were first seen no later than the v1 report itself."""
    [instance] = launch(ec2, TagSpecifications=tag_spec(Owner="ops"))
    v1 = {
        "schema_version": 1,
        "run_id": "old",
        "generated_at": "2024-12-24T06:00:00Z",
        "summary": {},
        "findings": [
            {
                "instance_id": instance,
                "region": REGION,
                "rule_id": "imdsv2_required",
                "status": "FAIL",
                "suppressed": False,
            },
            {
                "instance_id": "i-gone",
                "region": REGION,
                "rule_id": "imdsv2_required",
                "status": "FAIL",
                "suppressed": False,
            },
        ],
    }
    report = run([REGION], TWO_RULES, now=NOW, previous=load_report(v1, None, "v1"))
    [finding] = report.findings()
    assert finding["first_seen"] == "2024-12-24T06:00:00Z"
    assert list(report.new_findings()) == []
    assert [f["instance_id"] for f in report.resolved_findings()] == ["i-gone"]
    assert report.index["previous_run_id"] == "old"


def test_only_what_changed_is_new_and_only_what_is_gone_is_resolved(session, ec2, run) -> None:
    """The schema 2 diff of the old tests, on moto: i-gone is resolved; a suppressed previous
    failure failing unsuppressed now is new; a failure in a region not read completely, or in a
    region not scanned at all, is not resolved."""
    [still, was_suppressed] = launch(ec2, count=2, TagSpecifications=tag_spec(Owner="ops"))
    fail_when(session, "DescribeInstances", "UnauthorizedOperation", region=OTHER_REGION)
    previous = previous_of(
        failure(still, "imdsv2_required"),
        failure(was_suppressed, "imdsv2_required", suppressed=True),
        failure("i-gone", "imdsv2_required"),
        failure("i-9", "imdsv2_required", region=OTHER_REGION),
        failure("i-8", "imdsv2_required", region="ap-south-1"),
    )
    report = run([REGION, OTHER_REGION], TWO_RULES, now=NOW, previous=previous)
    assert pairs(report.new_findings()) == {(was_suppressed, "imdsv2_required")}
    assert pairs(report.resolved_findings()) == {("i-gone", "imdsv2_required")}
    assert {f["first_seen"] for f in report.findings()} == {"2025-01-01T00:00:00Z"}


def test_failures_whose_data_could_not_be_read_are_not_resolved(session, run) -> None:
    fail_when(session, "DescribeVolumes", "Throttling")
    launch(session.client("ec2", region_name=REGION))  # a page with instances: volumes are read
    previous = previous_of(
        failure("i-1", "ebs_volumes_encrypted"), failure("i-2", "no_public_ip"), failure("i-3", "retired_rule")
    )
    report = run([REGION], DEFAULT, now=NOW, previous=previous)
    assert [e["operation"] for e in report.index["errors"] if e["code"] == "Throttling"] == ["ec2:DescribeVolumes"]
    assert pairs(report.resolved_findings()) == {("i-2", "no_public_ip"), ("i-3", "retired_rule")}


OPT_IN_ONLY = load_policy(
    {"rules": {rule: {"enabled": rule in ("user_data_secrets", "termination_protection")} for rule in CATALOGUE}}
)


def test_rules_unevaluated_on_one_resource_are_listed_and_never_resolved(ec2, run) -> None:
    """The instance's user data cannot be decoded although the read worked: a per-resource gap,
    listed on its own, so its previous user data finding is not resolved; its termination
    protection, fixed, is."""
    [odd] = launch(ec2)
    ec2.modify_instance_attribute(InstanceId=odd, UserData={"Value": base64.b64encode(b"\x1f\x8b\x08 not gzip")})
    ec2.modify_instance_attribute(InstanceId=odd, DisableApiTermination={"Value": True})
    previous = previous_of(failure(odd, "user_data_secrets"), failure(odd, "termination_protection"))
    report = run([REGION], OPT_IN_ONLY, now=NOW, previous=previous)
    [gap] = report.unevaluated()
    assert {k: v for k, v in gap.items() if k != "message"} == {
        "region": REGION,
        "resource_type": "instance",
        "resource_id": odd,
        "rule_id": "user_data_secrets",
    }
    assert gap["message"].startswith("user data could not be decoded")
    assert report.region_entry(REGION)["unevaluated"] == 1  # type: ignore[index]
    assert pairs(report.resolved_findings()) == {(odd, "termination_protection")}
    assert not report.unproven()((REGION, odd, "termination_protection"))
    assert report.unproven()((REGION, odd, "user_data_secrets"))


def test_a_region_wide_gap_is_an_error_not_one_entry_per_resource(session, ec2, run) -> None:
    launch(ec2, count=2)
    fail_when(session, "DescribeImages", "Throttling")
    report = run([REGION], DEFAULT, now=NOW)
    assert [e["operation"] for e in report.index["errors"] if e["code"] == "Throttling"] == ["ec2:DescribeImages"]
    image_rules = {rule_id for rule_id, rule in CATALOGUE.items() if "ec2:DescribeImages" in rule.iam_actions}
    assert report.summary["by_rule"]["approved_ami"]["skipped"] == 2
    assert not [u for u in report.unevaluated() if u["rule_id"] in image_rules]


GUARDRAILS = load_policy(
    {"rules": {rule: {"enabled": rule in ("ebs_default_encryption", "imds_defaults_v2")} for rule in CATALOGUE}}
)


def test_a_skipped_account_guardrail_does_not_resolve_its_failure(ec2, run) -> None:
    """moto lacks GetInstanceMetadataDefaults: that guardrail is SKIPPED now, which proves
    nothing; EBS encryption by default, enabled since, is resolved."""
    previous = inline_report(
        run_id="before",
        account_findings=[
            failure(ACCOUNT, "ebs_default_encryption", instance_id=None, resource_type="account"),
            failure(ACCOUNT, "imds_defaults_v2", instance_id=None, resource_type="account"),
        ],
    )
    ec2.enable_ebs_encryption_by_default()
    report = run([REGION], GUARDRAILS, now=NOW, previous=previous, account_id=ACCOUNT)
    statuses = {f["rule_id"]: f["status"] for f in report.index["account_findings"]}
    assert statuses == {"ebs_default_encryption": "PASS", "imds_defaults_v2": "SKIPPED"}
    assert pairs(report.resolved_findings()) == {(ACCOUNT, "ebs_default_encryption")}


def test_a_new_failing_guardrail_is_new_and_carries_first_seen(ec2, run) -> None:
    first = run([REGION], GUARDRAILS, now=NOW, account_id=ACCOUNT)
    [new] = first.new_findings()
    assert (new["resource_type"], new["rule_id"]) == ("account", "ebs_default_encryption")
    second = run([REGION], GUARDRAILS, now=LATER, previous=first, account_id=ACCOUNT)
    assert list(second.new_findings()) == []
    [guardrail] = [f for f in second.index["account_findings"] if f["status"] == "FAIL"]
    assert guardrail["first_seen"] == "2025-06-01T12:00:00Z"
    assert [row[2] for row in second.csv_lines()][1:] == ["ebs_default_encryption"]


def test_without_a_previous_report_every_unsuppressed_failure_is_new(ec2, run) -> None:
    [instance] = launch(ec2)
    policy = load_policy(
        {
            "rules": {rule: {"enabled": rule in ("required_tags", "imdsv2_required")} for rule in CATALOGUE},
            "suppressions": [{"rule": "required_tags", "instance_id": instance, "reason": "x"}],
        }
    )
    report = run([REGION], policy, now=NOW)
    assert pairs(report.new_findings()) == {(instance, "imdsv2_required")}
    assert report.index["previous_run_id"] is None


def test_an_unreadable_previous_report_makes_nothing_new_and_says_why(ec2, run) -> None:
    """What the handler passes when latest.json cannot be read: nothing is new (rather than
    everything), nothing resolved, and the errors say why."""
    launch(ec2)
    report = run([REGION, OTHER_REGION], TWO_RULES, now=NOW, history_error="reports/latest.json: not JSON")
    assert list(report.findings()) and list(report.new_findings()) == []
    assert report.index["new_findings"] == 0
    assert [e for e in report.index["errors"] if e["operation"] == "history"] == [
        {
            "region": REGION,
            "operation": "history",
            "code": "UnreadablePreviousReport",
            "message": "reports/latest.json: not JSON",
        },
    ]
    empty = run([], TWO_RULES, now=NOW, history_error="gone")
    assert empty.index["errors"] == [
        {"region": "", "operation": "history", "code": "UnreadablePreviousReport", "message": "gone"}
    ]


def test_a_missing_shard_of_the_previous_run_is_an_error_of_its_region(session, run, store) -> None:
    east, west = (session.client("ec2", region_name=region) for region in (REGION, OTHER_REGION))
    launch(east)
    launch(west)
    first = run([REGION, OTHER_REGION], TWO_RULES, now=NOW)
    west.terminate_instances(
        InstanceIds=[i["InstanceId"] for r in west.describe_instances()["Reservations"] for i in r["Instances"]]
    )
    lost = first.region_entry(REGION)["shards"]["findings"]  # type: ignore[index]
    store.path(lost).unlink()

    second = run([REGION, OTHER_REGION], TWO_RULES, now=LATER, previous=first)

    [error] = [e for e in second.index["errors"] if e["operation"] == "history"]
    assert (error["region"], error["code"]) == (REGION, "UnreadablePreviousReport")
    assert error["message"] == f"{store.uri(lost)}: no such file"
    assert list(second.new_findings()) == []  # the region's history is unknown, not empty
    assert list(second.resolved_findings(REGION)) == []
    assert len(list(second.resolved_findings(OTHER_REGION))) == 2  # the other region's history holds
    assert second.region_entry(REGION)["findings"] == 2  # type: ignore[index]
