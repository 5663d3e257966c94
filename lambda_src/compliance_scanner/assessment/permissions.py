"""The data a policy needs and the least-privilege IAM actions to read it, both derived from the
rules' declared sources so the collector and the Lambda's policy cannot drift apart."""

from __future__ import annotations

from .. import sources
from ..rules import CATALOGUE
from .policy import Policy


def needed_sources(policy: Policy) -> frozenset[str]:
    """The data sources of the enabled rules (the collector fetches nothing else), plus route
    tables when an enabled rule's findings are graded by reachability."""
    enabled = [CATALOGUE[rule_id] for rule_id in policy.enabled_rule_ids()]
    needed = {source for rule in enabled for source in rule.sources}
    if policy.reachability_grading and any(rule.graded for rule in enabled):
        needed.add(sources.ROUTE_TABLES)
    return frozenset(needed)


def required_iam_actions(policy: Policy) -> list[str]:
    """Sorted read-only actions for the collector plus every needed data source."""
    return sorted({sources.IAM_ACTIONS[sources.INSTANCES], *sources.iam_actions_for(needed_sources(policy))})
