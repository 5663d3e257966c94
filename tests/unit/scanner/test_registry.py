"""The registry of resource types and severities: complete for the catalogue, and the one source
every writer reads (ARNs, ASFF, report documents, the policy)."""

from __future__ import annotations

import json
import typing
from datetime import date

import pytest

from ec2c.scanner import model
from ec2c.scanner.assessment.evaluation import evaluate_resources
from ec2c.scanner.assessment.policy import load_policy
from ec2c.scanner.identity import resource_arn
from ec2c.scanner.registry import (
    RESOURCE_TYPE_KEYS,
    RESOURCE_TYPES,
    SEVERITIES,
    SEVERITY_NAMES,
    ResourceType,
    Severity,
)
from ec2c.scanner.reports.asff import to_asff_finding
from ec2c.scanner.reports.report import finding_document
from ec2c.scanner.rules import CATALOGUE, Rule

from .conftest import ACCOUNT, NOW, record


def test_every_resource_type_a_rule_declares_has_a_record_and_every_record_has_rules() -> None:
    declared = {rule.resource_type for rule in CATALOGUE.values()}
    assert declared == set(RESOURCE_TYPE_KEYS)
    assert all(ResourceType.of(kind).key == kind for kind in declared)


def test_every_record_the_rules_read_names_a_registered_type() -> None:
    records = typing.get_args(model.Record)
    assert [cls.resource_type for cls in records] == list(RESOURCE_TYPE_KEYS)


def test_every_severity_a_rule_uses_is_a_severity() -> None:
    for rule in CATALOGUE.values():
        assert isinstance(rule.severity, Severity), rule.id
    assert {rule.severity for rule in CATALOGUE.values()} <= set(SEVERITIES)


def test_a_rule_with_a_misspelt_severity_or_type_fails_at_construction() -> None:
    base = {"id": "x", "title": "t", "rationale": "r", "remediation": "m", "check": lambda record, params: None}
    with pytest.raises(
        ValueError, match=r"unknown severity 'hgh': expected one of critical, high, medium, low, informational"
    ):
        Rule(severity="hgh", **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown resource type 'volume': expected one of instance, launch_template"):
        Rule(severity=Severity.LOW, resource_type="volume", **base)
    assert Rule(severity="HIGH", **base).severity is Severity.HIGH  # type: ignore[arg-type]


def test_severities_rank_most_severe_first_and_serialize_as_their_names() -> None:
    assert SEVERITY_NAMES == ("critical", "high", "medium", "low", "informational")
    assert [severity.rank for severity in SEVERITIES] == [0, 1, 2, 3, 4]
    assert [severity.ocsf_id for severity in SEVERITIES] == [5, 4, 3, 2, 1]
    assert [severity.label for severity in SEVERITIES] == ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]
    assert Severity.HIGH == "high" and f"{Severity.HIGH}" == "high" and str(Severity.HIGH) == "high"
    assert Severity.HIGH.upper() == "HIGH" and Severity.HIGH.find("g") == 2  # still a str throughout
    assert json.dumps({"severity": Severity.MEDIUM}) == '{"severity": "medium"}'
    assert Severity.CRITICAL.at_least(Severity.HIGH) and Severity.HIGH.at_least(Severity.HIGH)
    assert not Severity.LOW.at_least(Severity.MEDIUM)


def test_severity_parsing_is_case_insensitive_and_lenient_lookups_say_none() -> None:
    assert Severity.parse("Critical") is Severity.CRITICAL
    with pytest.raises(ValueError, match=r"^unknown severity 'severe': expected one of critical, high"):
        Severity.parse("severe")
    assert Severity.lookup("urgent") is None and Severity.lookup(None) is None and Severity.lookup(3) is None
    assert Severity.rank_of("LOW") == 3 and Severity.rank_of("urgent") == Severity.rank_of(None) == 5


def test_resource_type_lookup() -> None:
    assert [kind.key for kind in RESOURCE_TYPES] == ["instance", "launch_template", "security_group", "account"]
    template = ResourceType.of("launch_template")
    assert (template.arn_kind, template.asff_type, template.ocsf_type) == (
        "launch-template",
        "AwsEc2LaunchTemplate",
        "AWS::EC2::LaunchTemplate",
    )
    assert (template.noun, template.plural, template.heading, template.column) == (
        "launch template",
        "launch templates",
        "Launch templates",
        "Launch template",
    )
    assert ResourceType.lookup("volume") is None and ResourceType.lookup(None) is None
    with pytest.raises(ValueError, match=r"unknown resource type 'volume'"):
        ResourceType.of("volume")


@pytest.mark.parametrize("kind", RESOURCE_TYPES, ids=lambda kind: kind.key)
def test_arns_follow_the_registered_kind(kind: ResourceType) -> None:
    arn = resource_arn("eu-west-1", "111122223333", kind.key, "id-1")
    expected = (
        "arn:aws:iam::111122223333:root"
        if kind.arn_kind is None
        else f"arn:aws:ec2:eu-west-1:111122223333:{kind.arn_kind}/id-1"
    )
    assert arn == expected


@pytest.mark.parametrize("kind", RESOURCE_TYPES, ids=lambda kind: kind.key)
def test_asff_resources_carry_the_registered_type(kind: ResourceType) -> None:
    finding = {
        "rule_id": "r",
        "region": "eu-west-1",
        "resource_id": "id-1",
        "resource_type": kind.key,
        "severity": "low",
        "finding_id": "f" * 64,
        "resource_arn": "arn:aws:ec2:eu-west-1:1:x/id-1",
    }
    document = to_asff_finding(
        finding, account_id="111122223333", hub_region="eu-west-1", generated_at="2026-01-01T00:00:00Z"
    )
    assert document["Resources"][0]["Type"] == kind.asff_type
    assert document["Severity"] == {"Label": "LOW"}


def test_documents_hold_plain_strings_for_severities() -> None:
    """A policy override becomes a Severity inside the scanner and a plain string in every document
    it writes, so JSON, CSV and YAML writers see exactly the strings they always did."""
    policy = load_policy({"rules": {"no_public_ip": {"severity": "low"}}})
    assert policy.rules["no_public_ip"].severity is Severity.LOW
    severity = policy.to_document()["rules"]["no_public_ip"]["severity"]
    assert type(severity) is str and severity == "low"
    outcomes = evaluate_resources([record(public_ip="54.1.2.3")], policy, date(2026, 1, 1))
    failure = next(o for o in outcomes if o.rule_id == "no_public_ip")
    document = finding_document(failure, ACCOUNT, NOW.isoformat())
    assert type(document["severity"]) is str and document["severity"] == "low"
