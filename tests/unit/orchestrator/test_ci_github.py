"""The GitHub Actions workflow of `ec2c rollout --ci github`: waves as jobs chained by `needs`,
(shard, account) matrices that cover every target once, OIDC roles per account, user text kept
out of expressions and scripts, and the real `actionlint` accepting it.

`make test` installs actionlint under .tools/actionlint (`make actionlint`); `$ACTIONLINT` may
name another binary.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ec2c.orchestrator.deploy.inputs.environments import ConfigDir
from ec2c.orchestrator.deploy.rollouts.rollout import Plan, load_plan, parse_shard, select
from ec2c.orchestrator.errors import BadInput
from ec2c.orchestrator.fleet import ci_github
from ec2c.orchestrator.fleet.ci_github import DEFAULT_ROLE_NAME, github_workflow

REPO = Path(__file__).resolve().parents[3]
ACTIONLINT = Path(os.environ.get("ACTIONLINT") or REPO / ".tools" / "actionlint" / "actionlint")
PLAN_PATH = "config/rollouts/fleet.yaml"
HOSTILE_WAVE = "a'; rm -rf / #"
INJECTED_WAVE = "${{ github.token }}"
HOSTILE_PATH = "plans/${{ github.token }}/it's [x]*.yaml"
HOSTILE_CONFIG = 'cfg $(id) "q"'
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")
TRUSTED_EXPRESSIONS = {
    "matrix.shard",
    "matrix.account",
    "matrix.region",
    "matrix.role",
    "github.run_id",
    "github.run_attempt",
    "secrets.PULUMI_CONFIG_PASSPHRASE",
    "'${{'",
}

A, B, C, CN, GOV = "111111111111", "222222222222", "333333333333", "444444444444", "555555555555"


@pytest.fixture
def config(tmp_path: Path) -> ConfigDir:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "app.yaml").write_text(f"aws: {{region: eu-west-1, account_id: '{A}'}}\n")
    (folder / "loose.yaml").write_text("aws: {region: eu-west-1}\n")
    return ConfigDir(folder)


def _target(stack: str, account: str, region: str = "eu-west-1", env: str = "app") -> dict[str, Any]:
    return {"env": env, "stack": stack, "aws": {"account_id": account, "region": region}}


def _load(tmp_path: Path, config: ConfigDir, waves: list[dict[str, Any]]) -> Plan:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"waves": waves}))
    return load_plan(path, config)


def _fleet(tmp_path: Path, config: ConfigDir) -> Plan:
    """Three waves, five accounts (one in China, one in GovCloud), accounts spread over shards."""
    return _load(
        tmp_path,
        config,
        [
            {"name": "canary", "targets": [_target("canary", A)]},
            {
                "name": "Production EU",
                "parallelism": 4,
                "targets": [
                    _target("eu1", A),
                    _target("eu2", B),
                    _target("eu3", A, "eu-central-1"),
                    _target("eu4", C),
                    _target("eu5", B, "eu-north-1"),
                    _target("eu6", A),
                    _target("eu7", C),
                ],
            },
            {
                "name": "rest",
                "targets": [
                    _target("cn1", CN, "cn-north-1"),
                    _target("gov1", GOV, "us-gov-west-1"),
                    _target("us1", B, "us-east-1"),
                    _target("cn2", CN, "cn-northwest-1"),
                ],
            },
        ],
    )


def _workflow(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def _evaluated(value: str) -> str:
    """What GitHub makes of an escaped user value: the expression `${{ '${{' }}` is `${{`."""
    return value.replace("${{ '${{' }}", "${{")


def test_one_job_per_wave_in_plan_order_each_needing_the_previous(tmp_path, config):
    workflow = _workflow(github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=3))
    jobs = workflow["jobs"]
    assert list(jobs) == ["canary", "production-eu", "rest"]
    assert "needs" not in jobs["canary"]
    assert jobs["production-eu"]["needs"] == "canary"
    assert jobs["rest"]["needs"] == "production-eu"
    for job in jobs.values():
        assert job["strategy"]["fail-fast"] is False
        assert "max-parallel" not in job["strategy"]
        assert "concurrency" not in job


def test_every_target_is_in_exactly_one_entry_of_its_wave(tmp_path, config):
    plan = _fleet(tmp_path, config)
    jobs = _workflow(github_workflow(plan, plan_path=PLAN_PATH, shards=3))["jobs"]
    for (name, _, targets), job in zip(plan.waves, jobs.values(), strict=True):
        assert job["env"]["EC2C_WAVE"] == name
        entries = job["strategy"]["matrix"]["include"]
        pairs = [(e["shard"], e["account"]) for e in entries]
        assert len(pairs) == len(set(pairs))
        covered: list[str] = []
        for entry in entries:
            chosen = select(plan, wave=name, shard=parse_shard(entry["shard"]), account=entry["account"]).waves
            stacks = [t.stack_name for _, _, ts in chosen for t in ts]
            assert stacks, entry
            assert entry["region"] in {t.env.aws.region for _, _, ts in chosen for t in ts}
            covered += stacks
        assert sorted(covered) == sorted(t.stack_name for t in targets)


def test_matrix_entries_of_the_sharded_wave(tmp_path, config):
    jobs = _workflow(github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=3))["jobs"]
    entries = [(e["shard"], e["account"], e["region"]) for e in jobs["production-eu"]["strategy"]["matrix"]["include"]]
    # round-robin: shard 1 holds eu1, eu4, eu7; shard 2 eu2, eu5; shard 3 eu3, eu6
    assert entries == [
        ("1/3", A, "eu-west-1"),
        ("1/3", C, "eu-west-1"),
        ("2/3", B, "eu-west-1"),
        ("3/3", A, "eu-central-1"),
    ]
    assert [e["shard"] for e in jobs["canary"]["strategy"]["matrix"]["include"]] == ["1/3"]


def test_oidc_permissions_and_a_role_per_account_in_its_partition(tmp_path, config):
    workflow = _workflow(github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=3))
    assert workflow["permissions"] == {"id-token": "write", "contents": "read"}
    roles = {
        (e["account"], e["region"]): e["role"]
        for job in workflow["jobs"].values()
        for e in job["strategy"]["matrix"]["include"]
    }
    assert roles[(CN, "cn-north-1")] == f"arn:aws-cn:iam::{CN}:role/{DEFAULT_ROLE_NAME}"
    assert roles[(GOV, "us-gov-west-1")] == f"arn:aws-us-gov:iam::{GOV}:role/{DEFAULT_ROLE_NAME}"
    assert roles[(B, "us-east-1")] == f"arn:aws:iam::{B}:role/{DEFAULT_ROLE_NAME}"
    for job in workflow["jobs"].values():
        credentials = next(s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/"))
        assert credentials["uses"] == "aws-actions/configure-aws-credentials@v4"
        assert credentials["with"]["role-to-assume"] == "${{ matrix.role }}"
        assert credentials["with"]["aws-region"] == "${{ matrix.region }}"
        assert credentials["with"]["role-session-name"].startswith("ec2c-rollout-")


def test_a_custom_role_name_is_used_for_every_account(tmp_path, config):
    text = github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=2, role_name="ci/deployer")
    roles = {e["role"] for job in _workflow(text)["jobs"].values() for e in job["strategy"]["matrix"]["include"]}
    assert f"arn:aws:iam::{A}:role/ci/deployer" in roles
    assert all(role.endswith(":role/ci/deployer") for role in roles)
    assert "--ci github --shards 2 --ci-role ci/deployer`" in text.splitlines()[0]
    assert "role ci/deployer " in text


def test_triggers_concurrency_and_header(tmp_path, config):
    text = github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=3)
    workflow = _workflow(text)
    assert workflow["on"] == {
        "workflow_dispatch": {},
        "push": {"branches": ["main"], "paths": [PLAN_PATH, "config/**"]},
    }
    assert workflow["concurrency"] == {"group": f"ec2c-rollout {PLAN_PATH}", "cancel-in-progress": False}
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert f"`ec2c rollout --plan {PLAN_PATH} --ci github --shards 3`" in header[0]
    assert "deploys only what failed or did not start" in " ".join(header)
    assert "skips unchanged targets" in " ".join(header)


def test_steps_install_then_roll_out_the_entry(tmp_path, config):
    job = _workflow(github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=3))["jobs"]["rest"]
    steps = job["steps"]
    assert [s.get("uses") or s["run"] for s in steps] == [
        "actions/checkout@v4",
        "actions/setup-python@v5",
        "pip install .",
        steps[3]["run"],
        "ec2c engine install",
        "aws-actions/configure-aws-credentials@v4",
        steps[-1]["run"],
    ]
    assert steps[3]["env"] == {"EC2C_SHARDS": "3", "EC2C_CI_ROLE": DEFAULT_ROLE_NAME}
    assert steps[1]["with"] == {"python-version": "3.12"}
    assert job["env"] == {"EC2C_PLAN": PLAN_PATH, "EC2C_WAVE": "rest"}
    assert steps[-1]["env"] == {
        "EC2C_SHARD": "${{ matrix.shard }}",
        "EC2C_ACCOUNT": "${{ matrix.account }}",
        "PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
    }
    assert _shell_args(steps[-1]["run"], {**job["env"], "EC2C_SHARD": "2/3", "EC2C_ACCOUNT": GOV}) == [
        "rollout",
        "--plan",
        PLAN_PATH,
        "--wave",
        "rest",
        "--shard",
        "2/3",
        "--account",
        GOV,
    ]


def test_the_config_dir_is_passed_and_watched(tmp_path, config):
    text = github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=1, config_dir="infra/ec2c/")
    workflow = _workflow(text)
    assert workflow["on"]["push"]["paths"] == [PLAN_PATH, "infra/ec2c/**"]
    job = workflow["jobs"]["canary"]
    assert job["env"]["EC2C_CONFIG_DIR"] == "infra/ec2c/"
    assert _shell_args(job["steps"][-1]["run"], {**job["env"], "EC2C_SHARD": "1/1", "EC2C_ACCOUNT": A})[-2:] == [
        "--config-dir",
        "infra/ec2c/",
    ]
    assert "--config-dir infra/ec2c/ --ci github --shards 1" in text.splitlines()[0]


def _shell_args(script: str, env: dict[str, str]) -> list[str]:
    """The arguments `ec2c` receives when bash runs `script` with `env`, as the runner would."""
    result = subprocess.run(
        ["bash", "-c", 'ec2c() { printf "%s\\0" "$@"; }\n' + script],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        timeout=30,
        check=True,
    )
    return result.stdout.decode().split("\0")[:-1]


def _hostile(tmp_path: Path, config: ConfigDir) -> Plan:
    return _load(
        tmp_path,
        config,
        [
            {"name": HOSTILE_WAVE, "targets": [_target("h1", A), _target("h2", B)]},
            {"name": INJECTED_WAVE, "targets": [_target("i1", A)]},
            {"name": "1st", "targets": [_target("f1", A)]},
            {"name": "A-'; RM -RF / #", "targets": [_target("d1", A)]},
        ],
    )


def test_user_text_is_data_never_an_expression_or_a_script(tmp_path, config):
    text = github_workflow(_hostile(tmp_path, config), plan_path=HOSTILE_PATH, shards=2, config_dir=HOSTILE_CONFIG)
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))  # comments are not evaluated
    assert {match.strip() for match in EXPRESSION.findall(body)} <= TRUSTED_EXPRESSIONS
    workflow = _workflow(text)
    jobs = workflow["jobs"]
    assert list(jobs) == ["a-rm-rf", "github-token", "wave-1st", "a-rm-rf-2"]
    assert [job.get("needs") for job in jobs.values()] == [None, "a-rm-rf", "github-token", "wave-1st"]
    assert _evaluated(workflow["concurrency"]["group"]) == f"ec2c-rollout {HOSTILE_PATH}"
    assert workflow["on"]["push"]["paths"] == [r"plans/$?{ github.token }}/it's \[x\]\*.yaml", 'cfg $(id) "q"/**']
    for wave, job in zip([HOSTILE_WAVE, INJECTED_WAVE, "1st", "A-'; RM -RF / #"], jobs.values(), strict=True):
        assert _evaluated(job["name"]).startswith(f"{wave} (shard ")
        env = {key: _evaluated(value) for key, value in job["env"].items()}
        assert env == {"EC2C_PLAN": HOSTILE_PATH, "EC2C_WAVE": wave, "EC2C_CONFIG_DIR": HOSTILE_CONFIG}
        script = job["steps"][-1]["run"]
        assert wave not in script and "${{" not in script
        assert _shell_args(script, {**env, "EC2C_SHARD": "1/2", "EC2C_ACCOUNT": A}) == [
            "rollout",
            "--plan",
            HOSTILE_PATH,
            "--wave",
            wave,
            "--shard",
            "1/2",
            "--account",
            A,
            "--config-dir",
            HOSTILE_CONFIG,
        ]
    assert "--plan 'plans/${{ github.token }}/it'\"'\"'s [x]*.yaml'" in text.splitlines()[0]


def test_the_same_plan_gives_the_same_bytes(tmp_path, config):
    first = github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=3)
    assert github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=3) == first
    assert github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=2) != first


def test_a_target_without_an_account_is_bad_input(tmp_path, config):
    plan = _load(
        tmp_path,
        config,
        [
            {"name": "canary", "targets": [_target("c1", A)]},
            {"name": "main", "targets": [{"env": "loose", "stack": "orphan"}]},
        ],
    )
    with pytest.raises(BadInput) as info:
        github_workflow(plan, plan_path=PLAN_PATH, shards=2)
    assert info.value.message == (
        f"{PLAN_PATH}: wave main: stack orphan: --ci github assumes a role per target account: "
        "give its environment aws.account_id"
    )


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"shards": 0}, "--shards: expected a number between 1 and 256, got 0"),
        ({"shards": 257}, "--shards: expected a number between 1 and 256, got 257"),
        ({"role_name": "bad role"}, "--ci-role: expected an IAM role name"),
        ({"role_name": ""}, "--ci-role: expected an IAM role name"),
        ({"plan_path": "plan\n.yaml"}, "plan path: expected a path relative to the repository root"),
        ({"plan_path": ""}, "plan path: expected a path relative to the repository root"),
        ({"config_dir": "cfg\r"}, "--config-dir: expected a path relative to the repository root"),
    ],
)
def test_bad_options_are_bad_input(tmp_path, config, kwargs, fragment):
    options: dict[str, Any] = {"plan_path": PLAN_PATH, "shards": 3, **kwargs}
    with pytest.raises(BadInput) as info:
        github_workflow(_fleet(tmp_path, config), **options)
    assert fragment in info.value.message


def test_two_waves_of_one_name_are_bad_input(tmp_path, config):
    plan = _load(
        tmp_path, config, [{"name": "w", "targets": [_target("x1", A)]}, {"name": "w", "targets": [_target("x2", B)]}]
    )
    with pytest.raises(BadInput, match="wave w appears twice"):
        github_workflow(plan, plan_path=PLAN_PATH, shards=1)


def test_one_account_in_two_partitions_is_bad_input(tmp_path, config):
    plan = _load(tmp_path, config, [{"name": "w", "targets": [_target("x1", A), _target("x2", A, "cn-north-1")]}])
    with pytest.raises(BadInput) as info:
        github_workflow(plan, plan_path=PLAN_PATH, shards=1)
    assert f"stack x2: region cn-north-1 is in partition aws-cn, other targets of account {A} in aws" in (
        info.value.message
    )


def test_a_wave_beyond_githubs_matrix_limit_is_bad_input(tmp_path, config, monkeypatch):
    monkeypatch.setattr(ci_github, "MAX_MATRIX_ENTRIES", 3)
    plan = _fleet(tmp_path, config)
    with pytest.raises(BadInput) as info:
        github_workflow(plan, plan_path=PLAN_PATH, shards=3)
    assert f"{PLAN_PATH}: wave Production EU: 4 (shard, account) jobs, more than the 3" in info.value.message
    assert github_workflow(plan, plan_path=PLAN_PATH, shards=1)


@pytest.fixture(scope="module")
def actionlint() -> Path:
    """The actionlint binary; missing, a failure in CI (a skip must not pass it) and a skip here."""
    if not ACTIONLINT.is_file() or not os.access(ACTIONLINT, os.X_OK):
        message = f"actionlint not installed at {ACTIONLINT}: run `make actionlint` (needs Go) or set $ACTIONLINT"
        if os.environ.get("CI"):
            pytest.fail(f"CI must check the generated workflow: {message}")
        pytest.skip(message)
    return ACTIONLINT


def _lint(actionlint: Path, text: str, root: Path) -> subprocess.CompletedProcess[str]:
    path = root / ".github" / "workflows" / "rollout.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return subprocess.run(
        [str(actionlint), "-no-color", str(path.relative_to(root))],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_actionlint_accepts_the_workflow(actionlint, tmp_path, config):
    text = github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=3, config_dir="config")
    result = _lint(actionlint, text, tmp_path / "repo")
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_accepts_the_workflow_of_hostile_names(actionlint, tmp_path, config):
    text = github_workflow(_hostile(tmp_path, config), plan_path=HOSTILE_PATH, shards=2, config_dir=HOSTILE_CONFIG)
    result = _lint(actionlint, text, tmp_path / "repo")
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_refuses_a_job_needing_an_unknown_job(actionlint, tmp_path, config):
    """So the checks above can fail: `needs` naming no job is an error."""
    workflow = _workflow(github_workflow(_fleet(tmp_path, config), plan_path=PLAN_PATH, shards=3))
    workflow["jobs"]["rest"]["needs"] = "no-such-wave"
    result = _lint(actionlint, yaml.safe_dump(workflow, sort_keys=False), tmp_path / "repo")
    assert result.returncode == 1
    assert "no-such-wave" in result.stdout


def _repository(tmp_path: Path, workflow: str) -> Path:
    """A checkout as the runner has it: the plan, its config folder and the committed workflow."""
    root = tmp_path / "repo"
    (root / "config" / "rollouts").mkdir(parents=True)
    (root / "config" / "app.yaml").write_text(f"aws: {{region: eu-west-1, account_id: '{A}'}}\n")
    plan = {
        "waves": [{"name": "canary", "targets": [_target("c1", A)]}, {"name": "rest", "targets": [_target("r1", B)]}]
    }
    (root / PLAN_PATH).write_text(yaml.safe_dump(plan))
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "rollout.yml").write_text(workflow)
    return root


def _check_step(root: Path, workflow: str) -> subprocess.CompletedProcess[str]:
    """The workflow's own check, run by bash in the checkout with the runner's variables and the
    real `ec2c` (this interpreter's) regenerating the workflow from the plan."""
    job = next(iter(_workflow(workflow)["jobs"].values()))
    step = next(s for s in job["steps"] if s.get("name") == "Check that this workflow is the plan's")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "GITHUB_WORKFLOW_REF": "acme/infra/.github/workflows/rollout.yml@refs/heads/main",
        "RUNNER_TEMP": str(root.parent),
        **job["env"],
        **step["env"],
    }
    script = f'ec2c() {{ "{sys.executable}" -m ec2c.orchestrator "$@"; }}\n' + step["run"]
    return subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_each_job_checks_that_the_workflow_is_still_the_plans(tmp_path):
    generated = subprocess.run(
        [sys.executable, "-m", "ec2c.orchestrator", "rollout", "--plan", PLAN_PATH, "--ci", "github", "--shards", "2"],
        cwd=_repository(tmp_path / "first", ""),
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stderr
    current = _repository(tmp_path, generated.stdout)
    assert _check_step(current, generated.stdout).returncode == 0

    plan = yaml.safe_load((current / PLAN_PATH).read_text())
    plan["waves"][1]["targets"].append(_target("r2", C))
    (current / PLAN_PATH).write_text(yaml.safe_dump(plan))
    stale = _check_step(current, generated.stdout)
    assert stale.returncode == 1
    assert "::error file=.github/workflows/rollout.yml::this workflow no longer matches the plan" in stale.stdout
    assert "'333333333333'" in stale.stdout
