"""Rollout plans: validation, wave order, the parallelism bound and fail-fast."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from ec2c.orchestrator.deploy.environments import ConfigDir
from ec2c.orchestrator.deploy.lifecycle import OperationResult
from ec2c.orchestrator.deploy.rollout import execute, load_plan
from ec2c.orchestrator.errors import BadInput, OperationFailed

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def config(tmp_path: Path) -> ConfigDir:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "app.yaml").write_text("aws: {region: eu-west-1, account_id: '111111111111'}\n")
    return ConfigDir(folder)


def _plan(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_example_plan_resolves_accounts_and_regions():
    plan = load_plan(REPO / "config" / "rollouts" / "example.yaml", ConfigDir(REPO / "config"))
    assert [name for name, _, _ in plan.waves] == ["canary", "production"]
    production = plan.waves[1][2]
    assert [t.stack_name for t in production] == ["prod-euw1", "prod-use1", "prod-apse2"]
    assert production[1].env.aws.region == "us-east-1"
    assert production[1].env.aws.account_id == "333333333333"
    assert production[2].env.aws.account_id == "444444444444"
    assert production[2].env.scan_regions == ("ap-southeast-2",)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"waves": []}, "waves: List should have at least 1 item"),
        (
            {"waves": [{"name": "w", "targets": [{"env": "app"}], "paralellism": 2}]},
            "waves.0.paralellism: unknown field",
        ),
        ({"waves": [{"name": "w", "parallelism": 0, "targets": [{"env": "app"}]}]}, "waves.0.parallelism"),
        ({"waves": [{"name": "w", "targets": [{"env": "nope"}]}]}, "waves[0].targets[0]: unknown environment 'nope'"),
        ({"waves": [{"name": "w", "targets": [{"env": "app", "aws": {"region": "mars"}}]}]}, "waves[0].targets[0]:"),
        ({"waves": [{"name": "w", "targets": [{"env": "app"}, {"env": "app"}]}]}, "stack 'app' appears twice"),
    ],
)
def test_bad_plans_name_the_file_and_place(tmp_path, config, document, fragment):
    path = _plan(tmp_path, document)
    with pytest.raises(BadInput) as info:
        load_plan(path, config)
    assert str(path) in info.value.message
    assert fragment in info.value.message


def _three_waves(tmp_path, config, fail_fast=True):
    return load_plan(
        _plan(
            tmp_path,
            {
                "fail_fast": fail_fast,
                "waves": [
                    {"name": "one", "targets": [{"env": "app", "stack": "a1"}]},
                    {
                        "name": "two",
                        "parallelism": 2,
                        "targets": [{"env": "app", "stack": f"b{i}", "aws": {"region": "us-east-1"}} for i in range(5)],
                    },
                    {"name": "three", "targets": [{"env": "app", "stack": "c1"}]},
                ],
            },
        ),
        config,
    )


def test_waves_run_in_order_within_the_parallelism_bound(tmp_path, config):
    running, peak, order, lock = [0], [0], [], threading.Lock()

    def run_one(target, op):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            order.append(target.wave)
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return OperationResult(target.stack_name, op, True, 0.05, {}, {"region": target.env.aws.region})

    report = execute(_three_waves(tmp_path, config), "up", run_one)
    assert report.ok
    assert order == ["one"] + ["two"] * 5 + ["three"]
    assert peak[0] == 2
    assert report.outcomes[1].to_dict()["outputs"] == {"region": "us-east-1"}
    assert report.outcomes[1].account == "111111111111"


def test_fail_fast_skips_what_has_not_started(tmp_path, config):
    def run_one(target, op):
        if target.stack_name == "b0":
            raise OperationFailed("boom")
        time.sleep(0.02)
        return OperationResult(target.stack_name, op, True, 0.02)

    report = execute(_three_waves(tmp_path, config), "up", run_one)
    status = {o.stack: o.status for o in report.outcomes}
    assert not report.ok
    assert status["a1"] == "ok" and status["b0"] == "failed" and status["c1"] == "skipped"
    assert list(status.values()).count("skipped") >= 3
    assert next(o for o in report.outcomes if o.stack == "b0").error == "boom"


def test_without_fail_fast_the_wave_finishes_but_later_waves_do_not_start(tmp_path, config):
    def run_one(target, op):
        if target.stack_name == "b0":
            raise RuntimeError("crash")
        return OperationResult(target.stack_name, op, True, 0.0)

    report = execute(_three_waves(tmp_path, config, fail_fast=False), "up", run_one)
    status = {o.stack: o.status for o in report.outcomes}
    assert status == {"a1": "ok", "b0": "failed", "b1": "ok", "b2": "ok", "b3": "ok", "b4": "ok", "c1": "skipped"}
    assert next(o for o in report.outcomes if o.stack == "b0").error == "RuntimeError: crash"
