"""The least-privilege IAM actions a policy needs, derived from the rules' declared sources."""

from __future__ import annotations

from . import sources
from .policy import Policy
from .rules import CATALOGUE


def required_iam_actions(policy: Policy) -> list[str]:
    """Sorted read-only actions for the collector plus every enabled rule's data sources."""
    actions = {sources.IAM_ACTIONS[sources.INSTANCES]}
    for rule_id in policy.enabled_rule_ids():
        actions.update(CATALOGUE[rule_id].iam_actions)
    return sorted(actions)
