"""EventBridge schedules: the forms EventBridge accepts, and each cron() field's range."""

from __future__ import annotations

import pytest

from ec2c.stacks.schedule import schedule_problem


@pytest.mark.parametrize(
    "schedule",
    [
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(1 day)",
        "rate(7 days)",
        "cron(0 6 * * ? *)",
        "cron(15 3 ? * MON-FRI *)",
        "cron(0/15 * * * ? *)",
        "cron(0 0 L * ? *)",
        "cron(0 0 LW * ? *)",
        "cron(0 0 15W * ? *)",
        "cron(0 9 ? * 6L *)",
        "cron(0 9 ? * 2#1 *)",
        "cron(0 9 ? * L *)",
        "cron(59 23 31 DEC ? 2199)",
        "cron(0,30 8-17 ? JAN-MAR SUN,SAT 1970-2000)",
        "cron(0 8 1 */2 ? *)",
    ],
)
def test_accepted(schedule):
    assert schedule_problem(schedule) is None


@pytest.mark.parametrize(
    "schedule, problem",
    [
        (5, "expected 'rate(<n> minute[s]|hour[s]|day[s])' or 'cron(<6 fields>)'"),
        ("daily", "expected 'rate("),
        ("rate(0 days)", "expected 'rate("),
        ("rate(1 days)", "expected a singular unit for 1"),
        ("rate(2 hour)", "expected a singular unit for 1"),
        ("rate(1 week)", "expected 'rate("),
        ("rate( 5 minutes)", "expected 'rate("),
        ("cron(0 6 * *)", "expected 'rate("),
        ("cron(0 6 * * * *)", "expected '?' in the day-of-month or day-of-week field"),
        ("cron(0 6 ? * ? *)", "expected '?' in the day-of-month or day-of-week field"),
        ("cron(60 6 * * ? *)", "cron() minutes field within 0-59 (it is '60')"),
        ("cron(0 24 * * ? *)", "cron() hours field within 0-23"),
        ("cron(0 6 32 * ? *)", "cron() day-of-month field within 1-31"),
        ("cron(0 6 0 * ? *)", "cron() day-of-month field within 1-31"),
        ("cron(0 6 * 13 ? *)", "cron() month field within 1-12 or JAN-DEC"),
        ("cron(0 6 * JANUARY ? *)", "cron() month field"),
        ("cron(0 6 ? * 8 *)", "cron() day-of-week field within 1-7 or SUN-SAT"),
        ("cron(0 6 ? * 2#6 *)", "cron() day-of-week field"),
        ("cron(0 6 ? * 9L *)", "cron() day-of-week field"),
        ("cron(0 6 * * ? 1969)", "cron() year field within 1970-2199"),
        ("cron(0/0 6 * * ? *)", "cron() minutes field"),
        ("cron(? 6 * * ? *)", "cron() minutes field within 0-59 (it is '?')"),
        ("cron(0 ? 1 * ? *)", "cron() hours field within 0-23 (it is '?')"),
        ("cron(? 6 1 * ? *)", "cron() minutes field"),
        ("cron(5-70 6 1 * ? *)", "cron() minutes field"),
        ("cron(0 6 32W * ? *)", "cron() day-of-month field"),
    ],
)
def test_rejected(schedule, problem):
    found = schedule_problem(schedule)
    assert found is not None and problem in found
