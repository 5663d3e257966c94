"""Change-aware rollouts on the real engine: only what changed is deployed, a failed rollout
resumes where it stopped, and an unchanged target never starts the engine.

`pulumi` is reached through a logging wrapper (`EC2C_PULUMI`, which `ec2c` looks at first) that
records each invocation and runs the real binary: the proof that an unchanged target costs no
engine process is the log, not a timing.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import yaml

from tests.engine.conftest import Project


def _logging_engine(tmp_path: Path, engine) -> tuple[Path, Path]:
    """`<tmp>/engine/bin/pulumi`: appends its arguments to a log, then runs the real CLI."""
    log = tmp_path / "engine-calls.log"
    wrapper = tmp_path / "engine" / "bin" / "pulumi"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{engine.binary}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, log


def _plan(project: Project) -> str:
    waves = [
        {"name": "canary", "targets": [{"env": "eng", "stack": "eng-canary"}, {"env": "flaky", "stack": "flaky"}]},
        {
            "name": "fleet",
            "parallelism": 2,
            "targets": [
                {"env": "eng", "stack": "eng-euw1"},
                {"env": "eng", "stack": "eng-use1", "aws": {"region": "us-east-1"}},
            ],
        },
    ]
    path = project.root / "plan.yaml"
    path.write_text(yaml.safe_dump({"fail_fast": True, "waves": waves}))
    return str(path)


def _rollout(project: Project, *args: str, **env: str) -> tuple[int, dict, str]:
    result = project.ec2c("rollout", "--plan", _plan(project), "--json", *args, **env)
    return result.returncode, json.loads(result.stdout), result.stderr


def _rows(report: dict) -> dict[str, tuple[str, str | None]]:
    return {t["stack"]: (t["status"], t["reason"]) for t in report["targets"]}


def _updates(project: Project, stack: str) -> int:
    folder = project.state / "history" / "ec2-compliance" / stack
    return len(list(folder.glob("*.history.json"))) if folder.exists() else 0


def test_a_rollout_deploys_what_changed_and_resumes_where_it_failed(project, tmp_path, engine):
    project.write_env("flaky", {"program": "tests.engine.programs:failing_analyzer", "aws": {"region": "eu-west-1"}})
    code, report, stderr = _rollout(project)
    assert code == 1
    assert _rows(report)["flaky"][0] == "failed"
    assert _rows(report)["eng-canary"] == ("ok", "new stack")
    assert {_rows(report)[s][0] for s in ("eng-euw1", "eng-use1")} == {"skipped"}
    assert report["counts"] == {"deployed": 1, "unchanged": 0, "failed": 1, "not started": 2}
    rerun = f"rerun `ec2c rollout --plan {project.root / 'plan.yaml'} --config-dir {project.config}` to deploy only"
    assert f"{rerun} the 3 target(s) that failed or did not start" in " ".join(stderr.split())

    project.write_env("flaky", {"aws": {"region": "eu-west-1"}})
    code, report, stderr = _rollout(project)
    assert code == 0, stderr
    assert _rows(report) == {
        "eng-canary": ("unchanged", "unchanged"),
        "flaky": ("ok", "last update failed"),
        "eng-euw1": ("ok", "new stack"),
        "eng-use1": ("ok", "new stack"),
    }
    assert [_updates(project, s) for s in ("eng-canary", "flaky", "eng-euw1", "eng-use1")] == [1, 2, 1, 1]

    wrapper, log = _logging_engine(tmp_path, engine)
    code, report, stderr = _rollout(project, EC2C_PULUMI=str(wrapper))
    assert code == 0, stderr
    assert {status for status, _ in _rows(report).values()} == {"unchanged"}
    assert report["counts"] == {"deployed": 0, "unchanged": 4, "failed": 0, "not started": 0}
    assert log.read_text().split("\n")[:-1] == ["version"], "an unchanged target started the engine"

    project.write_env("eng", {"aws": {"region": "eu-west-1", "account_id": "123456789012"}, "tags": {"Team": "sec"}})
    log.unlink()
    code, report, stderr = _rollout(project, EC2C_PULUMI=str(wrapper))
    assert code == 0, stderr
    rows = _rows(report)
    assert rows["flaky"] == ("unchanged", "unchanged")
    assert {rows[s] for s in ("eng-canary", "eng-euw1", "eng-use1")} == {("ok", "inputs changed")}
    calls = log.read_text().splitlines()
    assert sum(1 for call in calls if call.removeprefix("--non-interactive ").startswith("up ")) == 3, calls
    assert not any("flaky" in call for call in calls)

    code, report, _ = _rollout(project, "--force")
    assert code == 0 and {row for row in _rows(report).values()} == {("ok", "--force")}


def test_an_unreadable_fingerprint_is_never_taken_as_unchanged(project):
    project.write_env("flaky", {"aws": {"region": "eu-west-1"}})
    code, report, stderr = _rollout(project)
    assert code == 0, stderr
    tags = project.state / "stacks" / "ec2-compliance" / "eng-euw1.pulumi-tags"
    assert tags.exists(), sorted(p.name for p in tags.parent.iterdir())
    tags.write_text("{not json")
    os.utime(tags)
    code, report, stderr = _rollout(project)
    rows = _rows(report)
    assert rows["eng-euw1"][0] != "unchanged", "a target whose fingerprint cannot be read was taken as unchanged"
    assert rows["eng-euw1"][1].startswith("fingerprint unreadable (") and "eng-euw1.pulumi-tags" in rows["eng-euw1"][1]
    assert rows["eng-euw1"][1].endswith("treated as changed")
    assert "fingerprint unreadable, deployed as changed: eng-euw1" in " ".join(stderr.split())
    assert {rows[s][0] for s in ("eng-canary", "flaky", "eng-use1")} == {"unchanged"}
