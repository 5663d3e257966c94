"""Reading the YAML files users write (environments, rollout plans, policies), one way for all.

Two things PyYAML does that a config reader must not:
* it turns `2024-02-30` into a date while parsing and raises a bare ValueError for impossible
  ones, with no file, line or field; here timestamps stay strings, and the validators that know
  the field (`suppressions[0].expires`) say what is wrong;
* its error text spans several lines; here every problem is one `file:line:column: message`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import BadInput

_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class ConfigLoader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp type: dates are validated where they are used."""


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str, source: str) -> Any:
    """The document in `text`; invalid YAML is a BadInput `source:line:column: message`."""
    try:
        return yaml.load(text, Loader=ConfigLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        detail = f"{problem} ({context})" if context else problem
        raise BadInput(f"{source}{where}: invalid YAML: {detail}") from None


def read_text(path: Path, what: str) -> str:
    """A config file's text; missing, a directory, unreadable or not UTF-8 is a BadInput."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: {what}: file not found") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: {what}: is a directory, expected a YAML file") from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: {what}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise BadInput(f"{path}: {what}: cannot read the file: {exc.strerror or exc}") from None


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (empty file: {})."""
    data = parse_yaml(read_text(path, what), str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data
