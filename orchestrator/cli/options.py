"""The typer options more than one command takes, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ec2c.scanner.registry import Severity

from ..reporting.formats import OutputFormat
from ..reporting.render import DEFAULT_LIMIT, MAX_ROWS

ConfigDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        envvar="EC2C_CONFIG_DIR",
        help="Folder of environment files. Searched: --config-dir, then $EC2C_CONFIG_DIR, then ./config; "
        "none found is an error that suggests `ec2c init`.",
    ),
]
ENV_HELP = "Environment name (a file in the config folder)."
EnvOpt = Annotated[str, typer.Option("--env", "-e", help=ENV_HELP)]
OptionalEnvOpt = Annotated[str | None, typer.Option("--env", "-e", help=ENV_HELP)]


def stack_name(value: str | None) -> str | None:
    """`--stack` checked as Pulumi checks stack names, while the command line is parsed.

    A name reaches file paths (work dirs, the backend's stack and lock files), so `../../x` is
    refused with exit 2 before any command runs, rather than answered for a stack that cannot
    exist. The rule lives with the services; it is imported here, when a `--stack` is given, so
    loading a command's module still imports no service.
    """
    if value is None:
        return None
    from ..deploy.inputs.names import stack_name_problem

    problem = stack_name_problem(value)
    if problem is not None:
        raise typer.BadParameter(problem)
    return value


def stack_option(help_text: str) -> typer.models.OptionInfo:
    """A `--stack` option: every command that takes one validates it the same way."""
    return typer.Option("--stack", callback=stack_name, help=help_text)


StackOpt = Annotated[str | None, stack_option("Stack name (default: the environment's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON result on stdout; no live progress.")]

PlanOpt = Annotated[Path, typer.Option("--plan", help="Rollout plan (YAML): every target of its waves.")]

DEFAULT_WORKERS = 8
"""Targets of a plan read at once."""


def _workers(help_text: str) -> typer.models.OptionInfo:
    return typer.Option("--workers", min=1, max=64, help=help_text)


WorkersOpt = Annotated[int, _workers("Targets read at once.")]
PlanWorkersOpt = Annotated[int, _workers("With --plan: targets read at once.")]

RegionsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--regions",
        "-r",
        metavar="REGION[,REGION]",
        help="Regions to scan, comma-separated or repeated. Default: the SDK's configured region "
        "(with --demo: the demo regions).",
    ),
]
RunRegionsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--regions",
        "-r",
        metavar="REGION[,REGION]",
        help="Regions to scan in this run only, comma-separated or repeated. Default: the environment's scan regions.",
    ),
]

FormatOpt = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        case_sensitive=False,
        help="table: human view on the terminal; json / csv / html / asff (Security Hub) / ocsf (Detection "
        "Finding events): the report on stdout (or in --output).",
    ),
]
ReportFormatOpt = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        case_sensitive=False,
        help="table, json, csv, html, asff or ocsf (as `ec2c scan`); with --plan: table, json, csv or html.",
    ),
]

ScanOutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE|DIR/",
        help="Write the report to FILE (in --format; with --format table: JSON, or CSV / HTML if FILE ends in "
        ".csv / .html). A folder (trailing slash, or an existing folder) keeps the report as the analyzer's bucket "
        "does (DIR/reports/latest.json, dated copies and per-region shards): the next scan into it reports what is "
        "new and resolved since; with a file format it also gets ec2-compliance-report.<format>.",
    ),
]
ReportOutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write the report to FILE (a folder: ec2-compliance-report.<format> in it).",
    ),
]

LimitOpt = Annotated[
    int,
    typer.Option(
        "--limit",
        min=0,
        help=f"Rows of the findings table (0: all, up to {MAX_ROWS:,}; the rest are counted). "
        "The JSON/CSV report always has every finding.",
    ),
]
ReportLimitOpt = Annotated[
    int,
    typer.Option(
        "--limit",
        min=0,
        help=f"Rows of the findings table (0: all, up to {MAX_ROWS:,}; the rest are counted).",
    ),
]

FailOnOpt = Annotated[
    Severity | None,
    typer.Option(
        "--fail-on",
        case_sensitive=False,
        metavar="SEVERITY",
        help="Exit 1 if an unsuppressed finding at or above SEVERITY exists (CI gate): "
        "critical, high, medium, low or informational.",
    ),
]

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_WORKERS",
    "ConfigDirOpt",
    "EnvOpt",
    "FailOnOpt",
    "FormatOpt",
    "JsonOpt",
    "LimitOpt",
    "OptionalEnvOpt",
    "PlanOpt",
    "PlanWorkersOpt",
    "RegionsOpt",
    "ReportFormatOpt",
    "ReportLimitOpt",
    "ReportOutputOpt",
    "RunRegionsOpt",
    "ScanOutputOpt",
    "StackOpt",
    "WorkersOpt",
    "stack_name",
    "stack_option",
]
