"""The streaming path on moto: a region is listed, enriched, evaluated and written a page at a
time, with the same verdicts as in one page; lookups are cached per region, so what many pages
share is asked for once; and a listing stopped by the time budget resumes where it stopped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from ec2c.scanner.assessment.permissions import needed_sources
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.collection import collector
from ec2c.scanner.collection.budget import TimeBudget
from ec2c.scanner.collection.collector import RegionCollector
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.run import worker
from ec2c.scanner.run.scanner import scan
from ec2c.scanner.storage import DirStore, read_lines

from .conftest import LINUX_AMI, NOW, REGION, launch, tag_spec
from .test_scan import DEFAULT, open_group, tcp

WINDOWS_AMI = "ami-03cf127a"


def verdicts(report: Any) -> set[tuple[Any, ...]]:
    return {(f["resource_id"], f["rule_id"], f["severity"], f["message"], f["suppressed"]) for f in report.findings()}


def mixed_fleet(ec2: Any) -> list[str]:
    """Six one-instance reservations (moto pages by reservation) that fail different rules."""
    ssh = open_group(ec2, "ssh", [tcp(22, IpRanges=[{"CidrIp": "0.0.0.0/0"}])])
    closed = open_group(ec2, "closed", [])
    return [
        *launch(ec2, SecurityGroupIds=[ssh]),
        *launch(ec2, SecurityGroupIds=[closed], TagSpecifications=tag_spec(Owner="a", Environment="b")),
        *launch(ec2, ImageId=WINDOWS_AMI, KeyName="ops", SecurityGroupIds=[ssh]),
        *launch(
            ec2,
            MetadataOptions={"HttpTokens": "required"},
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": True}}],
        ),
        *launch(ec2, InstanceType="m5.large", SecurityGroupIds=[closed]),
        *launch(ec2, ImageId=WINDOWS_AMI),
    ]


def test_a_region_of_many_pages_is_evaluated_page_by_page_with_the_same_verdicts(
    session, ec2, tmp_path, monkeypatch
) -> None:
    ids = mixed_fleet(ec2)
    one_page = scan(session, [REGION], DEFAULT, DirStore(tmp_path / "one"), now=NOW)

    evaluated: list[int] = []
    real_evaluate = worker.evaluate_resources

    def recording(records: Any, *args: Any) -> Any:
        records = list(records)
        evaluated.append(len(records))
        return real_evaluate(records, *args)

    monkeypatch.setattr(worker, "evaluate_resources", recording)
    monkeypatch.setattr(collector, "PAGE_SIZE", 2)
    progress: list[int] = []
    paged = scan(
        session,
        [REGION],
        DEFAULT,
        DirStore(tmp_path / "paged"),
        now=NOW,
        on_progress=lambda _, listed: progress.append(listed),
    )

    assert progress == [2, 4, 6]
    assert evaluated == [2, 2, 2, 0]  # each page, then the region's other resources (none here)
    assert verdicts(paged) == verdicts(one_page)
    assert len(verdicts(paged)) > len(ids)
    assert paged.summary == one_page.summary
    assert paged.index["errors"] == one_page.index["errors"]
    # the shard is written in the order the pages were read
    order = list(dict.fromkeys(f["resource_id"] for f in paged.findings()))
    assert order == [i for i in ids if i in order]


def test_what_many_pages_share_is_asked_for_once(session, ec2, api_calls, run, monkeypatch) -> None:
    """Four pages: the first three share a group, an image and the VPC, the fourth brings a new
    group and image. Each lookup is asked once per id the region has not read yet, so the shared
    ones cost one call and the fourth page one more; a page's volumes are its own, asked by its
    instance ids."""
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    shared, other = open_group(ec2, "shared", []), open_group(ec2, "other", [])
    for _ in range(3):
        launch(ec2, SecurityGroupIds=[shared])
    launch(ec2, SecurityGroupIds=[other], ImageId=WINDOWS_AMI)
    asked: dict[str, list[list[str]]] = {"DescribeSecurityGroups": [], "DescribeImages": []}

    def record_filter(model: Any, params: dict[str, Any], **_: Any) -> None:
        asked[model.name].append(params["Filters"][0]["Values"])

    for operation in asked:
        session.events.register(f"before-parameter-build.ec2.{operation}", record_filter)

    report = run([REGION], DEFAULT)

    assert report.summary["total_instances"] == 4
    assert asked == {"DescribeSecurityGroups": [[shared], [other]], "DescribeImages": [[LINUX_AMI], [WINDOWS_AMI]]}
    assert api_calls["ec2:DescribeInstances"] == 4
    assert api_calls["ec2:DescribeRouteTables"] == 1
    assert api_calls["ec2:DescribeVolumes"] == 4
    assert report.summary["by_rule"]["ssh_open_to_internet"] == {
        "failed": 0,
        "passed": 4,
        "suppressed": 0,
        "skipped": 0,
    }


class Clock:
    """A Lambda's remaining time that lasts `checks` budget checks (plus the budget's first
    reading), then is all but gone: each API call is preceded by one check."""

    def __init__(self, checks: int) -> None:
        self.left = checks + 1

    def __call__(self) -> int:
        self.left -= 1
        return 600_000 if self.left >= 0 else 1_000


TAGS_ONLY = load_policy({"rules": {rule: {"enabled": rule == "required_tags"} for rule in CATALOGUE}})
"""A rule without lookups: a page costs its listing only."""
GROUPS_ONLY = load_policy(
    {"reachability_grading": False, "rules": {rule: {"enabled": rule == "ssh_open_to_internet"} for rule in CATALOGUE}}
)
"""A rule that looks up each page's security groups."""


def collect(
    session: Any, policy: Any, time_left_ms: Callable[[], int] | None, **keywords: Any
) -> tuple[list[list[str]], RegionCollector]:
    with RegionCollector(session, REGION, needed_sources(policy), TimeBudget(time_left_ms), NOW, **keywords) as region:
        pages = [[record.instance_id for record in page] for page in region.pages()]
        region.resources()
    return pages, region


@pytest.mark.parametrize("stopped_after", [1, 3])
def test_a_listing_stopped_by_the_budget_resumes_at_the_next_page(session, ec2, monkeypatch, stopped_after) -> None:
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    ids = [launch(ec2)[0] for _ in range(5)]

    first_pages, first = collect(session, TAGS_ONLY, Clock(checks=stopped_after))

    assert len(first_pages) == stopped_after
    assert (first.complete, first.next_token is not None) == (False, True)
    assert first.stopped_reason == f"time budget exhausted before ec2:DescribeInstances in {REGION}"
    rest, resumed = collect(session, TAGS_ONLY, None, start_token=first.next_token, region_wide=False)
    assert [i for page in first_pages + rest for i in page] == ids  # none twice, none skipped
    assert (resumed.complete, resumed.next_token) == (True, None)


def test_a_page_whose_enrichment_ran_out_is_read_again_on_resume(session, ec2, monkeypatch) -> None:
    """The budget runs out while page 3's groups are looked up: page 3 is not yielded (its
    records would lack their groups), and next_token points at it, not past it."""
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    ids = [launch(ec2, SecurityGroupIds=[open_group(ec2, f"g{n}", [])])[0] for n in range(4)]

    # pages 1 and 2: a listing and a group lookup each; page 3: its listing only
    first_pages, first = collect(session, GROUPS_ONLY, Clock(checks=5))

    assert first_pages == [[ids[0]], [ids[1]]]
    assert first.stopped_reason == f"time budget exhausted before ec2:DescribeSecurityGroups in {REGION}"
    rest, resumed = collect(session, GROUPS_ONLY, None, start_token=first.next_token, region_wide=False)
    assert rest == [[ids[2]], [ids[3]]]
    assert resumed.complete


def test_a_scan_stopped_after_some_pages_keeps_them_and_is_partial(session, ec2, run, monkeypatch) -> None:
    monkeypatch.setattr(collector, "PAGE_SIZE", 1)
    for _ in range(4):
        launch(ec2)
    clock = Clock(checks=3)  # the region's start, then two listings
    report = run([REGION], TAGS_ONLY, time_left_ms=clock)
    assert report.summary["total_instances"] == 2
    assert report.summary["by_rule"]["required_tags"]["failed"] == 2
    assert report.index["incomplete_regions"] == [REGION]
    assert report.index["partial_reason"] == f"time budget exhausted before ec2:DescribeInstances in {REGION}"
    entry = report.region_entry(REGION)
    assert entry is not None and entry["shards"] is not None
    assert Counter(f["rule_id"] for f in read_lines(report.store, entry["shards"]["findings"])) == {"required_tags": 2}


class ReadOnlyStore(DirStore):
    """A folder that refuses shards (a bucket policy denying the uploads, say) but would take
    the index."""

    def put_file(self, key: str, handle: Any, content_type: str) -> None:
        raise PermissionError(f"{key}: read-only")


def test_shards_that_cannot_be_stored_fail_the_scan_before_any_index(session, ec2, tmp_path) -> None:
    """Storing is not an AWS read to record and go on from: an index naming shards that are not
    there would be a report that lies, so the scan raises and writes no index."""
    launch(ec2)
    store = ReadOnlyStore(tmp_path)
    with pytest.raises(PermissionError, match="findings.jsonl.gz: read-only"):
        scan(session, [REGION], DEFAULT, store, now=NOW)
    assert not store.path("reports/latest.json").exists()
    assert list(tmp_path.rglob("*")) == []
