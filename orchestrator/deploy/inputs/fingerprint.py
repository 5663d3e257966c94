"""The inputs fingerprint of a target: a SHA-256 over everything that decides what `up` does.

Recorded on the stack as the `ec2c:inputs-sha256` tag after a successful `up`, it lets a rollout
skip a target whose inputs did not change without starting the engine (Terragrunt's and
Atlantis's "only what changed"). The inputs are:

* the rendered environment (defaults merged, policy expanded; not where its file lives);
* the scanner archive's hash (the same one the stack exports as `scanner_code_sha256`);
* the stack program: the factory the environment names, the source of its module and of the
  `ec2c.stacks` package every program builds on, and ec2c's own version;
* the pulumi CLI, the Python SDK and the AWS provider versions.

Anything outside these (a console edit of a deployed resource) is drift, which `rollout
--refresh` detects.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path
from typing import Any

from ec2c.stacks import packaging

from .environments import Environment

TAG_INPUTS = "ec2c:inputs-sha256"
FORMAT = 1
"""Bumped when the document below changes shape: every target then counts as changed once."""
STACKS_PACKAGE = Path(packaging.__file__).resolve().parent


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _files_sha256(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        content = path.read_bytes()
        digest.update(f"{path.name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


@functools.cache
def scanner_sha256() -> str:
    """The scanner archive's hash: computed once per process (it reads every scanner file)."""
    return packaging.code_sha256(packaging.archive_members())


@functools.cache
def stacks_sha256() -> str:
    return _files_sha256([p for p in STACKS_PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts])


@functools.cache
def program_sha256(program: str) -> str:
    """The source of the module that holds the program factory (`module:function`), and of the
    stack package; a module that cannot be found hashes as its name (the run then fails on it)."""
    module_name = program.partition(":")[0]
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    module = _files_sha256([origin]) if origin is not None and origin.is_file() else f"missing:{module_name}"
    return hashlib.sha256(f"{program}\0{module}\0{stacks_sha256()}".encode()).hexdigest()


@functools.cache
def _tool_versions() -> dict[str, str | None]:
    return {
        "ec2c": _version("ec2-compliance"),
        "pulumi_sdk": _version("pulumi"),
        "pulumi_aws": _version("pulumi-aws"),
    }


def inputs_document(env: Environment, engine_version: str) -> dict[str, Any]:
    """What the fingerprint covers, as plain data (shown by tests and debugging, hashed below)."""
    return {
        "format": FORMAT,
        "environment": env.model_dump(mode="json", by_alias=True),
        "scanner_code_sha256": scanner_sha256(),
        "program_sha256": program_sha256(env.program),
        "engine": engine_version,
        **_tool_versions(),
    }


def inputs_fingerprint(env: Environment, engine_version: str) -> str:
    """The SHA-256 of `inputs_document`, serialised canonically (sorted keys, no spaces)."""
    text = json.dumps(inputs_document(env, engine_version), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
