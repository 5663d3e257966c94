"""Find (or install) the `pulumi` CLI that the Automation API drives.

The Automation API shells out to the CLI for every operation, so nothing works without one; this
module decides which binary is used and says so, rather than failing deep inside a deployment.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pulumi.automation import PulumiCommand
from semver import VersionInfo

from ..errors import OperationFailed
from .command import SupervisedCommand
from .version import PINNED_VERSION

INSTALLER = Path(__file__).resolve().parent / "install-pulumi.sh"
"""Shipped in the package: an installed `ec2c engine install` needs no checkout."""


@dataclass(frozen=True)
class Engine:
    """A located CLI: its binary, the root PulumiCommand expects, and its version."""

    binary: Path
    root: Path
    version: str

    def command(self) -> PulumiCommand:
        """One command object per engine: building it runs `pulumi version`, a process each time."""
        return _command_for(self.root)


@functools.cache
def _command_for(root: Path) -> PulumiCommand:
    return SupervisedCommand(root=str(root))


def _pulumi_home() -> Path:
    return Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi"))


def _version_of(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().removeprefix("v") or None


def _candidates() -> list[Path]:
    """$EC2C_PULUMI, then PATH, then installed versions under $PULUMI_HOME, newest first."""
    found: list[Path] = []
    if os.environ.get("EC2C_PULUMI"):
        found.append(Path(os.environ["EC2C_PULUMI"]))
    on_path = shutil.which("pulumi")
    if on_path:
        found.append(Path(on_path))
    versions = _pulumi_home() / "versions"
    if versions.is_dir():
        installed = [p / "bin" / "pulumi" for p in versions.iterdir() if (p / "bin" / "pulumi").exists()]
        found.extend(sorted(installed, key=lambda p: _sort_key(p.parent.parent.name), reverse=True))
    return found


def _sort_key(version: str) -> VersionInfo:
    try:
        return VersionInfo.parse(version)
    except ValueError:
        return VersionInfo(0)


def find_engine() -> Engine | None:
    for binary in _candidates():
        version = _version_of(binary)
        if version:
            return Engine(binary=binary, root=binary.parent.parent, version=version)
    return None


def require_engine() -> Engine:
    engine = find_engine()
    if engine is None:
        raise OperationFailed(
            "no pulumi CLI found on PATH or under ~/.pulumi/versions; run `ec2c engine install` "
            f"(it downloads the CLI when online, else builds v{PINNED_VERSION} from Go modules)"
        )
    return engine


def install_engine(version: str = PINNED_VERSION) -> Engine:
    """Install through the project's installer: PulumiCommand.install() when online, else a Go build."""
    if not INSTALLER.exists():
        root = _pulumi_home() / "versions" / version
        try:
            PulumiCommand.install(root=str(root), version=VersionInfo.parse(version))
        except Exception as exc:  # noqa: BLE001 - any download failure means "offline" here
            raise OperationFailed(f"PulumiCommand.install() failed ({exc}); install the pulumi CLI by hand") from None
    else:
        env = {**os.environ, "PULUMI_VERSION": version, "PYTHON": os.environ.get("PYTHON", sys.executable)}
        result = subprocess.run(["bash", str(INSTALLER)], env=env, text=True, capture_output=True)
        if result.returncode != 0:
            raise OperationFailed(f"installing the pulumi CLI failed:\n{result.stderr.strip()}")
    engine = find_engine()
    if engine is None:
        raise OperationFailed("the installer finished but no working pulumi CLI was found")
    return engine
