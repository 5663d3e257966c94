"""Which pulumi CLI ec2c drives, how it installs one, and how the entry point ends on Ctrl-C.

Stand-in CLIs (shell scripts answering `version`) take the place of real ones: finding and
choosing a binary is all that is checked, no engine work is done.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

import ec2c.orchestrator.cli as cli
from ec2c.orchestrator import entry
from ec2c.orchestrator.engine import pulumi_cli
from ec2c.orchestrator.engine.pulumi_cli import find_engine, install_engine, require_engine
from ec2c.orchestrator.errors import OperationFailed


def _stand_in(path: Path, version: str | None) -> Path:
    """A `pulumi` answering `version` with `version`, or failing when it is None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    answer = f"echo v{version}" if version else "exit 3"
    path.write_text(f'#!/bin/sh\n[ "$1" = version ] && {answer}\n')
    path.chmod(0o755)
    return path


def test_without_any_cli_none_is_found_and_requiring_one_says_how_to_install(no_engine) -> None:
    assert find_engine() is None
    with pytest.raises(OperationFailed, match=r"no pulumi CLI found .*run `ec2c engine install`"):
        require_engine()


def test_the_newest_installed_version_is_chosen(no_engine) -> None:
    for version in ("3.9.0", "3.100.0", "3.25.1"):
        _stand_in(no_engine / "versions" / version / "bin" / "pulumi", version)
    _stand_in(no_engine / "versions" / "nightly" / "bin" / "pulumi", "3.0.0-nightly")
    (no_engine / "versions" / "empty").mkdir()
    engine = require_engine()
    assert engine.version == "3.100.0"
    assert engine.binary == no_engine / "versions" / "3.100.0" / "bin" / "pulumi"
    assert engine.root == no_engine / "versions" / "3.100.0"


def test_the_path_comes_before_installed_versions_and_ec2c_pulumi_before_both(no_engine, tmp_path, monkeypatch) -> None:
    _stand_in(no_engine / "versions" / "3.200.0" / "bin" / "pulumi", "3.200.0")
    on_path = _stand_in(tmp_path / "bin" / "pulumi", "3.1.0")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert require_engine().binary == on_path
    chosen = _stand_in(tmp_path / "chosen" / "bin" / "pulumi", "3.2.0")
    monkeypatch.setenv("EC2C_PULUMI", str(chosen))
    assert (require_engine().binary, require_engine().version) == (chosen, "3.2.0")


def test_a_binary_that_cannot_tell_its_version_is_passed_over(no_engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EC2C_PULUMI", str(_stand_in(tmp_path / "broken" / "pulumi", None)))
    monkeypatch.setenv("PATH", str(tmp_path / "missing"))
    _stand_in(no_engine / "versions" / "3.5.0" / "bin" / "pulumi", "3.5.0")
    assert require_engine().version == "3.5.0"


def _installer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """An installer script, with a PATH holding the tools it runs and no pulumi."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("bash", "mkdir", "chmod"):
        (tools / tool).symlink_to(shutil.which(tool, path=os.defpath))
    monkeypatch.setenv("PATH", str(tools))
    script = tmp_path / "install-pulumi.sh"
    script.write_text(body)
    return script


def test_the_installer_installs_the_version_asked_for(no_engine, tmp_path, monkeypatch) -> None:
    script = _installer(
        tmp_path,
        monkeypatch,
        'dir="$PULUMI_HOME/versions/$PULUMI_VERSION/bin"; mkdir -p "$dir"\n'
        'printf \'#!/bin/sh\\necho v%s\\n\' "$PULUMI_VERSION" > "$dir/pulumi"; chmod +x "$dir/pulumi"\n',
    )
    monkeypatch.setattr(pulumi_cli, "INSTALLER", script)
    engine = install_engine("3.42.0")
    assert (engine.version, engine.binary) == ("3.42.0", no_engine / "versions" / "3.42.0" / "bin" / "pulumi")


def test_a_failing_installer_reports_its_error(no_engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(
        pulumi_cli, "INSTALLER", _installer(tmp_path, monkeypatch, "echo 'go: no network' >&2\nexit 1\n")
    )
    with pytest.raises(OperationFailed, match="installing the pulumi CLI failed:\ngo: no network"):
        install_engine("3.42.0")


def test_an_installer_that_leaves_no_working_cli_is_a_failure(no_engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pulumi_cli, "INSTALLER", _installer(tmp_path, monkeypatch, "exit 0\n"))
    with pytest.raises(OperationFailed, match="the installer finished but no working pulumi CLI was found"):
        install_engine("3.42.0")


def test_without_the_shipped_installer_the_sdk_downloads_into_pulumi_home(no_engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pulumi_cli, "INSTALLER", tmp_path / "absent.sh")
    asked: list[tuple[str, str]] = []

    def install(*, root: str, version) -> None:
        asked.append((root, str(version)))
        _stand_in(Path(root) / "bin" / "pulumi", str(version))

    monkeypatch.setattr(pulumi_cli.PulumiCommand, "install", staticmethod(install))
    assert install_engine("3.43.1").version == "3.43.1"
    assert asked == [(str(no_engine / "versions" / "3.43.1"), "3.43.1")]

    def offline(*, root: str, version) -> None:
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(pulumi_cli.PulumiCommand, "install", staticmethod(offline))
    with pytest.raises(OperationFailed, match=r"PulumiCommand.install\(\) failed \(network unreachable\)"):
        install_engine("3.44.0")


@pytest.fixture
def sigint_restored():
    previous = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_during_startup_ends_quietly_with_130(monkeypatch, capsys, sigint_restored) -> None:
    def run() -> None:
        assert signal.getsignal(signal.SIGINT) is entry._interrupt
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(cli, "main", run)
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == entry.EXIT_SIGINT == 130
    assert capsys.readouterr().err == "\n"


def test_an_ignored_sigint_stays_ignored_and_a_keyboard_interrupt_is_130(monkeypatch, sigint_restored) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def run() -> None:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "main", run)
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 130


def test_the_command_lines_own_exit_passes_through(monkeypatch, sigint_restored) -> None:
    def run() -> None:
        raise SystemExit(2)

    monkeypatch.setattr(cli, "main", run)
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 2
