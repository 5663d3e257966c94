"""Suppressions: accepted exceptions to a rule, each with a reason and an optional expiry.

A suppressed finding keeps its FAIL status and is only marked as suppressed, so the report still
shows what was accepted and why; an expired suppression simply stops matching, which brings the
finding back without anyone having to remember to remove it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..registry import INSTANCE, RESOURCE_TYPE_KEYS
from .validation import (
    Where,
    check_keys,
    expect_choice,
    expect_date,
    expect_mapping,
    expect_regex,
    expect_text,
)

ALL_RULES = "*"
SELECTORS = ("instance_id", "resource_id", "tag")


@dataclass(frozen=True)
class TagSelector:
    """Matches a tag by exact value or by a regular expression (searched, so anchor with ^)."""

    key: str
    value: str | None = None
    regex: str | None = None

    def matches(self, tags: Mapping[str, str]) -> bool:
        if self.key not in tags:
            return False
        if self.regex is not None:
            return re.search(self.regex, tags[self.key]) is not None
        return tags[self.key] == self.value

    def to_document(self) -> dict[str, str]:
        document = {"key": self.key}
        if self.regex is not None:
            document["regex"] = self.regex
        else:
            document["value"] = str(self.value)
        return document


@dataclass(frozen=True)
class Suppression:
    """Accepts FAILs of `rule` (or every rule, "*") for one resource or a tag selector.

    `instance_id` selects an instance; `resource_id` a resource of any type, narrowed by
    `resource_type` when given (an account id selects every region's guardrail results).
    """

    rule: str
    reason: str
    instance_id: str | None = None
    tag: TagSelector | None = None
    expires: date | None = None
    resource_id: str | None = None
    resource_type: str | None = None

    def applies(self, rule_id: str, resource_type: str, resource_id: str, tags: Mapping[str, str], today: date) -> bool:
        """True when this suppression covers the finding on `today` (the expiry day included)."""
        if self.rule not in (ALL_RULES, rule_id):
            return False
        if self.expired(today):
            return False
        if self.tag is not None:
            return self.tag.matches(tags)
        if self.instance_id is not None:
            return resource_type == INSTANCE and self.instance_id == resource_id
        return self.resource_id == resource_id and self.resource_type in (None, resource_type)

    def expired(self, today: date) -> bool:
        """Past its expiry date (the expiry day itself still counts)."""
        return self.expires is not None and today > self.expires

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"rule": self.rule}
        if self.tag is not None:
            document["tag"] = self.tag.to_document()
        elif self.instance_id is not None:
            document["instance_id"] = self.instance_id
        else:
            document["resource_id"] = self.resource_id
            if self.resource_type is not None:
                document["resource_type"] = self.resource_type
        document["reason"] = self.reason
        if self.expires is not None:
            document["expires"] = self.expires.isoformat()
        return document


def find_suppression(
    suppressions: Iterable[Suppression],
    rule_id: str,
    resource_type: str,
    resource_id: str,
    tags: Mapping[str, str],
    today: date,
) -> Suppression | None:
    """The first suppression that covers the finding, or None."""
    for suppression in suppressions:
        if suppression.applies(rule_id, resource_type, resource_id, tags, today):
            return suppression
    return None


def _parse_tag(value: Any, where: Where) -> TagSelector:
    tag = expect_mapping(value, where)
    check_keys(tag, where, ("key", "value", "regex"), required=("key",))
    key = expect_text(tag["key"], where / "key")
    if ("value" in tag) == ("regex" in tag):
        raise where.error("expected exactly one of 'value' or 'regex'")
    if "regex" in tag:
        return TagSelector(key, regex=expect_regex(tag["regex"], where / "regex"))
    if not isinstance(tag["value"], str):
        raise (where / "value").expected("a string", tag["value"])
    return TagSelector(key, value=tag["value"])


def parse_suppression(value: Any, where: Where, rule_ids: Iterable[str]) -> Suppression:
    """Validate one suppression entry; exactly one selector (instance_id, resource_id or tag) is
    allowed, and resource_type only with resource_id."""
    entry = expect_mapping(value, where)
    check_keys(
        entry,
        where,
        ("rule", "instance_id", "resource_id", "resource_type", "tag", "reason", "expires"),
        required=("rule", "reason"),
    )
    rule = expect_choice(entry["rule"], where / "rule", (ALL_RULES, *rule_ids))
    reason = expect_text(entry["reason"], where / "reason")
    if sum(key in entry for key in SELECTORS) != 1:
        raise where.error("expected exactly one selector: 'instance_id', 'resource_id' or 'tag'")
    if "resource_type" in entry and "resource_id" not in entry:
        raise (where / "resource_type").error("only goes with 'resource_id'")
    expires = expect_date(entry["expires"], where / "expires") if "expires" in entry else None
    if "tag" in entry:
        return Suppression(rule, reason, tag=_parse_tag(entry["tag"], where / "tag"), expires=expires)
    if "resource_id" in entry:
        resource_type = None
        if "resource_type" in entry:
            resource_type = expect_choice(entry["resource_type"], where / "resource_type", RESOURCE_TYPE_KEYS)
        resource_id = expect_text(entry["resource_id"], where / "resource_id")
        return Suppression(rule, reason, resource_id=resource_id, resource_type=resource_type, expires=expires)
    instance_id = expect_text(entry["instance_id"], where / "instance_id")
    return Suppression(rule, reason, instance_id=instance_id, expires=expires)
