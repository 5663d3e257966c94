"""Rollout plans: validation, wave order, the parallelism bound, fail-fast, shards and selection."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from ec2c.orchestrator.deploy.inputs.environments import ConfigDir
from ec2c.orchestrator.deploy.rollouts.rollout import Shard, TargetRun, execute, load_plan, parse_shard, select
from ec2c.orchestrator.deploy.stack.lifecycle import OperationResult
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
        return TargetRun(OperationResult(target.stack_name, op, True, 0.05, {}, {"region": target.env.aws.region}))

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
        return TargetRun(OperationResult(target.stack_name, op, True, 0.02))

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
        return TargetRun(OperationResult(target.stack_name, op, True, 0.0))

    report = execute(_three_waves(tmp_path, config, fail_fast=False), "up", run_one)
    status = {o.stack: o.status for o in report.outcomes}
    assert status == {"a1": "ok", "b0": "failed", "b1": "ok", "b2": "ok", "b3": "ok", "b4": "ok", "c1": "skipped"}
    assert next(o for o in report.outcomes if o.stack == "b0").error == "RuntimeError: crash"


def test_an_unchanged_target_counts_as_done_and_the_summary_counts_every_status(tmp_path, config):
    def run_one(target, op):
        if target.stack_name == "b1":
            raise OperationFailed("boom")
        if target.stack_name.startswith("b"):
            return TargetRun(None, "unchanged")
        return TargetRun(OperationResult(target.stack_name, op, True, 0.0), "inputs changed")

    report = execute(_three_waves(tmp_path, config, fail_fast=False), "up", run_one)
    status = {o.stack: o.status for o in report.outcomes}
    assert status == {
        "a1": "ok",
        "b0": "unchanged",
        "b1": "failed",
        "b2": "unchanged",
        "b3": "unchanged",
        "b4": "unchanged",
        "c1": "skipped",
    }
    assert report.counts() == {"deployed": 1, "unchanged": 4, "failed": 1, "not started": 1}
    assert report.summary("up") == "1 deployed, 4 unchanged, 1 failed, 1 not started"
    assert report.summary("preview") == "1 ok, 4 unchanged, 1 failed, 1 not started"
    assert report.outcomes[0].to_dict()["reason"] == "inputs changed"
    assert not report.ok


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0/3", "K must be between 1 and N (3)"),
        ("4/3", "K must be between 1 and N (3)"),
        ("a/b", "expected K/N with whole numbers"),
        ("1/0", "N must be between 1 and 256"),
        ("3", "expected K/N"),
        ("-1/3", "expected K/N"),
    ],
)
def test_bad_shards_are_refused(text, fragment):
    with pytest.raises(BadInput) as info:
        parse_shard(text)
    assert info.value.message.startswith("--shard: ")
    assert fragment in info.value.message
    assert repr(text) in info.value.message


def test_shards_split_every_wave_evenly_once_and_the_same_way_each_time(tmp_path, config):
    plan = _three_waves(tmp_path, config)
    parts = [select(plan, shard=parse_shard(f"{k}/3")) for k in (1, 2, 3)]
    again = [select(_three_waves(tmp_path, config), shard=Shard(k, 3)) for k in (1, 2, 3)]
    stacks = [[t.stack_name for _, _, ts in part.waves for t in ts] for part in parts]
    assert stacks == [[t.stack_name for _, _, ts in part.waves for t in ts] for part in again]
    assert stacks == [["a1", "b0", "b3", "c1"], ["b1", "b4"], ["b2"]]
    assert [name for name, _, _ in parts[1].waves] == ["two"]
    assert parts[0].waves[1][1] == 2
    assert sorted(sum(stacks, [])) == sorted(t.stack_name for _, _, ts in plan.waves for t in ts)
    assert str(Shard(2, 3)) == "2/3"


def test_selection_by_wave_and_account(tmp_path, config):
    (config.path / "other.yaml").write_text("aws: {region: eu-west-1, account_id: '222222222222'}\n")
    plan = load_plan(
        _plan(
            tmp_path,
            {
                "waves": [
                    {"name": "one", "targets": [{"env": "app", "stack": "a1"}, {"env": "other", "stack": "o1"}]},
                    {"name": "two", "targets": [{"env": "other", "stack": "o2"}, {"env": "app", "stack": "a2"}]},
                ]
            },
        ),
        ConfigDir(config.path),
    )
    only_two = select(plan, wave="two")
    assert [(n, [t.stack_name for t in ts]) for n, _, ts in only_two.waves] == [("two", ["o2", "a2"])]
    other = select(plan, account="222222222222")
    assert [t.stack_name for _, _, ts in other.waves for t in ts] == ["o1", "o2"]
    assert select(plan, account="999999999999").waves == []
    assert [t.stack_name for _, _, ts in select(plan, shard=Shard(2, 2), account="111111111111").waves for t in ts] == [
        "a2"
    ]
    with pytest.raises(BadInput) as info:
        select(plan, wave="three")
    assert info.value.message == "--wave: the plan has no wave 'three'; its waves are one, two"
