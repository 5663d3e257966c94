"""The rule policy of a local scan: a policy file (YAML or JSON), or an environment file's
`policy:` over its folder's defaults, validated by the scanner's own loader."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ec2c.scanner.assessment.policy import Policy, PolicyError, load_policy

from ..deploy.inputs.environments import DEFAULTS_FILE, ConfigDir
from ..errors import BadInput
from ..yamlfiles import parse_yaml, read_text


def read_policy_file(path: Path) -> tuple[Mapping[str, Any] | None, str]:
    """Read a policy from YAML or JSON: a bare policy document or an environment file with a
    top-level `policy:` key. Returns (document, source label for error messages)."""
    source = str(path)
    text = read_text(path, "--policy")
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            raise BadInput(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    else:
        document = parse_yaml(text, source)

    if document is None:
        return None, source
    if not isinstance(document, Mapping):
        raise BadInput(
            f"{source}: policy: expected a mapping (a policy document or a file with a top-level "
            f"`policy:` key), got {type(document).__name__}"
        )
    if "policy" in document:
        inner = document["policy"]
        if inner is not None and not isinstance(inner, Mapping):
            raise BadInput(f"{source}: policy: expected a mapping, got {type(inner).__name__}")
        return _with_defaults(path, inner), source
    return document, source


def _with_defaults(path: Path, policy: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """An environment file inherits the `policy:` of the defaults.yaml next to it (merged as
    `ec2c up` merges it, by the config folder), so a scan applies the deployed analyzer's policy."""
    if path.name == DEFAULTS_FILE or not (path.parent / DEFAULTS_FILE).is_file():
        return policy
    merged: Mapping[str, Any] = ConfigDir(path.parent).with_defaults({"policy": policy or {}})["policy"]
    return merged


def load_policy_document(document: Mapping[str, Any] | None, source: str) -> Policy:
    """The scanner's validated policy; a problem is bad input naming the file and the field."""
    try:
        return load_policy(document, source=source)
    except PolicyError as exc:
        raise BadInput(str(exc)) from None


def rule_severities(scan_policy: Any) -> dict[str, str]:
    """rule id -> effective severity (the policy may override a rule's default)."""
    rules = getattr(scan_policy, "rules", None) or {}
    return {rule_id: config.severity for rule_id, config in rules.items()}
