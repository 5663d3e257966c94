"""`ec2c scan`: a CI gate that cannot pass by accident, and bad input that ends in exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from rich.console import Console

from ec2c.orchestrator.reporting import render as scan_render
from ec2c.scanner.model import ScanError
from ec2c.scanner.reports.reader import load_report
from tests.unit.orchestrator.test_scan_command import flat, only_rules, run, seed_instance

REPO = Path(__file__).resolve().parents[3]


def _deny_region(monkeypatch, region: str) -> None:
    """DescribeInstances answers UnauthorizedOperation in `region` (an SCP, a disabled region)."""
    real_client = boto3.session.Session.client

    def client(self, service, *args, **kwargs):
        made = real_client(self, service, *args, **kwargs)
        if service == "ec2" and kwargs.get("region_name") == region:

            def deny(model, **_):
                raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied by SCP"}}, model.name)

            made.meta.events.register("before-parameter-build.ec2.DescribeInstances", deny)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", client)


def test_fail_on_fails_a_partial_report_naming_the_regions(mocked, monkeypatch):
    seed_instance(imdsv1=False)
    _deny_region(monkeypatch, "eu-west-1")
    policy = str(only_rules(mocked / "p.json", "imdsv2_required"))
    gated = run("--regions", "us-east-1,eu-west-1", "--policy", policy, "--fail-on", "high", "--format", "json")
    assert gated.exit_code == 1
    report = json.loads(gated.stdout)
    assert report["partial"] is True and report["incomplete_regions"] == ["eu-west-1"]
    assert "the report is partial (regions not fully scanned: eu-west-1)" in flat(gated.stderr)
    allowed = run("--regions", "us-east-1,eu-west-1", "--policy", policy, "--fail-on", "high", "--allow-partial")
    assert allowed.exit_code == 0, allowed.stderr


def test_every_region_failing_is_not_100_percent(mocked, monkeypatch):
    _deny_region(monkeypatch, "us-east-1")
    result = run("--regions", "us-east-1", "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["summary"]["compliance_rate"] is None
    assert "every region failed to scan (us-east-1: UnauthorizedOperation)" in flat(result.stderr)
    table = run("--regions", "us-east-1")
    assert "compliance n/a" in flat(table.stderr)


def test_expired_suppressions_are_reported_and_warned(mocked):
    instance = seed_instance()
    policy = only_rules(
        mocked / "p.json",
        "imdsv2_required",
        suppressions=[
            {
                "rule": "imdsv2_required",
                "instance_id": instance,
                "reason": "vendor [bold]agent[/bold]",
                "expires": "2020-01-01",
            },
        ],
    )
    result = run("--regions", "us-east-1", "--policy", str(policy), "--format", "json")
    assert json.loads(result.stdout)["expired_suppressions"][0]["instance_id"] == instance
    assert (
        f"warning: suppression of imdsv2_required for instance {instance} expired on 2020-01-01 "
        "(vendor [bold]agent[/bold])"
    ) in flat(result.stderr)


@pytest.mark.parametrize("value", ["", ",", " , "])
def test_empty_regions_are_bad_input(clean_env, value):
    result = run("--demo", "--regions", value)
    assert result.exit_code == 2
    assert "--regions: expected region names" in flat(result.stderr)


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("AWS_ENDPOINT_URL", "localhost:5000", "AWS_ENDPOINT_URL='localhost:5000': expected a URL"),
        ("AWS_MAX_ATTEMPTS", "three", "AWS_MAX_ATTEMPTS='three': expected a whole number"),
        ("AWS_MAX_ATTEMPTS", "0", "AWS_MAX_ATTEMPTS='0': expected a whole number"),
    ],
)
def test_bad_aws_variables_are_bad_input(dummy_creds, monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    result = run("--regions", "us-east-1")
    assert result.exit_code == 2
    assert message in flat(result.stderr)


def test_aws_region_is_honoured_first_and_named_when_bad(mocked, monkeypatch):
    seed_instance("eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    result = run("--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["regions"] == ["eu-west-1"]
    monkeypatch.setenv("AWS_REGION", "eu-wst-1")
    bad = run()
    assert bad.exit_code == 2
    assert "AWS_REGION=eu-wst-1: unknown region 'eu-wst-1' (did you mean eu-west-1?)" in flat(bad.stderr)


def test_output_is_checked_before_the_scan(clean_env):
    blocker = clean_env / "file"
    blocker.write_text("x")
    under_a_file = run("--demo", "--output", str(blocker / "report.json"))
    assert under_a_file.exit_code == 2 and "is a file, not a folder" in flat(under_a_file.stderr)
    readonly = clean_env / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        if not os.access(readonly, os.W_OK):  # root may write anywhere
            denied = run("--demo", "--output", f"{readonly}/")
            assert denied.exit_code == 2 and f"{readonly} is not writable" in flat(denied.stderr)
    finally:
        readonly.chmod(0o700)
    into = run("--demo", "--output", f"{clean_env / 'new'}/", "--format", "csv")
    assert into.exit_code == 0, into.stderr
    assert (clean_env / "new" / "ec2-compliance-report.csv").read_text().startswith("instance_id,")
    assert (clean_env / "new" / "reports" / "latest.json").is_file()


def test_a_failed_write_still_shows_the_table_and_leaves_no_half_file(clean_env, monkeypatch):
    from ec2c.orchestrator.reporting import writers

    target = clean_env / "r.json"
    target.write_text("the previous report")

    def fail_half_way(out, *args, **kwargs):
        out.write('{"partial":')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers, "write_report", fail_half_way)
    result = run("--demo", "--output", str(target))
    assert result.exit_code == 1
    assert "Findings" in result.stderr
    assert f"{target}: cannot write the report: No space left on device" in flat(result.stderr)
    assert target.read_text() == "the previous report"  # written beside it, never renamed over it
    assert [p.name for p in clean_env.iterdir() if p.name.startswith(".r.json")] == []


def test_text_from_users_and_aws_is_printed_literally():
    console = Console(record=True, width=200)
    errors = [
        ScanError(r, "ssm:DescribeInstanceInformation", "OperationUnavailable", "gap [/x] [bold]b[/bold]")
        for r in ("us-east-1", "eu-west-1")
    ]
    summary = {"total_instances": 1, "compliant_instances": 0, "non_compliant_instances": 1, "compliance_rate": 0.0}
    report = {
        "run_id": "r",
        "generated_at": "2026-01-01T00:00:00Z",
        "regions": ["us-east-1"],
        "summary": summary,
        "findings": [
            {
                "instance_id": "i-1",
                "region": "[red]r[/red]",
                "rule_id": "rule[/x]",
                "severity": "high",
                "message": "m [bold]x[/bold]",
                "tags": {"Name": "[/weird]"},
            }
        ],
        "errors": [e.to_document() for e in errors],
    }
    scan_render.render_report(console, load_report(report, None, "test"))
    text = console.export_text()
    assert "gap [/x] [bold]b[/bold]" in text and "rule[/x]" in text and "[red]r[/red]" in text
    assert text.count("OperationUnavailable") == 1
    assert "us-east-1, eu-west-1" in text


def test_bad_region_error_names_are_literal(clean_env):
    result = run("--demo", "--regions", "[/x]")
    assert result.exit_code == 2
    assert "unknown region '[/x]'" in flat(result.stderr)


def test_version_and_boolean_flags_in_help():
    result = subprocess.run(
        [sys.executable, "-m", "ec2c.orchestrator", "--version"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0 and result.stdout.startswith("ec2c ")
    helptext = subprocess.run(
        [sys.executable, "-m", "ec2c.orchestrator", "scan", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    ).stdout
    assert "--demo" in helptext and "<bool>" not in helptext.lower() and "BOOLEAN" not in helptext


INTERPRETER_INIT_S = 0.25
"""Python installs its SIGINT handler before importing `site`; a signal in between is the
interpreter's own business (no program runs yet). Our entry point follows within milliseconds."""


def _wait_for_sigint_handler(pid: int, timeout: float = 30) -> None:
    """Until the interpreter catches SIGINT (bit 2 of SigCgt in /proc/<pid>/status)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
        if caught & (1 << (2 - 1)):
            return
        time.sleep(0.005)
    raise AssertionError("the process never installed a SIGINT handler")


@pytest.mark.parametrize("delay", [0.0, 0.3, 1.2])
def test_sigint_at_any_moment_exits_130_quietly(clean_env, delay):
    """The child really receives SIGINT (a non-interactive shell's background job ignores it)."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "ec2c.orchestrator", "scan", "--demo"],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_sigint_handler(proc.pid)
    time.sleep(INTERPRETER_INIT_S + delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr  # the demo scan takes seconds: it was still running
    assert "Traceback" not in stderr and "Aborted" not in stderr


def test_a_store_that_cannot_be_written_is_one_line(clean_env, monkeypatch):
    from ec2c.scanner.storage import DirStore

    def full(self, key, write):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(DirStore, "_write", full)
    folder = clean_env / "store"
    result = run("--demo", "--regions", "eu-west-1", "--output", f"{folder}/")
    assert result.exit_code == 1
    assert f"error: {folder / 'reports'}: cannot store the report: No space left on device" in flat(result.stderr)
    assert "Traceback" not in result.output


def test_an_output_folder_that_became_a_file_is_one_line(tmp_path):
    from ec2c.orchestrator.errors import OperationFailed
    from ec2c.orchestrator.reporting.files import open_output

    (tmp_path / "gone").write_text("a file now")
    with pytest.raises(OperationFailed, match=r"gone/r\.json: cannot write the report: "):
        with open_output(tmp_path / "gone" / "r.json"):
            raise AssertionError("never reached")
