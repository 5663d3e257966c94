"""The inline Pulumi program the orchestrator hands to the Automation API."""

from __future__ import annotations

from collections.abc import Callable

import pulumi

from ec2c.stacks.args import ComplianceAnalyzerArgs
from ec2c.stacks.component import ComplianceAnalyzer


def program(args: ComplianceAnalyzerArgs, name: str = "compliance") -> Callable[[], None]:
    """A `PulumiFn` deploying one `ComplianceAnalyzer` and exporting all of its outputs (those of
    the change-event path too, when it exists).

    Args are validated by the caller when it builds them, so a bad environment file fails before
    the engine starts rather than inside it.
    """

    def run() -> None:
        analyzer = ComplianceAnalyzer(name, args)
        for key, value in analyzer.outputs.items():
            pulumi.export(key, value)

    return run
