"""`targeted.collect_targets` on moto: only what a change touched is read, with the full scan's
collector and builders, so the records and verdicts are those of a full scan. moto implements
every call used here (DescribeInstances with the `instance.group-id` filter included) but SSM's
DescribeInstanceInformation and four guardrail reads, which both collections alike report as
unavailable (`OperationUnavailable`): `failures` leaves those out."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ec2c.scanner import sources
from ec2c.scanner.assessment.evaluation import evaluate_resources
from ec2c.scanner.assessment.permissions import needed_sources
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.changes.targeted import TargetedCollection, Targets, collect_targets
from ec2c.scanner.collection.budget import TimeBudget
from ec2c.scanner.collection.collector import FETCHERS, ID_BATCH, RegionCollector
from ec2c.scanner.model import AccountRecord, InstanceRecord, LaunchTemplateRecord, Record, SecurityGroupRecord

from .conftest import NOW, REGION, launch
from .test_scan import fail_when, open_group, tcp

POLICY = load_policy(None)
NEEDED = needed_sources(POLICY)
PAGE_SOURCES = [source for source in FETCHERS if source in NEEDED]
"""The per-page reads of the default policy: one call each for a page of instances."""
UNKNOWN_INSTANCE = "i-0123456789abcdef0"


def collect(session: boto3.session.Session, needed: frozenset[str] = NEEDED, **targets: Any) -> TargetedCollection:
    return collect_targets(session, Targets(REGION, **targets), needed, TimeBudget(None), NOW)


def full_scan(session: boto3.session.Session) -> dict[str, Record]:
    """Every record a full scan of the region collects, by resource id."""
    with RegionCollector(session, REGION, NEEDED, TimeBudget(None), NOW) as region:
        records: list[Record] = [record for page in region.pages() for record in page]
        records.extend(region.resources())
    return {record.resource_id: record for record in records}


def verdicts(records: list[Record]) -> set[tuple[str, str, str]]:
    return {
        (o.resource.resource_id, o.rule_id, o.result.status) for o in evaluate_resources(records, POLICY, NOW.date())
    }


def failures(collection: TargetedCollection) -> list[tuple[str, str]]:
    """(operation, code) of each error but the reads the emulator does not offer."""
    return [(e.operation, e.code) for e in collection.errors if e.code != "OperationUnavailable"]


def ids(collection: TargetedCollection, kind: type) -> list[str]:
    return [record.resource_id for record in collection.records if isinstance(record, kind)]


def template(ec2: Any, name: str, tokens: str = "optional") -> str:
    return str(
        ec2.create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData={"MetadataOptions": {"HttpTokens": tokens}}
        )["LaunchTemplate"]["LaunchTemplateId"]
    )


def default_group(ec2: Any) -> str:
    (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    return str(group["GroupId"])


def fail_listing(session: boto3.session.Session, filter_name: str) -> None:
    """DescribeInstances fails, denied, for the listings filtered by `filter_name` only."""

    def deny(model: Any, params: dict[str, Any], **_: Any) -> None:
        if any(f["Name"] == filter_name for f in params.get("Filters", [])):
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, model.name)

    session.events.register("before-parameter-build.ec2.DescribeInstances", deny)


def test_targeted_records_and_verdicts_are_the_full_scans(session, ec2) -> None:
    """An instance by id, a changed open group (its instance and the group, not a default one),
    the default group (the instances launched without a group are in it), a template by id and
    the guardrails: each record equals the full scan's, and so does every verdict."""
    opened = open_group(ec2, "ssh", [tcp(22, IpRanges=[{"CidrIp": "0.0.0.0/0"}])])
    [named] = launch(ec2, MetadataOptions={"HttpTokens": "optional"})
    [exposed] = launch(ec2, SecurityGroupIds=[opened])
    [in_default] = launch(ec2, SecurityGroupIds=[default_group(ec2)])
    legacy = template(ec2, "legacy")
    template(ec2, "other")
    everything = full_scan(session)

    collection = collect(
        session,
        instance_ids=frozenset({named}),
        security_group_ids=frozenset({opened}),
        launch_template_ids=frozenset({legacy}),
        account_guardrails=True,
    )

    assert sorted(ids(collection, InstanceRecord)) == sorted([named, exposed])
    assert ids(collection, LaunchTemplateRecord) == [legacy]
    assert ids(collection, SecurityGroupRecord) == []  # a changed group that is no VPC's default
    [account] = [r for r in collection.records if isinstance(r, AccountRecord)]
    assert collection.records == [everything[record.resource_id] for record in collection.records]
    assert verdicts(collection.records) == {
        v for v in verdicts(list(everything.values())) if v[0] in {named, exposed, legacy, account.resource_id}
    }
    assert ("ec2:GetInstanceMetadataDefaults", "OperationUnavailable") in {
        (e.operation, e.code) for e in collection.errors
    }
    assert collection.complete and collection.missing_instance_ids == frozenset()

    by_default = collect(session, security_group_ids=frozenset({default_group(ec2)}))
    assert ids(by_default, InstanceRecord) == [in_default]
    assert by_default.records == [everything[record.resource_id] for record in by_default.records]
    assert ids(by_default, SecurityGroupRecord) == [default_group(ec2)]
    assert not [r for r in by_default.records if isinstance(r, AccountRecord)]  # guardrails not asked for


def test_a_group_brings_exactly_its_instances_at_under_three_calls_each(session, ec2, api_calls) -> None:
    """Three instances use the group, two others do not: one filtered listing and one call per
    page source for the three together; the default-group check reads nothing more, since the
    group was read for its instances."""
    group = open_group(ec2, "web", [tcp(443, IpRanges=[{"CidrIp": "0.0.0.0/0"}])])
    users = launch(ec2, 3, SecurityGroupIds=[group])
    launch(ec2, 2)
    api_calls.clear()

    collection = collect(session, security_group_ids=frozenset({group}))

    assert sorted(ids(collection, InstanceRecord)) == sorted(users)
    assert failures(collection) == [] and collection.complete
    assert collection.calls == sum(api_calls.values()) == 1 + len(PAGE_SOURCES)
    assert collection.calls <= 3 * len(users)
    assert api_calls["ec2:DescribeInstances"] == 1 and api_calls["ec2:DescribeSecurityGroups"] == 1


def test_a_changed_default_group_is_read_once_whether_or_not_an_instance_uses_it(session, ec2, api_calls) -> None:
    """The default group of the VPC: read by the page fetchers for the instance using it, it is
    the record of the default-group rule as read there; unused, the default-group check reads it."""
    group = default_group(ec2)
    everything = full_scan(session)
    api_calls.clear()
    unused = collect(session, security_group_ids=frozenset({group}))
    assert ids(unused, InstanceRecord) == [] and ids(unused, SecurityGroupRecord) == [group]
    assert api_calls == Counter({"ec2:DescribeInstances": 1, "ec2:DescribeSecurityGroups": 1})

    [user] = launch(ec2, 1, SecurityGroupIds=[group])
    everything = full_scan(session)
    api_calls.clear()
    used = collect(session, security_group_ids=frozenset({group}))
    assert ids(used, InstanceRecord) == [user] and ids(used, SecurityGroupRecord) == [group]
    assert used.records == [everything[record.resource_id] for record in used.records]
    assert api_calls["ec2:DescribeSecurityGroups"] == 1 and used.calls == 1 + len(PAGE_SOURCES)


def test_a_default_group_the_page_fetchers_failed_to_read_is_read_by_the_check(session, ec2) -> None:
    """The instances' group read fails (their exposure rules go unread); the default-group check
    asks for the group itself and fails alike, so nothing about the group passes for read."""
    group = default_group(ec2)
    launch(ec2, 1, SecurityGroupIds=[group])
    hits = fail_when(session, "DescribeSecurityGroups", "UnauthorizedOperation")
    collection = collect(session, security_group_ids=frozenset({group}))
    assert len(hits) == 2  # the page fetcher's read, then the check's own
    assert ids(collection, SecurityGroupRecord) == [] and not collection.complete
    assert ("ec2:DescribeSecurityGroups", "UnauthorizedOperation") in failures(collection)


def test_one_instance_costs_one_listing_and_one_call_per_page_source(session, ec2, api_calls) -> None:
    """A lone instance pays the per-page reads alone: with the default policy's five page
    sources that is six calls, above three; with two page sources it is three."""
    [instance] = launch(ec2)
    api_calls.clear()
    collection = collect(session, instance_ids=frozenset({instance}))
    assert ids(collection, InstanceRecord) == [instance]
    assert collection.calls == sum(api_calls.values()) == 1 + len(PAGE_SOURCES) == 6

    api_calls.clear()
    narrow = collect(session, frozenset({sources.SECURITY_GROUPS, sources.VOLUMES}), instance_ids=frozenset({instance}))
    assert ids(narrow, InstanceRecord) == [instance]
    assert narrow.calls == sum(api_calls.values()) == 3
    assert set(api_calls) == {"ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "ec2:DescribeVolumes"}


def test_a_gone_instance_is_missing_not_an_error(session, ec2) -> None:
    [live, terminated] = launch(ec2, 2)
    ec2.terminate_instances(InstanceIds=[terminated])
    collection = collect(session, instance_ids=frozenset({live, terminated, UNKNOWN_INSTANCE}))
    assert ids(collection, InstanceRecord) == [live]
    assert collection.missing_instance_ids == {terminated, UNKNOWN_INSTANCE}
    assert failures(collection) == [] and collection.complete


def test_ids_are_listed_two_hundred_values_a_call(session, ec2, api_calls) -> None:
    [instance] = launch(ec2)
    unknown = {f"i-{n:017x}" for n in range(ID_BATCH)}
    api_calls.clear()
    collection = collect(session, frozenset(), instance_ids=frozenset({instance, *unknown}))
    assert ids(collection, InstanceRecord) == [instance]
    assert collection.missing_instance_ids == unknown
    assert api_calls == Counter({"ec2:DescribeInstances": 2}) and collection.calls == 2


def test_launch_templates_by_id_and_by_name_and_deleted_ones_missing(session, ec2, api_calls) -> None:
    """A deleted template is missing, by id (moto answers without it) and by name (AWS and moto
    fail the whole call: the names are then asked one by one, keeping the others)."""
    by_id = template(ec2, "by-id")
    by_name = template(ec2, "by-name", "required")
    gone = template(ec2, "gone")
    ec2.delete_launch_template(LaunchTemplateId=gone)
    everything = full_scan(session)

    api_calls.clear()
    one = collect(session, launch_template_ids=frozenset({by_id}))
    assert one.records == [everything[by_id]] and failures(one) == [] and one.complete
    assert one.calls == sum(api_calls.values()) == 2 <= 3
    assert set(api_calls) == {"ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"}

    named = collect(session, launch_template_names=frozenset({"by-name", "gone"}))
    assert named.records == [everything[by_name]] and named.missing_launch_templates == {"gone"}

    both = collect(session, launch_template_ids=frozenset({by_id, gone}), launch_template_names=frozenset({"gone"}))
    assert both.records == [everything[by_id]] and both.missing_launch_templates == {gone, "gone"}
    assert failures(both) == [] and both.complete
    assert verdicts(both.records) == {v for v in verdicts(list(everything.values())) if v[0] == by_id}


def test_only_the_sources_needed_are_read(session, ec2, api_calls) -> None:
    """Templates and groups named in an event are not read when no rule looks at them; nor are
    guardrails whose rules are off."""
    legacy = template(ec2, "legacy")
    api_calls.clear()
    collection = collect(
        session,
        frozenset({sources.EBS_DEFAULT_ENCRYPTION}),
        security_group_ids=frozenset({default_group(ec2)}),
        launch_template_ids=frozenset({legacy}),
        account_guardrails=True,
    )
    assert api_calls == Counter({"ec2:DescribeInstances": 1, "ec2:GetEbsEncryptionByDefault": 1})
    [account] = collection.records
    assert isinstance(account, AccountRecord)
    assert account.ebs_encryption_by_default is False and account.unavailable == frozenset()


def test_a_failing_call_is_an_error_and_the_rest_is_collected(session, ec2) -> None:
    """Denied templates and a denied id listing: each is an error and leaves the region
    incomplete, the instances of the group and the default group are still collected, and the
    ids asked for are not called missing (they were never read)."""
    [instance] = launch(ec2, SecurityGroupIds=[default_group(ec2)])
    fail_when(session, "DescribeLaunchTemplates", "UnauthorizedOperation")
    fail_listing(session, "instance-id")

    collection = collect(
        session,
        instance_ids=frozenset({UNKNOWN_INSTANCE}),
        security_group_ids=frozenset({default_group(ec2)}),
        launch_template_ids=frozenset({"lt-0123456789abcdef0"}),
    )

    assert ids(collection, InstanceRecord) == [instance]
    assert ids(collection, SecurityGroupRecord) == [default_group(ec2)]
    assert failures(collection) == [
        ("ec2:DescribeInstances", "UnauthorizedOperation"),
        (sources.IAM_ACTIONS[sources.LAUNCH_TEMPLATES], "UnauthorizedOperation"),
    ]
    assert not collection.complete and collection.missing_instance_ids == frozenset()


def test_a_failing_default_group_read_is_an_error(session, ec2) -> None:
    fail_when(session, "DescribeSecurityGroups", "UnauthorizedOperation")
    collection = collect(session, frozenset({sources.DEFAULT_SECURITY_GROUPS}), security_group_ids=frozenset({"sg-1"}))
    assert collection.records == [] and not collection.complete
    assert failures(collection) == [("ec2:DescribeSecurityGroups", "UnauthorizedOperation")]


def test_a_budget_gone_reads_nothing_and_leaves_the_region_incomplete(session, ec2, api_calls) -> None:
    legacy = template(ec2, "legacy")
    api_calls.clear()
    collection = collect_targets(
        session, Targets(REGION, launch_template_ids=frozenset({legacy})), NEEDED, TimeBudget(lambda: 1_000), NOW
    )
    assert collection.records == [] and failures(collection) == [] and not collection.complete
    assert collection.calls == 0 and sum(api_calls.values()) == 0
