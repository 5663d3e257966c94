"""A plan spread over a CI matrix, on the real engine: the workflow `ec2c rollout --ci github`
generates is run here the way GitHub runs it, job after job in `needs:` order, every matrix
entry of a job at once as its own process, all on one S3 backend (a moto server).

18 targets in 2 waves, 3 shards, one account: 3 concurrent `ec2c rollout` processes per wave.
Each target is deployed exactly once, no process meets a lock held by another, and no update of
wave 2 starts before every update of wave 1 ended (the engine's own history records say when).
Run again, the whole workflow deploys nothing: every target is unchanged.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.engine.conftest import MOTO_CREDENTIALS, PASSPHRASE, Project

SHARDS = 3
WAVES = {"one": 6, "two": 12}
REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")
_EXPRESSION = re.compile(r"\$\{\{\s*(matrix|secrets)\.([A-Za-z_]+)\s*\}\}")


def _plan(project: Project, endpoint: str) -> Path:
    backend = f"s3://team-state?endpoint={endpoint}&region=us-east-1&use_path_style=true"
    project.write_env("fleet", {"backend": backend, "aws": {"region": "eu-west-1", "account_id": "123456789012"}})
    waves, index = [], 0
    for name, count in WAVES.items():
        targets = []
        for _ in range(count):
            targets.append({"env": "fleet", "stack": f"fleet-{index}", "aws": {"region": REGIONS[index % 3]}})
            index += 1
        waves.append({"name": name, "parallelism": 2, "targets": targets})
    path = project.root / "plan.yaml"
    path.write_text(yaml.safe_dump({"waves": waves}))
    return path


def _job_order(jobs: dict) -> list[str]:
    """Job ids in an order that honours `needs:` (as GitHub schedules them)."""
    done: list[str] = []
    while len(done) < len(jobs):
        ready = [j for j, job in jobs.items() if j not in done and set(_needs(job)) <= set(done)]
        assert ready, f"the workflow's needs form a cycle: {jobs}"
        done += ready[:1]
    return done


def _needs(job: dict) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _rollout_step(job: dict) -> dict:
    return next(step for step in job["steps"] if "--shard " in step.get("run", ""))


def _resolve(value: str, entry: dict, secrets: dict) -> str:
    return _EXPRESSION.sub(lambda m: str((entry if m.group(1) == "matrix" else secrets)[m.group(2)]), value)


def _run_workflow(project: Project, workflow: dict, endpoint: str) -> list[tuple[str, subprocess.CompletedProcess]]:
    """Every job's matrix entries as concurrent processes, one job after the other."""
    secrets = {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    finished = []
    for job_id in _job_order(workflow["jobs"]):
        job = workflow["jobs"][job_id]
        step = _rollout_step(job)
        running = []
        for entry in job["strategy"]["matrix"]["include"]:
            env = {k: _resolve(str(v), entry, secrets) for k, v in {**job.get("env", {}), **step["env"]}.items()}
            env = project.env_vars(**MOTO_CREDENTIALS, **env, PATH=path, AWS_ENDPOINT_URL=endpoint)
            proc = subprocess.Popen(
                ["bash", "-c", step["run"]],
                cwd=project.root,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            running.append((f"{job_id} {entry['shard']}", proc))
        for name, proc in running:
            out, errors = proc.communicate(timeout=600)
            finished.append((name, subprocess.CompletedProcess(proc.args, proc.returncode, out, errors)))
    return finished


def _history(s3, stack: str) -> list[dict]:
    prefix = f".pulumi/history/ec2-compliance/{stack}/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="team-state", Prefix=prefix).get("Contents", [])]
    return [
        json.loads(s3.get_object(Bucket="team-state", Key=key)["Body"].read())
        for key in keys
        if key.endswith(".history.json")
    ]


def test_three_shards_deploy_each_target_once_wave_after_wave(project, moto_s3):
    endpoint, s3 = moto_s3
    s3.create_bucket(Bucket="team-state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    plan = _plan(project, endpoint)
    generated = project.ec2c("rollout", "--plan", str(plan), "--ci", "github", "--shards", str(SHARDS))
    assert generated.returncode == 0, generated.stderr
    workflow = yaml.safe_load(generated.stdout)
    assert [len(job["strategy"]["matrix"]["include"]) for job in workflow["jobs"].values()] == [SHARDS, SHARDS]

    runs = _run_workflow(project, workflow, endpoint)
    for name, run in runs:
        assert run.returncode == 0, f"{name}: {run.stderr[-2000:]}"
        assert "locked" not in run.stderr and "Traceback" not in run.stderr, f"{name}: {run.stderr[-2000:]}"
    stacks = {
        name: [f"fleet-{i}" for i in range(start, start + count)]
        for name, count, start in (("one", 6, 0), ("two", 12, 6))
    }
    history = {stack: _history(s3, stack) for wave in stacks.values() for stack in wave}
    assert {stack: [(h["kind"], h["result"]) for h in entries] for stack, entries in history.items()} == {
        stack: [("update", "succeeded")] for stack in history
    }
    wave_one_ended = max(history[s][0]["endTime"] for s in stacks["one"])
    wave_two_started = min(history[s][0]["startTime"] for s in stacks["two"])
    assert wave_one_ended <= wave_two_started

    again = _run_workflow(project, workflow, endpoint)
    assert all(run.returncode == 0 for _, run in again), [run.stderr[-1500:] for _, run in again]
    assert all(
        re.search(r"0 deployed, \d+ unchanged, 0 failed, 0 not started", " ".join(run.stderr.split()))
        for _, run in again
    )
    assert {stack: len(_history(s3, stack)) for stack in history} == dict.fromkeys(history, 1)
