"""`collector.RegionCollector` on moto, below the scan: it reads only the sources it is asked
for, and a budget that runs out before the region's own reads leaves them unread, not passed."""

from __future__ import annotations

from collections import Counter

from ec2c.scanner import sources
from ec2c.scanner.assessment.permissions import needed_sources
from ec2c.scanner.collection.budget import TimeBudget
from ec2c.scanner.collection.collector import RegionCollector
from ec2c.scanner.collection.region_resources import ACCOUNT_FETCHERS
from ec2c.scanner.model import AccountRecord

from .conftest import NOW, REGION, launch
from .test_region_resources import REGION_RULES
from .test_scan import open_group


def test_only_the_sources_asked_for_are_read(session, ec2, api_calls) -> None:
    """Groups without their prefix lists: the lists are not read, and the records say the
    instance's prefix lists are unavailable rather than resolving them to nothing."""
    listed = ec2.create_managed_prefix_list(
        PrefixListName="office",
        MaxEntries=2,
        AddressFamily="IPv4",
        Entries=[{"Cidr": "0.0.0.0/0"}],
    )["PrefixList"]["PrefixListId"]
    group = open_group(
        ec2,
        "via-list",
        [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": listed}]},
        ],
    )
    [instance] = launch(ec2, SecurityGroupIds=[group])
    api_calls.clear()
    needed = frozenset({sources.SECURITY_GROUPS})
    with RegionCollector(session, REGION, needed, TimeBudget(None), NOW) as region:
        [[record]] = list(region.pages())
        assert region.resources() == []
    assert record.instance_id == instance
    assert [g.unresolved_prefix_lists for g in record.security_groups] == [(listed,)]
    assert sources.PREFIX_LISTS in record.unavailable and sources.SECURITY_GROUPS not in record.unavailable
    assert api_calls == Counter({"ec2:DescribeInstances": 1, "ec2:DescribeSecurityGroups": 1})
    assert region.all_errors() == [] and region.complete


def test_a_budget_gone_before_the_regions_own_reads_leaves_them_unread(session, ec2) -> None:
    """The region's templates, default groups and guardrails are read beside the listing; when
    the budget runs out first, the guardrails are unavailable (SKIPPED, not passed) and the
    region is incomplete, so no template or group passes for a fixed one."""
    launch(ec2)
    needed = needed_sources(REGION_RULES)
    readings = iter([600_000])
    with RegionCollector(session, REGION, needed, TimeBudget(lambda: next(readings, 1_000)), NOW) as region:
        assert list(region.pages()) == []
        [account] = region.resources()
    assert isinstance(account, AccountRecord)
    assert account.unavailable == {source for source in ACCOUNT_FETCHERS if source in needed} != set()
    assert not region.complete
    assert region.stopped_reason == f"time budget exhausted before ec2:DescribeInstances in {REGION}"
    assert region.all_errors() == []  # running out of time is the partial reason, not an API error
