"""The distributions pyproject.toml declares are the ones the shipped code imports.

Every third-party module imported by `orchestrator/`, `stacks/` and `lambda_src/` (read with
`ast`, so a lazy import inside a function counts too) must come from a declared runtime
dependency: one that is only installed as another package's dependency can disappear with that
package's next release. Imports under `if TYPE_CHECKING:` (stub packages for the type checker)
may come from the `dev` extra instead. Conversely every runtime dependency is imported somewhere,
so none is installed for nothing. Which module comes from which distribution is read from the
installed environment (`make install-dev`).
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("orchestrator", "stacks", "lambda_src")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
OWN = {"ec2c", "__future__"}


@dataclass(frozen=True)
class Import:
    module: str
    type_checking: bool
    where: str


class _Collector(ast.NodeVisitor):
    """Absolute imports of one file, each marked when it sits under `if TYPE_CHECKING:`."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.type_checking = False
        self.found: list[Import] = []

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
        if not guarded:
            self.generic_visit(node)
            return
        outer, self.type_checking = self.type_checking, True
        for child in node.body:
            self.visit(child)
        self.type_checking = outer
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append(Import(alias.name, self.type_checking, f"{self.where}:{node.lineno}"))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.found.append(Import(node.module, self.type_checking, f"{self.where}:{node.lineno}"))


def _imports() -> Iterator[Import]:
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            collector = _Collector(str(path.relative_to(ROOT)))
            collector.visit(ast.parse(path.read_text(), filename=str(path)))
            yield from collector.found


def _third_party(imports: Iterator[Import]) -> list[Import]:
    return [found for found in imports if found.module.split(".")[0] not in sys.stdlib_module_names | OWN]


IMPORTS = _third_party(_imports())
DISTRIBUTIONS = metadata.packages_distributions()


def _declared(requirements: list[str]) -> set[str]:
    """Canonical names of the requirements, and of what their requested extras add."""
    names: set[str] = set()
    for text in requirements:
        requirement = Requirement(text)
        names.add(canonicalize_name(requirement.name))
        for extra in requirement.extras:
            for dependency in metadata.requires(requirement.name) or []:
                added = Requirement(dependency)
                if added.marker and "extra" in str(added.marker) and added.marker.evaluate({"extra": extra}):
                    names.add(canonicalize_name(added.name))
    return names


RUNTIME = _declared(PROJECT["dependencies"])
DEV = _declared(PROJECT["optional-dependencies"]["dev"])


def _providers(module: str) -> set[str]:
    return {canonicalize_name(name) for name in DISTRIBUTIONS.get(module.split(".")[0], [])}


def test_the_sources_have_third_party_imports_to_check() -> None:
    modules = {found.module.split(".")[0] for found in IMPORTS}
    assert {"boto3", "botocore", "pulumi", "pulumi_aws", "typer"} <= modules


def test_every_runtime_import_comes_from_a_declared_dependency() -> None:
    undeclared = sorted(
        f"{found.where}: {found.module} (from {sorted(_providers(found.module)) or 'nothing installed'})"
        for found in IMPORTS
        if not found.type_checking and not _providers(found.module) & RUNTIME
    )
    assert undeclared == []


def test_every_type_checking_import_is_declared_for_development() -> None:
    undeclared = sorted(
        f"{found.where}: {found.module} (from {sorted(_providers(found.module)) or 'nothing installed'})"
        for found in IMPORTS
        if found.type_checking and not _providers(found.module) & (RUNTIME | DEV)
    )
    assert undeclared == []


def test_every_runtime_dependency_is_imported() -> None:
    used = set().union(*(_providers(found.module) for found in IMPORTS if not found.type_checking))
    assert sorted(RUNTIME - used) == []


def test_the_demo_needs_moto_in_process_only() -> None:
    """moto's server (flask and the rest of `moto[server]`) is for the tests that run one."""
    assert [found.where for found in IMPORTS if found.module.startswith("moto.server")] == []
    runtime_moto = [Requirement(text) for text in PROJECT["dependencies"] if Requirement(text).name == "moto"]
    assert [requirement.extras for requirement in runtime_moto] == [set()]
    assert any(
        Requirement(text).name == "moto" and "server" in Requirement(text).extras
        for text in PROJECT["optional-dependencies"]["dev"]
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "import yaml\nif TYPE_CHECKING:\n    from types_boto3_s3 import S3Client\n",
            [("yaml", False), ("types_boto3_s3", True)],
        ),
        ("if typing.TYPE_CHECKING:\n    import a\nelse:\n    import b\n", [("a", True), ("b", False)]),
        ("def f():\n    from moto import mock_aws\n    from . import sibling\n", [("moto", False)]),
    ],
)
def test_the_collector_sees_lazy_and_type_checking_imports(source: str, expected: list[tuple[str, bool]]) -> None:
    collector = _Collector("example.py")
    collector.visit(ast.parse(source))
    assert [(found.module, found.type_checking) for found in collector.found] == expected
