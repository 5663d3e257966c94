"""Fixtures shared by the orchestrator's unit tests, found by name (defined with the scan command's tests)."""

from tests.unit.orchestrator.test_scan_command import clean_env, dummy_creds, mocked  # noqa: F401 - fixtures
