"""One Automation API workspace per stack: backend, secrets, work dir and stack config.

Each stack gets its own work dir because the workspace writes project/stack settings files
there, and those files are not safe to share between stacks updated concurrently.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from ...console import err
from ...engine.pulumi_cli import Engine
from ...engine.supervisor import SUPERVISOR
from ...errors import BadInput, OperationFailed
from ..inputs.environments import Environment
from .locks import read_locks, store_for

LOCAL_PASSPHRASE = "ec2c-local-embedded-backend"
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
_warned_default_passphrase = False


class StackMissing(OperationFailed):
    """The stack does not exist in its backend: an error for a command that needs it, but exactly
    what a teardown wants (see `ephemeral`), so it is told apart from every other failure."""


@dataclass(frozen=True)
class StackTarget:
    """An environment bound to a concrete stack name (long-lived `<env>` or ephemeral `<env>-<id>`)."""

    env: Environment
    stack_name: str
    root: Path

    @property
    def work_dir(self) -> Path:
        return self.root / ".ec2c" / "work" / self.env.project / self.stack_name

    @property
    def backend_url(self) -> str:
        return resolve_backend(self.env.backend, self.root)


def resolve_backend(url: str, root: Path, *, create: bool = True) -> str:
    """Make a relative `file://` backend absolute under the project folder, the config folder's
    parent (and create it, unless only showing where it is)."""
    if not url.startswith("file://"):
        return url
    path = Path(url.removeprefix("file://")).expanduser()
    if not path.is_absolute():
        path = root / path
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return f"file://{path}"


def secrets_env(env: Environment) -> dict[str, str]:
    """The passphrase variables for the engine; only the embedded backend may use a default."""
    global _warned_default_passphrase
    given = {name: os.environ[name] for name in PASSPHRASE_VARS if os.environ.get(name)}
    if given:
        return given
    if env.is_local_backend:
        if not _warned_default_passphrase:
            err.print(
                "[yellow]note:[/yellow] PULUMI_CONFIG_PASSPHRASE is not set; the embedded file backend "
                "uses a built-in local passphrase. Set your own before storing real secrets."
            )
            _warned_default_passphrase = True
        return {"PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE}
    raise BadInput(
        f"{env.source}: backend {env.backend} needs PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) "
        "to encrypt stack secrets"
    )


def workspace_options(target: StackTarget, engine: Engine) -> auto.LocalWorkspaceOptions:
    target.work_dir.mkdir(parents=True, exist_ok=True)
    env_vars = {
        **secrets_env(target.env),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
    }
    if target.env.aws.profile:
        env_vars["AWS_PROFILE"] = target.env.aws.profile
    return auto.LocalWorkspaceOptions(
        work_dir=str(target.work_dir),
        pulumi_command=engine.command(),
        project_settings=auto.ProjectSettings(
            name=target.env.project,
            runtime="python",
            backend=auto.ProjectBackend(url=target.backend_url),
        ),
        secrets_provider="passphrase",
        env_vars=env_vars,
    )


def stack_config(env: Environment) -> dict[str, Any]:
    """Provider configuration: region, profile, the pinned account and the role to assume.

    Nested values (lists, objects) are what `config set --path` would have produced.
    """
    config: dict[str, Any] = {"aws:region": env.aws.region}
    if env.aws.profile:
        config["aws:profile"] = env.aws.profile
    if env.aws.account_id:
        config["aws:allowedAccountIds"] = [env.aws.account_id]
    if env.aws.role_arn:
        config["aws:assumeRoles"] = [{"roleArn": env.aws.role_arn, "sessionName": f"ec2c-{env.name}"}]
    return config


def qualified_name(target: StackTarget) -> str:
    """The engine's fully qualified name for a DIY backend stack, as its errors and locks use it."""
    return f"organization/{target.env.project}/{target.stack_name}"


def settings_file(target: StackTarget) -> Path:
    return target.work_dir / f"Pulumi.{target.stack_name}.yaml"


def open_stack(
    target: StackTarget,
    engine: Engine,
    program: Callable[[], None],
    *,
    create: bool = True,
    tags: dict[str, str] | None = None,
) -> auto.Stack:
    """Select the stack (creating it when `create` is true, tagged with `tags`) and apply its config.

    The work dir's stack settings are derived afresh on every open: config from the environment
    file, and no cached `encryptionsalt`. A run with a wrong passphrase used to write a salt
    derived from that passphrase there, breaking every later run until the folder was deleted;
    the stack's state carries its own salt, and ec2c keeps no secret config.
    """
    opts = workspace_options(target, engine)
    settings_file(target).unlink(missing_ok=True)
    try:
        stack, created = _select_or_create(target, program, opts, create)
    except auto.StackNotFoundError:
        raise StackMissing(
            f"stack {qualified_name(target)} does not exist in {target.backend_url}; "
            f"run `ec2c up --env {target.env.name}` first"
        ) from None
    except auto.CommandError as exc:
        SUPERVISOR.check(f"opening stack {qualified_name(target)}")
        raise OperationFailed(
            f"cannot open stack {qualified_name(target)} in {target.backend_url}: {first_error(exc)}"
        ) from None
    _write_settings(stack.workspace, target)
    if created:
        _tag(stack.workspace, target, tags or {})
    return stack


def _tag(workspace: auto.Workspace, target: StackTarget, tags: dict[str, str]) -> None:
    """One `stack tag set` per tag; a signal stops the tagging as it stops any other engine work.

    Each call is an engine child that the supervisor cancels on a signal; its CommandError then
    means "interrupted", not "the engine refused", and no further tag is started.
    """
    what = f"tagging stack {qualified_name(target)}"
    for key, value in tags.items():
        SUPERVISOR.check(what)
        try:
            workspace.set_tag(target.stack_name, key, value)
        except auto.CommandError as exc:
            SUPERVISOR.check(what)
            raise OperationFailed(f"cannot tag stack {qualified_name(target)} with {key}: {first_error(exc)}") from None


def _write_settings(workspace: auto.Workspace, target: StackTarget) -> None:
    """The stack's config, written as a file rather than through one engine call per key.

    A salt the engine wrote while creating the stack in this very call is kept.
    """
    path = settings_file(target)
    salt = None
    if path.exists():
        salt = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("encryptionsalt")
    workspace.save_stack_settings(
        target.stack_name, auto.StackSettings(encryption_salt=salt, config=stack_config(target.env))
    )


def _select_or_create(
    target: StackTarget, program: Callable[[], None], opts: auto.LocalWorkspaceOptions, create: bool
) -> tuple[auto.Stack, bool]:
    """Select, else create; two first runs racing to create get the stack the other one made."""

    def select() -> auto.Stack:
        return auto.select_stack(
            stack_name=target.stack_name, project_name=target.env.project, program=program, opts=opts
        )

    try:
        return select(), False
    except auto.StackNotFoundError:
        if not create:
            raise
    try:
        return auto.create_stack(
            stack_name=target.stack_name, project_name=target.env.project, program=program, opts=opts
        ), True
    except auto.StackAlreadyExistsError:
        return select(), False
    except auto.ConcurrentUpdateError:
        return _made_by_the_lock_holder(target, select)


def _made_by_the_lock_holder(target: StackTarget, select: Callable[[], auto.Stack]) -> tuple[auto.Stack, bool]:
    """`stack init` refused because another process holds the stack's lock.

    The engine locks a stack while it creates it, and the first of two racing runs may already be
    updating it: the stack it made is selected (its update then reports the lock with its holder),
    and a lock on a stack that does not exist yet is reported as the lock it is.
    """
    try:
        return select(), False
    except auto.StackNotFoundError:
        raise OperationFailed(lock_message(target)) from None


def lock_message(target: StackTarget) -> str:
    """Who holds the lock, and the command that releases it once that update is known dead."""
    locks = read_locks(store_for(target.backend_url), target.env.project, target.stack_name)
    holder = "; ".join(lock.describe() for lock in locks) or "holder unknown"
    return (
        f"stack {qualified_name(target)} in {target.backend_url} is locked by another update ({holder}); "
        f"wait for it, or if it crashed run `ec2c cancel --env {target.env.name} --stack {target.stack_name}`"
    )


def first_error(exc: auto.CommandError) -> str:
    """The engine's own error line(s), without the CLI's usage noise, for a one-line message."""
    text = str(exc)
    if "stderr:" in text:
        text = text.split("stderr:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line.removeprefix("error:").strip() for line in lines if line.lower().startswith("error")]
    return " ".join(errors or lines[-3:]) or exc.__class__.__name__
