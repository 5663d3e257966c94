"""Lambda entry point at the archive root, so the function's handler setting is `index.handler`."""

from __future__ import annotations

from ec2c.scanner.run.handler import handler

__all__ = ["handler"]
