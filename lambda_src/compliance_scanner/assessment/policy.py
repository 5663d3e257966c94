"""The rule policy: which rules run, with which severity and parameters, and what is suppressed.

The document format is the same in the YAML config files and in the Lambda's JSON environment
variable; `load_policy` validates it completely up front so a typo fails the deployment, not a
scheduled scan at 3 a.m.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..registry import SEVERITY_NAMES, Severity
from ..rules import CATALOGUE, INTEGER, PORTS, REGEXES, STRINGS, Param, Rule
from .suppressions import Suppression, parse_suppression
from .validation import (
    PolicyError,
    Where,
    check_keys,
    expect_bool,
    expect_choice,
    expect_int,
    expect_mapping,
    expect_number,
    expect_ports,
    expect_regexes,
    expect_strings,
)

__all__ = ["Policy", "PolicyError", "RuleConfig", "load_policy", "policy_from_json"]

DEFAULT_ALERT_THRESHOLD = 90.0


@dataclass(frozen=True)
class RuleConfig:
    """A rule's effective settings: the policy's overrides merged over the rule's defaults."""

    enabled: bool
    severity: Severity
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Policy:
    """A validated policy. Plain dicts inside (read them as read-only) so a Policy can be deep-
    copied and pickled by whatever holds it, e.g. Pulumi component arguments."""

    rules: Mapping[str, RuleConfig]
    suppressions: tuple[Suppression, ...] = ()
    alert_threshold: float = DEFAULT_ALERT_THRESHOLD
    alert_on_new_findings: bool = True
    reachability_grading: bool = True
    """Grade the exposure rules' findings by reachability (see `reachability`); off, they keep
    the configured severity."""

    def enabled_rule_ids(self) -> list[str]:
        """Enabled rule ids in catalogue order."""
        return [rule_id for rule_id, config in self.rules.items() if config.enabled]

    def to_document(self) -> dict[str, Any]:
        """A JSON-able document that `load_policy` turns back into an equal Policy."""
        return {
            "alert_threshold": self.alert_threshold,
            "alert_on_new_findings": self.alert_on_new_findings,
            "reachability_grading": self.reachability_grading,
            "rules": {
                rule_id: {
                    "enabled": config.enabled,
                    "severity": str(config.severity),
                    "params": {name: _plain(value) for name, value in config.params.items()},
                }
                for rule_id, config in self.rules.items()
            },
            "suppressions": [suppression.to_document() for suppression in self.suppressions],
        }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


_LIST_VALIDATORS = {STRINGS: expect_strings, PORTS: expect_ports, REGEXES: expect_regexes}


def _param_value(param: Param, value: Any, where: Where) -> Any:
    if param.kind == INTEGER:
        return expect_int(value, where, param.minimum, param.maximum)
    return _LIST_VALIDATORS[param.kind](value, where)


def _rule_config(rule: Rule, override: Any, where: Where) -> RuleConfig:
    settings = expect_mapping(override, where)
    check_keys(settings, where, ("enabled", "severity", "params"))
    enabled = not rule.opt_in
    if "enabled" in settings:
        enabled = expect_bool(settings["enabled"], where / "enabled")
    severity = rule.severity
    if "severity" in settings:
        severity = Severity(expect_choice(settings["severity"], where / "severity", SEVERITY_NAMES))
    params = dict(rule.params)
    given = expect_mapping(settings.get("params", {}), where / "params")
    check_keys(given, where / "params", params)
    by_name = {param.name: param for param in rule.parameters}
    for name, value in given.items():
        params[name] = _param_value(by_name[name], value, where / "params" / name)
    return RuleConfig(enabled, severity, params)


def _rules(value: Any, where: Where) -> Mapping[str, RuleConfig]:
    overrides = expect_mapping(value, where)
    check_keys(overrides, where, CATALOGUE)
    return {
        rule_id: _rule_config(rule, overrides.get(rule_id, {}), where / rule_id) for rule_id, rule in CATALOGUE.items()
    }


def _suppressions(value: Any, where: Where) -> tuple[Suppression, ...]:
    if not isinstance(value, list):
        raise where.expected("a list", value)
    return tuple(parse_suppression(item, where / index, CATALOGUE) for index, item in enumerate(value))


def load_policy(document: Mapping[str, Any] | None, source: str = "policy") -> Policy:
    """Validate a policy document (None or {} means all defaults); raises PolicyError."""
    where = Where(source)
    settings = expect_mapping({} if document is None else document, where)
    check_keys(
        settings,
        where,
        ("alert_threshold", "alert_on_new_findings", "reachability_grading", "rules", "suppressions"),
    )
    threshold = DEFAULT_ALERT_THRESHOLD
    if "alert_threshold" in settings:
        threshold = expect_number(settings["alert_threshold"], where / "alert_threshold", 0, 100)
    on_new = True
    if "alert_on_new_findings" in settings:
        on_new = expect_bool(settings["alert_on_new_findings"], where / "alert_on_new_findings")
    grading = True
    if "reachability_grading" in settings:
        grading = expect_bool(settings["reachability_grading"], where / "reachability_grading")
    return Policy(
        rules=_rules(settings.get("rules", {}), where / "rules"),
        reachability_grading=grading,
        suppressions=_suppressions(settings.get("suppressions", []), where / "suppressions"),
        alert_threshold=threshold,
        alert_on_new_findings=on_new,
    )


def policy_from_json(text: str, source: str) -> Policy:
    """Parse the JSON form (the Lambda's environment variable); blank text means defaults."""
    if not text.strip():
        return load_policy(None, source)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{source}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return load_policy(document, source)
