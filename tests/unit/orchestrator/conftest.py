"""Fixtures shared by the orchestrator's unit tests, found by name (the AWS ones are defined with
the scan command's tests)."""

from pathlib import Path

import pytest

from tests.unit.orchestrator.test_scan_command import clean_env, dummy_creds, mocked  # noqa: F401 - fixtures


@pytest.fixture
def no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No CLI anywhere: an empty PATH, an empty PULUMI_HOME, no EC2C_PULUMI. Returns PULUMI_HOME."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EC2C_PULUMI", raising=False)
    return tmp_path / "home"
