"""The shape of a rule: metadata, parameters with defaults, the data it needs, and its check.

One rule is one unit (as in Prowler): everything a reader, a report or an IAM policy needs to know
about a check sits next to its code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import Record, RuleResult, skipped
from ..registry import INSTANCE, ResourceType, Severity
from ..sources import iam_actions_for
from .mappings import reference_url

STRINGS = "strings"
PORTS = "ports"
INTEGER = "integer"
REGEXES = "regexes"

Params = Mapping[str, Any]
Check = Callable[[Any, Params], RuleResult]
"""A rule's check over the record of its resource type (InstanceRecord, LaunchTemplateRecord or
AccountRecord)."""


@dataclass(frozen=True)
class Param:
    """A tunable of a rule: its name, value kind (one of the constants above) and default."""

    name: str
    kind: str
    default: Any
    minimum: int = 0
    maximum: int | None = None


@dataclass(frozen=True)
class Rule:
    """A compliance rule. `check` is pure: it reads only the record and the merged params."""

    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    check: Check
    mapping: Mapping[str, str] = field(default_factory=dict)
    parameters: tuple[Param, ...] = ()
    sources: tuple[str, ...] = ()
    opt_in: bool = False
    remediation_cli: str = ""
    """An AWS CLI command that fixes one resource; `{resource_id}` and `{region}` are filled in."""
    remediation_pulumi: str = ""
    """The fix as Pulumi Python, for resources managed with Pulumi."""
    graded: bool = False
    """Severity follows the instance's reachability from the internet (see `reachability`)."""
    resource_type: str = INSTANCE
    """What the rule evaluates: instances, launch templates, or an account's region settings."""

    def __post_init__(self) -> None:
        """A rule names a known severity and resource type, or the catalogue fails to import: a
        misspelt one would otherwise surface as an unsortable finding in some report."""
        object.__setattr__(self, "severity", Severity.parse(self.severity))
        ResourceType.of(self.resource_type)

    @property
    def params(self) -> dict[str, Any]:
        """The default parameter values."""
        return {param.name: param.default for param in self.parameters}

    @property
    def risk(self) -> str:
        """What can go wrong: the name reports and Security Hub use for the rationale."""
        return self.rationale

    @property
    def references(self) -> tuple[str, ...]:
        """Where each mapped control is published, in the mapping's order."""
        return tuple(dict.fromkeys(reference_url(key, value) for key, value in self.mapping.items()))

    @property
    def iam_actions(self) -> tuple[str, ...]:
        """The read-only API actions this rule's data needs (beyond DescribeInstances)."""
        return iam_actions_for(self.sources)


def evaluate(rule: Rule, instance: Record, params: Params) -> RuleResult:
    """Run a rule, or skip it when data it depends on could not be collected for the resource.

    Skipping here, once, keeps every check free of "was this collected?" branches and guarantees
    that an API failure never turns into a verdict.
    """
    missing = sorted(set(rule.sources) & instance.unavailable)
    if missing:
        return skipped(f"not evaluated: {', '.join(missing)} data unavailable (see errors)")
    return rule.check(instance, params)
