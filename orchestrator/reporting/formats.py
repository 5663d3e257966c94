"""The formats a report can be written in, and the file name ending each gets in a folder."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"
    asff = "asff"
    ocsf = "ocsf"


FILE_SUFFIXES = {
    OutputFormat.json: "json",
    OutputFormat.csv: "csv",
    OutputFormat.html: "html",
    OutputFormat.asff: "asff.json",
    OutputFormat.ocsf: "ocsf.json",
}
"""The file name ending each format gets in an --output folder."""

ESTATE_FORMATS = (OutputFormat.json, OutputFormat.csv, OutputFormat.html)
"""The formats of an estate report (every target of a plan merged)."""


def file_format(path: Path, fmt: OutputFormat) -> OutputFormat:
    """With `--format table --output FILE` the file gets JSON, or CSV / HTML by its suffix."""
    if fmt is not OutputFormat.table:
        return fmt
    suffix = path.suffix.lower()
    return {".csv": OutputFormat.csv, ".html": OutputFormat.html, ".htm": OutputFormat.html}.get(
        suffix, OutputFormat.json
    )
