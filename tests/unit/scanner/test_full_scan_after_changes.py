"""The scheduled scan after the change path found failures: they are new to it too (its history is
the previous full report), and its alert neither lists again nor is sent for those the change
path alerted already. On moto, through `index.handler`, as test_change_events deploys it: the
stack's patterns -> SQS -> the change path, then a full scan of the same bucket and topic.

moto implements every call used here except SSM's DescribeInstanceInformation (reported as
unavailable by both paths); a change record that cannot be read is written as such to S3.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import index

from ec2c.scanner.contract import CHANGES_PREFIX
from ec2c.scanner.reports.reader import read_report
from ec2c.scanner.storage import S3Store

from .conftest import BUCKET, REGION, launch
from .test_change_events import ALL_TRAFFIC, CONTEXT, Changes, changes, cloudtrail, full_scan, internet_facing
from .test_scan import open_group

__all__ = ["changes"]

FIXTURE_GROUP = "sg-0123456789abcdef0"


def opened_after_the_scan(changes: Changes, ec2: Any, count: int = 1) -> list[str]:
    """Instances of a group opened to all traffic after a full scan; the change path's alert read."""
    internet_facing(ec2)
    group = open_group(ec2, "web", [])
    users = launch(ec2, count=count, SecurityGroupIds=[group])
    full_scan(changes)
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ALL_TRAFFIC])
    changes.call(cloudtrail("authorize_security_group_ingress", {FIXTURE_GROUP: group}))
    assert changes.drain() == {"batchItemFailures": []}
    [alert] = changes.alerts()
    assert alert["Subject"].startswith("EC2 compliance: ")
    return users


def alerted(changes: Changes, *severities: str) -> set[tuple[str, str, str]]:
    """(finding id, resource, rule) of the change record's new failures at `severities`."""
    [record] = changes.records()
    return {
        (f["finding_id"], f["resource_id"], f["rule_id"]) for f in record["new_findings"] if f["severity"] in severities
    }


def new_ids(session: Any, result: dict[str, Any]) -> set[str]:
    report = read_report(S3Store(session.client("s3", region_name=REGION), BUCKET), result["report_key"])
    return {f["finding_id"] for f in report.new_findings()}


def test_what_the_change_path_alerted_is_counted_not_listed_and_the_rest_is_listed(changes, session, ec2) -> None:
    opened_after_the_scan(changes, ec2)
    sent = alerted(changes, "critical", "high")
    kept = alerted(changes, "medium", "low", "informational")
    assert sent and kept, "the opened group fails rules above and below the change alert's severity"
    [late] = launch(ec2)  # never seen by the change path: its failures are news to the next scan

    result = index.handler({}, CONTEXT)

    new = new_ids(session, result)
    assert {uid for uid, _, _ in sent | kept} < new, "the report keeps them new: its history is the last full report"
    assert result["alerted"] is True
    [alert] = changes.alerts()
    lines = alert["Message"].split("\n")
    listed = [line for line in lines if line.startswith("- [")]
    assert f"New findings: {len(new) - len(sent)}" in lines
    assert f"Alerted already after a change since the last report, not listed again: {len(sent)}" in lines
    assert len(listed) == len(new) - len(sent)
    assert not [line for line in listed for _, resource, rule in sent if f"{resource} ({REGION}) {rule}:" in line]
    assert all(any(f"{resource} ({REGION}) {rule}:" in line for line in listed) for _, resource, rule in kept)
    assert any(late in line for line in listed)
    assert f": {len(new) - len(sent)} new finding(s)" in alert["Subject"]


def test_a_scan_whose_only_new_findings_were_alerted_after_a_change_sends_no_alert(
    changes, session, ec2, monkeypatch
) -> None:
    monkeypatch.setenv("EVENTS_ALERT_SEVERITY", "informational")
    opened_after_the_scan(changes, ec2, count=2)
    sent = alerted(changes, "critical", "high", "medium", "low", "informational")

    result = index.handler({}, CONTEXT)

    assert new_ids(session, result) == {uid for uid, _, _ in sent}
    assert result["alerted"] is False and changes.alerts() == []


def test_an_unreadable_change_record_leaves_nothing_out_of_the_alert(changes, session, ec2, caplog) -> None:
    opened_after_the_scan(changes, ec2)
    session.client("s3", region_name=REGION).put_object(
        Bucket=BUCKET, Key=f"{CHANGES_PREFIX}99991231T000000000000Z-broken.json", Body=b"{not json"
    )

    with caplog.at_level(logging.WARNING, logger="ec2c.scanner"):
        result = index.handler({}, CONTEXT)

    new = new_ids(session, result)
    [alert] = changes.alerts()
    assert f"New findings: {len(new)}" in alert["Message"].split("\n")
    assert "not listed again" not in alert["Message"]
    assert "change records unread, the alert lists every new finding" in caplog.text
    assert f"{CHANGES_PREFIX}99991231T000000000000Z-broken.json" in caplog.text


def test_the_report_names_the_start_of_the_report_it_was_compared_with(changes, session, ec2) -> None:
    launch(ec2)
    first = index.handler({}, CONTEXT)
    second = index.handler({}, CONTEXT)
    s3 = session.client("s3", region_name=REGION)
    stored = [json.loads(s3.get_object(Bucket=BUCKET, Key=r["report_key"])["Body"].read()) for r in (first, second)]
    assert stored[0]["previous_generated_at"] is None
    assert stored[1]["previous_run_id"] == stored[0]["run_id"]
    assert stored[1]["previous_generated_at"] == stored[0]["generated_at"]
