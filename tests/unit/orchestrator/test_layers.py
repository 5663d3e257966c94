"""The package's import structure: the import-linter contracts (`make imports`), what the scanner
may import, no import cycle between any two modules, and a command line whose help loads no
command it does not show."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from ec2c.orchestrator.cli.app import COMMANDS

REPO = Path(__file__).resolve().parents[3]
ROOTS = ("ec2c.orchestrator", "ec2c.stacks", "ec2c.scanner")
HEAVY = ("boto3", "botocore", "pulumi", "pulumi_aws", "moto", "jinja2", "ec2c.scanner.run.scanner", "ec2c.stacks")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*ROOTS, include_external_packages=True, cache_dir=None)


def test_every_import_linter_contract_is_kept() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _runtime_imports(tree: ast.AST) -> set[str]:
    """The top-level packages a module imports when it runs (not those under `if TYPE_CHECKING:`,
    which type checkers read and the interpreter skips)."""
    names: set[str] = set()
    nodes = [tree]
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            nodes.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        nodes.extend(ast.iter_child_nodes(node))
    return names


def test_the_scanner_runs_on_the_standard_library_boto3_and_botocore_only() -> None:
    """The Lambda archive holds the scanner alone, and its runtime provides boto3 and botocore."""
    scanner = REPO / "lambda_src" / "compliance_scanner"
    imported = set().union(*(_runtime_imports(ast.parse(path.read_text())) for path in scanner.rglob("*.py")))
    assert imported - set(sys.stdlib_module_names) <= {"boto3", "botocore"}


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every set of project modules that import each other, directly or not (Tarjan's algorithm)."""
    modules = sorted(m for m in graph.modules if m.startswith(ROOTS))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph.find_modules_directly_imported_by(module):
            if not target.startswith(ROOTS):
                continue
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return cycles


def test_no_two_modules_import_each_other(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_root_help_lines_are_the_commands_own() -> None:
    """The root's help shows a command's registered line without importing it: that line is the
    first paragraph of the command's docstring."""
    for entry in COMMANDS:
        command = entry.load()
        assert command.name == entry.name
        first_paragraph = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert entry.help == first_paragraph, entry.name


def _loaded_modules(*args: str) -> set[str]:
    """The modules `ec2c ARGS` has imported when it exits."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n'))\n"
        "from ec2c.orchestrator.entry import main\n"
        f"sys.argv = ['ec2c', *{list(args)!r}]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if line.startswith("MODULES "))
    return set(line.split()[1:])


@pytest.mark.parametrize("args", [["--help"], ["scan", "--help"], ["up", "--help"], ["report", "--help"]])
def test_help_loads_neither_the_services_nor_their_sdks(args: list[str]) -> None:
    """Help is fast because it imports typer and the commands' declarations only: no AWS SDK, no
    pulumi, no moto, no scanner run and no other command group."""
    loaded = _loaded_modules(*args)
    assert not {m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)}
    groups = {m for m in loaded if m.startswith("ec2c.orchestrator.cli.")} - {
        "ec2c.orchestrator.cli.app",
        "ec2c.orchestrator.cli.lazy",
        "ec2c.orchestrator.cli.options",
        "ec2c.orchestrator.cli.guard",
        "ec2c.orchestrator.cli.progress",
    }
    expected = {entry.module for entry in COMMANDS if entry.name == args[0]}
    assert groups == expected
    assert not any(
        m.startswith(("ec2c.orchestrator.deploy", "ec2c.orchestrator.fleet", "ec2c.orchestrator.demo")) for m in loaded
    )
