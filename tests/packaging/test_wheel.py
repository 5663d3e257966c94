"""The package as a user gets it: built with `python -m build`, installed from the wheel into a
fresh virtualenv outside the checkout, and run from an unrelated folder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ec2c.orchestrator import demo
from ec2c.stacks import packaging

REPO = Path(__file__).resolve().parents[2]
SHIPPED_DIRS = {
    "orchestrator": "ec2c/orchestrator",
    "stacks": "ec2c/stacks",
    "lambda_src/compliance_scanner": "ec2c/scanner",
}
"""Checkout folder -> where the wheel installs it, under the one `ec2c` namespace."""
MOCK_CONSTRUCTION = r"""
import hashlib, json, sys
import pulumi

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return [args.name + "_id", {**args.inputs, "arn": "arn:aws:mock:::" + args.name, "name": args.name}]
    def call(self, args):
        return {"accountId": "123456789012", "partition": "aws", "region": "us-east-1"}

pulumi.runtime.set_mocks(Mocks(), preview=False)
from ec2c.stacks import ComplianceAnalyzer, ComplianceAnalyzerArgs, packaging

analyzer = ComplianceAnalyzer("scanner", ComplianceAnalyzerArgs(environment="pkg"))
members = packaging.archive_members()
print(json.dumps({name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in members.items()}))
"""


def _run(*args: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    dist = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--outdir", str(dist), str(REPO), cwd=REPO, env=dict(os.environ), timeout=900)
    return {"wheel": next(dist.glob("*.whl")), "sdist": next(dist.glob("*.tar.gz"))}


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> dict[str, object]:
    """A fresh virtualenv with only the wheel (and its dependencies) installed; no PYTHONPATH."""
    root = tmp_path_factory.mktemp("venv")
    venv = root / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "EC2C_CONFIG_DIR")}
    _run(sys.executable, "-m", "venv", str(venv), cwd=root, env=env)
    _run(str(venv / "bin" / "pip"), "install", "-q", str(built["wheel"]), cwd=root, env=env, timeout=1800)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    return {"bin": venv / "bin", "cwd": elsewhere, "env": {**env, "COLUMNS": "200"}}


def _repo_files() -> set[str]:
    tracked = subprocess.run(
        ["git", "ls-files", *SHIPPED_DIRS], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return {
        installed + path.removeprefix(folder)
        for path in tracked
        for folder, installed in SHIPPED_DIRS.items()
        if path.startswith(folder + "/")
    }


def test_the_wheel_holds_every_module_and_data_file(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = {n for n in wheel.namelist() if ".dist-info/" not in n}
    missing = sorted(_repo_files() - names)
    assert missing == []
    assert {
        "ec2c/stacks/lambda_root/index.py",
        "ec2c/orchestrator/engine/install-pulumi.sh",
        "ec2c/orchestrator/templates/config/defaults.yaml",
        "ec2c/orchestrator/integration_suite/conftest.py",
    } <= names
    assert {name.split("/")[0] for name in names} == {"ec2c"}
    assert "ec2c/__init__.py" not in names


def test_installed_ec2c_runs_from_anywhere(installed):
    ec2c = str(installed["bin"] / "ec2c")
    cwd, env = installed["cwd"], installed["env"]
    version = _run(ec2c, "--version", cwd=cwd, env=env).stdout
    assert version.startswith("ec2c 0.1.0\npulumi SDK ")

    report = json.loads(_run(ec2c, "scan", "--demo", "--format", "json", cwd=cwd, env=env).stdout)
    expected = {spec.name: set(spec.expect) for spec in demo.instance_specs()}
    assert report["summary"]["total_instances"] == len(expected)
    failing = {f["rule_id"] for f in report["findings"] if not f["suppressed"] and f["resource_type"] == "instance"}
    assert failing == set().union(*expected.values()) - _suppressed_only(report)
    assert {f["resource_type"] for f in report["findings"]} == {"instance", "launch_template", "security_group"}
    assert {f["status"] for f in report["account_findings"]} == {"PASS", "FAIL"}

    no_config = subprocess.run([ec2c, "envs"], cwd=cwd, env=env, capture_output=True, text=True)
    assert no_config.returncode == 2 and "run `ec2c init`" in no_config.stderr
    _run(ec2c, "init", "cfg", cwd=cwd, env=env)
    envs = json.loads(_run(ec2c, "envs", "--config-dir", "cfg", "--json", cwd=cwd, env=env).stdout)
    assert [e["name"] for e in envs] == ["example"]
    assert (cwd / "cfg" / "rollouts" / "example.yaml").is_file()


def _suppressed_only(report: dict) -> set[str]:
    """Rules whose every finding in the demo is suppressed (the demo seeds a few suppressions)."""
    active = {f["rule_id"] for f in report["findings"] if not f["suppressed"]}
    return {f["rule_id"] for f in report["findings"] if f["suppressed"]} - active


def test_the_stack_builds_the_same_archive_from_the_wheel(installed):
    python = str(installed["bin"] / "python")
    result = _run(python, "-c", MOCK_CONSTRUCTION, cwd=installed["cwd"], env=installed["env"])
    from_wheel = json.loads(result.stdout.strip().splitlines()[-1])
    from_checkout = {
        name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in packaging.archive_members().items()
    }
    assert "index.py" in from_wheel
    assert list(from_wheel) == list(from_checkout)
    assert from_wheel == from_checkout


USER_PROGRAM = """
import pulumi

class Analyzer(pulumi.ComponentResource):
    def __init__(self, name):
        super().__init__("ec2compliance:index:ComplianceAnalyzer", name, None, None)
        self.register_outputs({})

def program(env):
    def run():
        Analyzer("compliance-" + pulumi.get_stack())
        pulumi.export("lambda_function_name", "fn-" + pulumi.get_stack())
    return run
"""

USER_SUITE = """
import orchestrator
import stacks

def test_the_users_packages_are_the_ones_imported(stack_outputs):
    assert stacks.OWNER == "the user's stacks"
    assert orchestrator.OWNER == "the user's orchestrator"
    assert stack_outputs["lambda_function_name"].startswith("fn-ci-")
"""


def test_ec2c_test_runs_a_suite_beside_packages_named_stacks_and_orchestrator(installed, tmp_path):
    """Pulumi repositories often have a `stacks/` package, and `ec2c test` imports the user's suite
    into its own interpreter: with everything under `ec2c.*`, the user's `stacks` and
    `orchestrator` are theirs, on sys.path first, and ec2c still runs (real engine,
    component-only program)."""
    from ec2c.orchestrator.engine.pulumi_cli import find_engine

    if find_engine() is None:
        pytest.skip("no pulumi CLI: run `ec2c engine install` (the README's test command does)")
    user = tmp_path / "user"
    for package in ("stacks", "orchestrator"):
        (user / package).mkdir(parents=True)
        (user / package / "__init__.py").write_text(f'OWNER = "the user\'s {package}"\n')
    (user / "userprog.py").write_text(USER_PROGRAM)
    (user / "suite").mkdir()
    (user / "suite" / "test_user.py").write_text(USER_SUITE)
    (user / "config").mkdir()
    (user / "config" / "defaults.yaml").write_text("program: userprog:program\n")
    (user / "config" / "ci.yaml").write_text("aws: {region: eu-west-1, account_id: '123456789012'}\n")
    env = {
        **installed["env"],
        "PYTHONPATH": str(user),
        "PULUMI_CONFIG_PASSPHRASE": "wheel-test",
        "EC2C_CONFIG_DIR": str(user / "config"),
    }
    result = subprocess.run(
        [str(installed["bin"] / "ec2c"), "test", "--env", "ci", "--tests", "suite"],
        cwd=user,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
    assert "destroyed and removed" in result.stderr
