"""Terminal output: one rich console for humans on stderr, plain stdout for data.

Data a user may pipe (JSON, CSV, outputs) goes to stdout; progress, tables and messages go to
stderr so they never corrupt it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

err = Console(stderr=True, highlight=False)


def print_data(text: str) -> None:
    """Write machine-readable text to stdout exactly as given."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def print_json(value: Any) -> None:
    print_data(json.dumps(value, indent=2, sort_keys=True, default=str))
