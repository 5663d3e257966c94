"""EventBridge schedule expressions, checked the way EventBridge checks them, before any engine runs.

`rate(<n> <unit>)` with the singular unit for 1 and the plural otherwise; `cron()` with six
fields, each range-checked (minutes 0-59, hours 0-23, day of month 1-31, month 1-12 or JAN-DEC,
day of week 1-7 or SUN-SAT, year 1970-2199) and `?` in exactly the day-of-month or day-of-week
field. One function serves the stack's arguments and the environment files.
"""

from __future__ import annotations

import re

RATE_PATTERN = re.compile(r"rate\((?P<value>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)")
CRON_PATTERN = re.compile(r"cron\((?P<fields>[^()]+)\)")
EXPECTED = "'rate(<n> minute[s]|hour[s]|day[s])' or 'cron(<6 fields>)'"

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIELDS = (
    ("minutes", 0, 59, ()),
    ("hours", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 1, 7, DAYS),
    ("year", 1970, 2199, ()),
)


def schedule_problem(value: object) -> str | None:
    """What is wrong with `value` as an EventBridge schedule ("expected ..."), or None."""
    if not isinstance(value, str):
        return f"expected {EXPECTED}"
    rate = RATE_PATTERN.fullmatch(value)
    if rate:
        if (rate["value"] == "1") != (not rate["unit"].endswith("s")):
            return "expected a singular unit for 1 and a plural one otherwise"
        return None
    cron = CRON_PATTERN.fullmatch(value)
    fields = cron["fields"].split() if cron else []
    if len(fields) != 6:
        return f"expected {EXPECTED}"
    if (fields[2] == "?") == (fields[4] == "?"):
        return "expected '?' in the day-of-month or day-of-week field of cron() (one of them, not both)"
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        if not _field_ok(text, name, low, high, names):
            named = f" or {names[0]}-{names[-1]}" if names else ""
            return f"expected the cron() {name} field within {low}-{high}{named} (it is {text!r})"
    return None


def _value_ok(text: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    if text.upper() in names:
        return True
    return text.isdigit() and low <= int(text) <= high


def _field_ok(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    if text == "?":
        return name in ("day-of-month", "day-of-week")
    if name == "day-of-month" and (text in ("L", "LW") or (text.endswith("W") and _value_ok(text[:-1], low, high, ()))):
        return True
    if name == "day-of-week":
        if text == "L" or (text.endswith("L") and _value_ok(text[:-1], low, high, names)):
            return True
        if "#" in text:
            day, _, nth = text.partition("#")
            return _value_ok(day, low, high, names) and nth in ("1", "2", "3", "4", "5")
    for part in text.split(","):
        base, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) >= 1):
            return False
        if base == "*":
            continue
        first, dash, last = base.partition("-")
        if not _value_ok(first, low, high, names) or (dash and not _value_ok(last, low, high, names)):
            return False
    return True
