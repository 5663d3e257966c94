"""Engine tests: the real `pulumi` CLI behind `ec2c`, on embedded file and moto-served S3 backends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ec2c.orchestrator.engine.pulumi_cli import find_engine

REPO = Path(__file__).resolve().parents[2]
EC2C = [sys.executable, "-m", "ec2c.orchestrator"]
PASSPHRASE = "engine-test-passphrase"
MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
"""What an `ec2c` subprocess needs to talk to the `moto_s3` server."""


ENGINE_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this folder runs the real CLI: all carry the `engine` marker (`-m engine`,
    `-m "not engine"`), whether or not its module says so."""
    for item in items:
        if item.path.is_relative_to(ENGINE_TESTS):
            item.add_marker(pytest.mark.engine)


@pytest.fixture(scope="session")
def engine():
    found = find_engine()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must exercise the engine tests: no pulumi CLI (run `ec2c engine install`)")
        pytest.skip("no pulumi CLI: run `ec2c engine install` (the README's test command does)")
    return found


@dataclass
class Project:
    """A throw-away project folder: config/ with environment files, state beside it."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config"

    def write_env(self, name: str, document: dict) -> Path:
        path = self.config / f"{name}.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path

    def env_vars(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "EC2C_CONFIG_DIR": str(self.config),
            "PYTHONPATH": str(REPO),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "COLUMNS": "200",
        }
        env.pop("EC2C_STACK_OUTPUTS", None)
        env.update(extra)
        return env

    def ec2c(self, *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*EC2C, *args], cwd=self.root, env=self.env_vars(**extra), text=True, capture_output=True, timeout=timeout
        )

    def popen(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        """Start ec2c as CI does; SIGINT restored, since a non-interactive shell's background job ignores it."""
        return subprocess.Popen(
            [*EC2C, *args],
            cwd=self.root,
            env=self.env_vars(**extra),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    @property
    def state(self) -> Path:
        return self.root / ".pulumi-state" / ".pulumi"

    def lock_files(self) -> list[Path]:
        return sorted((self.state / "locks").rglob("*.json")) if (self.state / "locks").exists() else []

    def update_holder(self) -> int | None:
        """The PID of a live `pulumi up` holding a stack lock, else None.

        Any lock will not do: `pulumi stack init` takes one too, for the instant it creates the
        stack, so a test that waits for "a lock" may act before the update has even begun.
        """
        for path in self.lock_files():
            try:
                pid = json.loads(path.read_text())["pid"]
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError, KeyError):
                continue
            if b"up" in args:
                return pid
        return None

    def pending_operations(self, project: str = "ec2-compliance") -> int:
        """Pending operations recorded in every stack's checkpoint, read from the backend's files."""
        total = 0
        for path in (self.state / "stacks" / project).glob("*.json"):
            latest = json.loads(path.read_text())["checkpoint"].get("latest") or {}
            total += len(latest.get("pending_operations") or [])
        return total

    def stacks(self, project: str = "ec2-compliance") -> list[str]:
        """Stacks present in the embedded backend, read from its files (not through ec2c)."""
        folder = self.root / ".pulumi-state" / ".pulumi" / "stacks" / project
        return sorted(p.name.split(".")[0] for p in folder.glob("*.json")) if folder.exists() else []


@pytest.fixture
def project(tmp_path: Path, engine) -> Project:
    proj = Project(tmp_path)
    proj.config.mkdir()
    (proj.config / "defaults.yaml").write_text(
        yaml.safe_dump(
            {
                "program": "tests.engine.programs:fake_analyzer",
                "tags": {"ManagedBy": "ec2-compliance"},
            }
        ),
        encoding="utf-8",
    )
    proj.write_env(
        "eng",
        {
            "aws": {
                "region": "eu-west-1",
                "account_id": "123456789012",
                "role_arn": "arn:aws:iam::123456789012:role/deployer",
            }
        },
    )
    return proj


@pytest.fixture
def moto_s3():
    """A moto server on 127.0.0.1 (a separate process's AWS: ec2c runs as a subprocess) and an S3
    client on it; yields (endpoint, client) and stops the server after the test."""
    import boto3
    import requests
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield endpoint, s3
    server.stop()
