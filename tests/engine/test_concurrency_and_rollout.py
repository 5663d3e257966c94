"""Locks and parallelism: a concurrent update is refused clearly; a rollout runs stacks in parallel."""

from __future__ import annotations

import json
import time

import yaml


def test_concurrent_update_on_the_same_stack_is_a_clear_error(project):
    first = project.popen("up", "--env", "eng", EC2C_TEST_PROGRAM_DELAY="8")
    lock_dir = project.root / ".pulumi-state" / ".pulumi" / "locks"
    deadline = time.monotonic() + 60
    while not any(lock_dir.rglob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(lock_dir.rglob("*.json")), "the first update never took its lock"
    second = project.ec2c("up", "--env", "eng")
    assert second.returncode == 1
    assert "locked by another update" in second.stderr
    assert "Traceback" not in second.stderr
    first.communicate(timeout=120)
    assert first.returncode == 0


def _plan(project, fail: bool = False) -> str:
    waves = [
        {"name": "canary", "parallelism": 1, "targets": [{"env": "eng", "stack": "eng-canary"}]},
        {
            "name": "fleet",
            "parallelism": 3,
            "targets": [
                {"env": "eng", "stack": "eng-euw1"},
                {"env": "eng", "stack": "eng-use1", "aws": {"region": "us-east-1"}},
                {"env": "broken" if fail else "eng", "stack": "eng-apse2", "aws": {"region": "ap-southeast-2"}},
            ],
        },
        {"name": "last", "parallelism": 1, "targets": [{"env": "eng", "stack": "eng-last"}]},
    ]
    path = project.root / "plan.yaml"
    path.write_text(yaml.safe_dump({"fail_fast": True, "waves": waves}))
    return str(path)


def test_parallel_rollout_deploys_every_target_in_its_region(project):
    result = project.ec2c("rollout", "--plan", _plan(project), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"]
    by_stack = {t["stack"]: t for t in report["targets"]}
    assert set(by_stack) == {"eng-canary", "eng-euw1", "eng-use1", "eng-apse2", "eng-last"}
    assert by_stack["eng-use1"]["outputs"]["configured_region"] == "us-east-1"
    assert by_stack["eng-apse2"]["outputs"]["region"] == "ap-southeast-2"
    assert [t["wave"] for t in report["targets"]] == ["canary", "fleet", "fleet", "fleet", "last"]
    assert project.stacks() == sorted(by_stack)
    work = project.root / ".ec2c" / "work" / "ec2-compliance"
    assert sorted(p.name for p in work.iterdir()) == sorted(by_stack)


def test_rollout_fails_fast_and_skips_later_waves(project):
    project.write_env("broken", {"program": "tests.engine.programs:failing_analyzer", "aws": {"region": "us-east-1"}})
    result = project.ec2c("rollout", "--plan", _plan(project, fail=True), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    status = {t["stack"]: t["status"] for t in report["targets"]}
    assert status["eng-apse2"] == "failed"
    assert status["eng-canary"] == "ok"
    assert status["eng-last"] == "skipped"
    assert "deliberate failure" in next(t["error"] for t in report["targets"] if t["stack"] == "eng-apse2")
