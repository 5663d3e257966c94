"""The pulumi CLI pin has one home (`engine/version.py`): the code, the installer script's default
and the Makefile all take it from there."""

from __future__ import annotations

import inspect
import os
import subprocess
from pathlib import Path

from ec2c.orchestrator.cli.engine import engine_install
from ec2c.orchestrator.engine import pulumi_cli
from ec2c.orchestrator.engine.version import PINNED_VERSION

REPO = Path(__file__).resolve().parents[3]


def test_the_code_installs_the_pinned_version_by_default() -> None:
    assert pulumi_cli.PINNED_VERSION is PINNED_VERSION
    assert inspect.signature(pulumi_cli.install_engine).parameters["version"].default == PINNED_VERSION
    assert inspect.signature(engine_install).parameters["version"].default == PINNED_VERSION


def test_the_makefile_reads_the_pin() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "-s", "engine", "PYTHON=python3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PULUMI_VERSION"},
    )
    assert f"PULUMI_VERSION={PINNED_VERSION} orchestrator/engine/install-pulumi.sh" in dry_run.stdout


def test_the_installer_script_defaults_to_the_pin(tmp_path: Path) -> None:
    """With a cached CLI of the pinned version in PULUMI_HOME the script uses it: the root it
    prints names the version it defaulted to."""
    root = tmp_path / "versions" / PINNED_VERSION
    (root / "bin").mkdir(parents=True)
    cli = root / "bin" / "pulumi"
    cli.write_text(f"#!/bin/sh\necho v{PINNED_VERSION}\n")
    cli.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PULUMI_VERSION"} | {"PULUMI_HOME": str(tmp_path)}
    result = subprocess.run(["bash", str(pulumi_cli.INSTALLER)], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == str(root)
    assert f"using cached {cli}" in result.stderr
