"""`ec2c rollout --plan P --ci github --shards N`: the GitHub Actions workflow that rolls a plan out.

The CI system a team already runs is the rollout's distributed engine: its parallel jobs do the
work, the shared S3 backend and its stack locks keep them apart. So each wave becomes one job
whose matrix holds one entry per (shard, account) pair that has targets, and the next wave's job
`needs:` it: GitHub starts a wave only once every entry of the previous one succeeded, the
ordering `execute` gives a single machine. Within an entry the wave's `parallelism` still bounds
the targets deployed at once; GitHub bounds the entries. Shards are round-robin over a wave's
plan order (`Shard.holds`), so the same plan splits the same way on every run: re-running a
failed run's failed jobs meets the same targets again, and the rollout skips the unchanged ones.

Each entry assumes a role in its own account through GitHub's OIDC provider (no stored AWS keys),
so an entry holds one account's credentials and nothing else. Everything the plan's author wrote
(wave names, paths) reaches the job as data: quoted by the YAML dumper, escaped for GitHub's
`${{ }}` expressions, handed to the shell through `env:` and read as "$VAR", as GitHub's security
hardening guide asks; `run:` scripts are constant text.

Pure: the plan in, the workflow's text out; the CLI prints or writes it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

from ..deploy.rollouts.rollout import MAX_SHARDS, Plan, PlannedTarget, Shard, select
from ..errors import BadInput

DEFAULT_ROLE_NAME = "ec2-compliance-deployer"
PYTHON_VERSION = "3.12"
RUNNER = "ubuntu-latest"
MAX_MATRIX_ENTRIES = 256
"""GitHub runs at most this many jobs from one matrix."""

_ROLE_NAME = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_JOB_ID_INVALID = re.compile(r"[^a-z0-9_]+")
_GLOB_SPECIAL = re.compile(r"([*?+\[\]!\\])")
_PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"))

_ROLLOUT = 'ec2c rollout --plan "$EC2C_PLAN" --wave "$EC2C_WAVE" --shard "$EC2C_SHARD" --account "$EC2C_ACCOUNT"'
_CONFIG_DIR_ARG = ' --config-dir "$EC2C_CONFIG_DIR"'
_CHECK = """workflow="${{GITHUB_WORKFLOW_REF%%@*}}"
workflow="${{workflow#*/*/}}"
ec2c rollout --plan "$EC2C_PLAN"{config_dir} --ci github --shards "$EC2C_SHARDS" --ci-role "$EC2C_CI_ROLE" > "$RUNNER_TEMP/ec2c-workflow.yml"
if ! diff -u "$workflow" "$RUNNER_TEMP/ec2c-workflow.yml"; then
  echo "::error file=$workflow::this workflow no longer matches the plan; regenerate it with the command in its first line"
  exit 1
fi
"""


@dataclass(frozen=True)
class MatrixEntry:
    """One job of a wave: the targets of `account` in shard `shard`, with the role they need."""

    shard: str
    account: str
    region: str
    role: str

    def to_dict(self) -> dict[str, str]:
        return {"shard": self.shard, "account": self.account, "region": self.region, "role": self.role}


def partition(region: str) -> str:
    """The AWS partition a region belongs to: the first field of every ARN in it."""
    return next((name for prefix, name in _PARTITIONS if region.startswith(prefix)), "aws")


def literal(text: str) -> str:
    """`text` as GitHub shows it, wherever it evaluates `${{ }}` (names, env, groups): a user's
    `${{` becomes the expression `${{ '${{' }}`, whose value is those three characters."""
    return text.replace("${{", "${{ '${{' }}")


def github_workflow(
    plan: Plan,
    *,
    plan_path: str,
    shards: int,
    role_name: str = DEFAULT_ROLE_NAME,
    config_dir: str | None = None,
) -> str:
    """The workflow (YAML text, the same bytes for the same input) that rolls `plan` out wave by
    wave, each wave's targets split into `shards` shards and then by account.

    `plan_path` and `config_dir` are the paths as the workflow, run at the repository's root,
    passes them to `ec2c rollout`.

    Concurrency: one group per plan path for the whole workflow, never cancelled in progress, so
    two runs of one plan never deploy the same target at once: a newer run waits, replacing any
    run still waiting, so the latest plan is the one deployed next. There are no job-level
    groups: a group holds one running and one pending job and cancels any other pending one, so
    matrix entries sharing a group would be cancelled rather than queued; the entries of one run
    hold disjoint targets, and the backend's stack locks refuse any other writer.
    """
    _check_path("plan path", plan_path)
    if config_dir is not None:
        _check_path("--config-dir", config_dir)
    if not 1 <= shards <= MAX_SHARDS:
        raise BadInput(f"--shards: expected a number between 1 and {MAX_SHARDS}, got {shards}")
    if not _ROLE_NAME.match(role_name):
        raise BadInput(
            f"--ci-role: expected an IAM role name (letters, digits and +=,.@_-, an optional path), got {role_name!r}"
        )
    _check_wave_names(plan, plan_path)

    jobs: dict[str, Any] = {}
    previous: str | None = None
    for name, _, targets in plan.waves:
        _check_accounts(targets, plan_path, name)
        job_id = _job_id(name, jobs)
        entries = _entries(plan, name, shards, role_name)
        if len(entries) > MAX_MATRIX_ENTRIES:
            raise BadInput(
                f"{plan_path}: wave {name}: {len(entries)} (shard, account) jobs, more than the "
                f"{MAX_MATRIX_ENTRIES} GitHub runs from one matrix; split the wave or use fewer --shards"
            )
        jobs[job_id] = _job(name, entries, previous, plan_path, config_dir, shards, role_name)
        previous = job_id

    config_folder = config_dir if config_dir is not None else "config"
    workflow: dict[str, Any] = {
        "name": literal(f"ec2c rollout {plan_path}"),
        "on": {
            "workflow_dispatch": {},
            "push": {
                "branches": ["main"],
                "paths": [_glob_literal(plan_path), _glob_literal(config_folder.rstrip("/")) + "/**"],
            },
        },
        "permissions": {"id-token": "write", "contents": "read"},
        "concurrency": {"group": literal(f"ec2c-rollout {plan_path}"), "cancel-in-progress": False},
        "jobs": jobs,
    }
    body = yaml.dump(workflow, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)
    return _header(plan_path, shards, role_name, config_dir) + body


class _Dumper(yaml.SafeDumper):
    """Multi-line scripts as literal blocks (`run: |`), as people write workflows."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _check_path(label: str, path: str) -> None:
    if not path or _CONTROL.search(path):
        raise BadInput(f"{label}: expected a path relative to the repository root, got {path!r}")


def _check_wave_names(plan: Plan, plan_path: str) -> None:
    """`--wave NAME` picks a wave by its name: two waves of one name could not be told apart."""
    seen: set[str] = set()
    for name, _, _ in plan.waves:
        if name in seen:
            raise BadInput(
                f"{plan_path}: wave {name} appears twice; --ci github runs each wave by its name: "
                "give them distinct names"
            )
        seen.add(name)


def _check_accounts(targets: list[PlannedTarget], plan_path: str, wave: str) -> None:
    partitions: dict[str, str] = {}
    for target in targets:
        account = target.env.aws.account_id
        if account is None:
            raise BadInput(
                f"{plan_path}: wave {wave}: stack {target.stack_name}: --ci github assumes a role per "
                "target account: give its environment aws.account_id"
            )
        found = partition(target.env.aws.region)
        known = partitions.setdefault(account, found)
        if known != found:
            raise BadInput(
                f"{plan_path}: wave {wave}: stack {target.stack_name}: region {target.env.aws.region} is in "
                f"partition {found}, other targets of account {account} in {known}; an account lives in one partition"
            )


def _job_id(wave: str, taken: dict[str, Any]) -> str:
    """A job id GitHub accepts (a letter or `_` first, then letters, digits, `-` and `_`),
    unique among `taken`, readable as the wave's name."""
    slug = _JOB_ID_INVALID.sub("-", wave.lower()).strip("-")
    if not slug or not (slug[0].isalpha() or slug[0] == "_"):
        slug = f"wave-{slug}".rstrip("-")
    candidate, n = slug, 1
    while candidate in taken:
        n += 1
        candidate = f"{slug}-{n}"
    return candidate


def _entries(plan: Plan, wave: str, shards: int, role_name: str) -> list[MatrixEntry]:
    """One entry per (shard, account) pair with targets, shard by shard, accounts in plan order:
    exactly what `ec2c rollout --wave --shard --account` selects on the runner."""
    accounts = list(dict.fromkeys(t.env.aws.account_id or "" for _, _, ts in select(plan, wave=wave).waves for t in ts))
    entries = []
    for index in range(1, shards + 1):
        shard = Shard(index, shards)
        for account in accounts:
            chosen = select(plan, wave=wave, shard=shard, account=account).waves
            if not chosen:
                continue
            region = chosen[0][2][0].env.aws.region
            role = f"arn:{partition(region)}:iam::{account}:role/{role_name}"
            entries.append(MatrixEntry(shard=str(shard), account=account, region=region, role=role))
    return entries


def _job(
    wave: str,
    entries: list[MatrixEntry],
    needs: str | None,
    plan_path: str,
    config_dir: str | None,
    shards: int,
    role_name: str,
) -> dict[str, Any]:
    """One wave's job. Before it deploys, each entry regenerates the workflow from the plan at the
    commit it runs and compares it with itself: a plan edited without regenerating the workflow
    (a target in no matrix entry would never be deployed) fails the run instead of skipping it."""
    env = {"EC2C_PLAN": literal(plan_path), "EC2C_WAVE": literal(wave)}
    if config_dir is not None:
        env["EC2C_CONFIG_DIR"] = literal(config_dir)
    job: dict[str, Any] = {"name": literal(wave) + " (shard ${{ matrix.shard }}, account ${{ matrix.account }})"}
    if needs is not None:
        job["needs"] = needs
    job.update(
        {
            "runs-on": RUNNER,
            "strategy": {"fail-fast": False, "matrix": {"include": [e.to_dict() for e in entries]}},
            "env": env,
            "steps": [
                {"uses": "actions/checkout@v4", "with": {"persist-credentials": False}},
                {"uses": "actions/setup-python@v5", "with": {"python-version": PYTHON_VERSION}},
                {"name": "Install ec2c", "run": "pip install ."},
                {
                    "name": "Check that this workflow is the plan's",
                    "env": {"EC2C_SHARDS": str(shards), "EC2C_CI_ROLE": literal(role_name)},
                    "run": _CHECK.format(config_dir=_CONFIG_DIR_ARG if config_dir is not None else ""),
                },
                {"name": "Install the pulumi engine", "run": "ec2c engine install"},
                {
                    "name": "Assume the deployment role of the account",
                    "uses": "aws-actions/configure-aws-credentials@v4",
                    "with": {
                        "role-to-assume": "${{ matrix.role }}",
                        "aws-region": "${{ matrix.region }}",
                        "role-session-name": "ec2c-rollout-${{ github.run_id }}-${{ github.run_attempt }}",
                    },
                },
                {
                    "name": "Roll out the shard's targets in the account",
                    "env": {
                        "EC2C_SHARD": "${{ matrix.shard }}",
                        "EC2C_ACCOUNT": "${{ matrix.account }}",
                        "PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
                    },
                    "run": _ROLLOUT + (_CONFIG_DIR_ARG if config_dir is not None else ""),
                },
            ],
        }
    )
    return job


def _glob_literal(path: str) -> str:
    """`path` as a paths filter that matches it: GitHub's glob characters escaped. A `${{` is
    matched as `$?{`: GitHub does not evaluate filters, but a linter reads `${{` as an expression,
    and a filter a little wider than the path only starts a run more often."""
    return _GLOB_SPECIAL.sub(r"\\\1", path).replace("${{", "$?{")


def _header(plan_path: str, shards: int, role_name: str, config_dir: str | None) -> str:
    command = f"ec2c rollout --plan {shlex.quote(plan_path)}"
    if config_dir is not None:
        command += f" --config-dir {shlex.quote(config_dir)}"
    command += f" --ci github --shards {shards}"
    if role_name != DEFAULT_ROLE_NAME:
        command += f" --ci-role {shlex.quote(role_name)}"
    return (
        f"# Generated by `{command}`.\n"
        "# Regenerate it whenever the plan's waves or targets change: its matrices list the plan's\n"
        "# (shard, account) pairs, and a target outside them is not deployed.\n"
        f"# Each job assumes the role {role_name} in its account through GitHub's OIDC provider.\n"
        "# Re-running a failed run's failed jobs deploys only what failed or did not start: the\n"
        "# shards split the plan the same way every time, and the rollout skips unchanged targets.\n"
    )
