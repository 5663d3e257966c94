"""Evaluates every enabled rule on every instance, grades exposure findings by reachability and
applies the suppressions (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from .model import FAIL, InstanceRecord, RuleResult
from .policy import Policy, RuleConfig
from .reachability import grade, unknown_reason
from .rules import CATALOGUE, evaluate
from .suppressions import Suppression, find_suppression


@dataclass(frozen=True)
class Outcome:
    """One rule's result on one instance, with the policy's severity and any suppression."""

    instance: InstanceRecord
    rule_id: str
    title: str
    severity: str
    result: RuleResult
    suppression: Suppression | None = None
    severity_reason: str | None = None
    """Why the severity differs from the rule's configured one (reachability grading), if it does."""

    @property
    def active_failure(self) -> bool:
        """A FAIL that no suppression covers: what makes an instance non-compliant."""
        return self.result.status == FAIL and self.suppression is None


def evaluate_instances(
    instances: Iterable[InstanceRecord], policy: Policy, today: date
) -> list[Outcome]:
    """Outcomes for each instance and enabled rule; suppressions are only looked up for FAILs."""
    enabled = [(rule_id, policy.rules[rule_id]) for rule_id in policy.enabled_rule_ids()]
    outcomes = []
    for instance in instances:
        for rule_id, config in enabled:
            rule = CATALOGUE[rule_id]
            result = evaluate(rule, instance, config.params)
            suppression = None
            severity, reason = config.severity, None
            if result.status == FAIL:
                suppression = find_suppression(
                    policy.suppressions, rule_id, instance.instance_id, instance.tags, today
                )
                if rule.graded and policy.reachability_grading:
                    severity, reason = _graded(instance, config)
            outcomes.append(
                Outcome(instance, rule_id, rule.title, severity, result, suppression, reason)
            )
    return outcomes


def _graded(instance: InstanceRecord, config: RuleConfig) -> tuple[str, str]:
    graded = grade(instance)
    if graded is None:
        return config.severity, unknown_reason(instance)
    return graded
