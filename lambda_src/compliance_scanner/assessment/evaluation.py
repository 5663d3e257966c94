"""Evaluates every enabled rule on every resource of its type (instances, launch templates, VPC
default security groups, an account's region settings), grades exposure findings by
reachability and applies the suppressions (pure). One path for every resource type, so
suppressions, severities and the report behave the same whichever a rule looks at."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from ..model import FAIL, InstanceRecord, Record, RuleResult
from ..registry import Severity
from ..rules import CATALOGUE, evaluate
from .policy import Policy, RuleConfig
from .reachability import grade, unknown_reason
from .suppressions import Suppression, find_suppression


@dataclass(frozen=True)
class Outcome:
    """One rule's result on one resource, with the policy's severity and any suppression."""

    resource: Record
    rule_id: str
    title: str
    severity: Severity
    result: RuleResult
    suppression: Suppression | None = None
    severity_reason: str | None = None
    """Why the severity differs from the rule's configured one (reachability grading), if it does."""

    @property
    def active_failure(self) -> bool:
        """A FAIL that no suppression covers: what makes a resource non-compliant."""
        return self.result.status == FAIL and self.suppression is None


def evaluate_resources(records: Iterable[Record], policy: Policy, today: date) -> list[Outcome]:
    """Outcomes for each record and each enabled rule of its resource type; suppressions are
    only looked up for FAILs."""
    enabled = [(rule_id, CATALOGUE[rule_id], policy.rules[rule_id]) for rule_id in policy.enabled_rule_ids()]
    outcomes = []
    for record in records:
        for rule_id, rule, config in enabled:
            if rule.resource_type != record.resource_type:
                continue
            result = evaluate(rule, record, config.params)
            suppression = None
            severity, reason = config.severity, None
            if result.status == FAIL:
                suppression = find_suppression(
                    policy.suppressions, rule_id, record.resource_type, record.resource_id, record.tags, today
                )
                if rule.graded and policy.reachability_grading and isinstance(record, InstanceRecord):
                    severity, reason = _graded(record, config)
            outcomes.append(Outcome(record, rule_id, rule.title, severity, result, suppression, reason))
    return outcomes


def _graded(instance: InstanceRecord, config: RuleConfig) -> tuple[Severity, str]:
    graded = grade(instance)
    if graded is None:
        return config.severity, unknown_reason(instance)
    return graded
