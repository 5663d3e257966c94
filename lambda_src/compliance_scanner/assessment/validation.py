"""Small validators for policy documents that report *where* a value is wrong.

A policy travels from YAML config files through Pulumi into a Lambda environment variable, so an
error has to name both the source and the field path (`config/dev.yaml: policy.rules.x.params.y:
...`) to be fixable without guessing.
"""

from __future__ import annotations

import re
import re._constants as _regex_constants
import re._parser as _regex_parser
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any


class PolicyError(ValueError):
    """A policy document that cannot be used; the message names the source and the field path."""


@dataclass(frozen=True)
class Where:
    """A position in a policy document: the source it came from and the dotted field path."""

    source: str
    path: str = "policy"

    def __truediv__(self, key: str | int) -> Where:
        suffix = f"[{key}]" if isinstance(key, int) else f".{key}"
        return Where(self.source, self.path + suffix)

    def error(self, message: str) -> PolicyError:
        return PolicyError(f"{self.source}: {self.path}: {message}")

    def expected(self, what: str, got: Any) -> PolicyError:
        return self.error(f"expected {what}, got {got!r}")


def expect_mapping(value: Any, where: Where) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise where.expected("a mapping", value)
    return value


def check_keys(
    mapping: Mapping[str, Any],
    where: Where,
    allowed: Collection[str],
    required: Collection[str] = (),
) -> None:
    """Reject unknown keys (typos would otherwise be silently ignored) and missing ones."""
    for key in mapping:
        if key not in allowed:
            raise (where / str(key)).error(f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in mapping:
            raise (where / key).error("required")


def expect_bool(value: Any, where: Where) -> bool:
    if not isinstance(value, bool):
        raise where.expected("true or false", value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def expect_number(value: Any, where: Where, minimum: float, maximum: float) -> float:
    if not _is_number(value) or not minimum <= value <= maximum:
        raise where.expected(f"a number from {minimum:g} to {maximum:g}", value)
    return float(value)


def expect_int(value: Any, where: Where, minimum: int, maximum: int | None = None) -> int:
    too_big = maximum is not None and isinstance(value, int) and value > maximum
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum or too_big:
        upper = f" to {maximum}" if maximum is not None else " or more"
        raise where.expected(f"a whole number from {minimum}{upper}", value)
    return value


def expect_text(value: Any, where: Where) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.expected("a non-empty string", value)
    return value


def expect_choice(value: Any, where: Where, choices: Collection[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise where.expected(f"one of {', '.join(choices)}", value)
    return value


def expect_strings(value: Any, where: Where) -> tuple[str, ...]:
    valid = isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)
    if not valid:
        raise where.expected("a list of strings", value)
    return tuple(value)


def expect_ports(value: Any, where: Where) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise where.expected("a list of port numbers", value)
    return tuple(expect_int(item, where / index, 0, 65535) for index, item in enumerate(value))


def expect_regex(value: Any, where: Where) -> str:
    """A regular expression that compiles and cannot backtrack catastrophically.

    A repeat inside a repeat (`(a+)+`, `(\\w*)*`, `(x|xy)+` within `{2,}`...) makes Python's
    backtracking engine take exponential time on a near-miss: one tag value could hang the
    Lambda until its timeout. Such patterns are refused here, where the file and field are known.
    """
    text = expect_text(value, where)
    try:
        parsed = _regex_parser.parse(text)
    except re.error as exc:
        raise where.error(f"invalid regular expression {text!r}: {exc}") from None
    if _nested_repeat(parsed, inside_repeat=False):
        raise where.error(
            f"regular expression {text!r} nests a repeat inside a repeat (like (a+)+), which can take "
            "exponential time; rewrite it without the nesting"
        )
    return text


_REPEATS = (_regex_constants.MAX_REPEAT, _regex_constants.MIN_REPEAT, _regex_constants.POSSESSIVE_REPEAT)


def _nested_repeat(items: Any, *, inside_repeat: bool) -> bool:
    """Whether a repeat that can match more than once sits inside another such repeat."""
    for op, argument in items:
        if op in _REPEATS:
            _low, high, sub = argument
            many = high > 1
            if many and inside_repeat:
                return True
            if _nested_repeat(sub, inside_repeat=inside_repeat or many):
                return True
        elif op is _regex_constants.SUBPATTERN:
            if _nested_repeat(argument[-1], inside_repeat=inside_repeat):
                return True
        elif op is _regex_constants.BRANCH:
            if any(_nested_repeat(branch, inside_repeat=inside_repeat) for branch in argument[1]):
                return True
        elif op in (_regex_constants.ASSERT, _regex_constants.ASSERT_NOT):
            if _nested_repeat(argument[1], inside_repeat=inside_repeat):
                return True
    return False


def expect_regexes(value: Any, where: Where) -> tuple[str, ...]:
    items = expect_strings(value, where)
    return tuple(expect_regex(item, where / index) for index, item in enumerate(items))


def expect_date(value: Any, where: Where) -> date:
    """Accept a YAML date or an ISO `YYYY-MM-DD` string (JSON has no dates).

    A YAML timestamp arrives as a `datetime`; it is cut to its date because comparing a datetime
    with a date raises TypeError.
    """
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise where.expected("an ISO date (YYYY-MM-DD)", value)
