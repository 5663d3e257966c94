"""The Pulumi side of ec2-compliance: the `ComplianceAnalyzer` component and its inline program."""

from __future__ import annotations

from ec2c.stacks.args import ArgsError, ComplianceAnalyzerArgs
from ec2c.stacks.component import OUTPUT_NAMES, TYPE_TOKEN, ComplianceAnalyzer
from ec2c.stacks.program import program

__all__ = [
    "OUTPUT_NAMES",
    "TYPE_TOKEN",
    "ArgsError",
    "ComplianceAnalyzer",
    "ComplianceAnalyzerArgs",
    "program",
]
