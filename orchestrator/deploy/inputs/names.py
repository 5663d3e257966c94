"""Stack names given on the command line, checked as Pulumi checks them, before any use.

A name reaches file paths (work dirs, the DIY backend's `.pulumi/stacks/<project>/<stack>.json`,
lock folders), so `../../x` must be refused up front rather than answered ("not locked") for a
stack that cannot exist. Pulumi allows letters, digits, `-`, `_` and `.`, at most 100 characters.
"""

from __future__ import annotations

import re

PULUMI_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def stack_name_problem(name: str) -> str | None:
    """Why `name` is not a valid stack name, or None when it is."""
    if not PULUMI_STACK_NAME.match(name):
        return f"expected letters, digits, '-', '_' or '.' (1 to 100 characters), got {name!r}"
    if set(name) == {"."}:
        return f"expected a name, not a path, got {name!r}"
    return None
