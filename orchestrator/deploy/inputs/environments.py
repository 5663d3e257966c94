"""Environment files: `config/defaults.yaml` merged under `config/<env>.yaml`, validated.

Validation happens at load so that a typo in a region or a schedule fails in a second with the
file and field named, instead of minutes later inside a deployment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from ec2c.scanner.assessment.policy import PolicyError, load_policy
from ec2c.scanner.registry import Severity
from ec2c.stacks import bounds
from ec2c.stacks.bounds import EMAIL_PATTERN, LOG_RETENTION_DAYS, REGION_PATTERN, Bound, Setting
from ec2c.stacks.schedule import schedule_problem

from ...errors import BadInput
from ...yamlfiles import read_yaml_mapping

DEFAULTS_FILE = "defaults.yaml"
ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,16}$")
STACK_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
RESERVED_FILES = {DEFAULTS_FILE}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _bounded(bound: Bound, **extra: Any) -> Any:
    """A pydantic field with the stack's bound and default (`ec2c.stacks.bounds`; None for a bound
    without one): the file is refused at load for exactly what `ComplianceAnalyzerArgs` would
    refuse at deploy."""
    default = bound.default if isinstance(bound, Setting) else None
    return Field(default, ge=bound.low, le=bound.high, **extra)


class AwsTarget(_Model):
    """Where an environment lives: its deployment region, account and the role to assume."""

    region: str
    account_id: str | None = None
    role_arn: str | None = None
    profile: str | None = None
    scan_regions: tuple[str, ...] = ()

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not REGION_PATTERN.fullmatch(value):
            raise ValueError(f"expected an AWS region such as eu-west-1, got {value!r}")
        return value

    @field_validator("scan_regions")
    @classmethod
    def _scan_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for region in value:
            cls._region(region)
        return value

    @field_validator("account_id", mode="before")
    @classmethod
    def _account(cls, value: Any) -> str | None:
        """An unquoted id reaches us as an int: accepted when it has 12 digits. One with a leading
        zero cannot be recovered (YAML dropped it, or read it as octal), hence the hint."""
        if isinstance(value, int) and not isinstance(value, bool) and len(str(value)) == 12:
            value = str(value)
        if value is not None and not (isinstance(value, str) and ACCOUNT_RE.match(value)):
            raise ValueError(f"expected a 12-digit account id (quote it in YAML), got {value!r}")
        return value

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not ROLE_RE.match(value):
            raise ValueError(f"expected an IAM role ARN arn:aws:iam::<account>:role/<name>, got {value!r}")
        return value


def _check_emails(value: tuple[str, ...]) -> tuple[str, ...]:
    for email in value:
        if not EMAIL_PATTERN.fullmatch(email):
            raise ValueError(f"expected e-mail addresses, got {email!r}")
    return value


class LambdaSettings(_Model):
    memory_mb: int = _bounded(bounds.LAMBDA_MEMORY_MB)
    timeout_s: int = _bounded(bounds.LAMBDA_TIMEOUT_S)
    ephemeral_storage_mb: int = _bounded(bounds.LAMBDA_EPHEMERAL_STORAGE_MB)
    """`/tmp`, where each region's compressed shards are spooled before upload (about 1 KB per
    instance: 512 MB holds far more than one invocation can scan)."""
    region_concurrency: int = _bounded(bounds.REGION_CONCURRENCY)
    """Regions the state machine's Map scans at once (1-40)."""
    reserved_concurrency: int | None = _bounded(bounds.RESERVED_CONCURRENCY, validate_default=True)
    """Executions reserved for (and the cap of) the function; unset, `region_concurrency`."""
    tracing: bool = True
    async_retries: int = _bounded(bounds.ASYNC_RETRIES)

    @field_validator("reserved_concurrency")
    @classmethod
    def _reserved(cls, value: int | None, info: ValidationInfo) -> int | None:
        """At least `region_concurrency`: one run invokes the function that many times at once."""
        concurrency = info.data.get("region_concurrency")
        if concurrency is None:  # region_concurrency itself is invalid: that error is reported
            return value
        if value is None:
            return concurrency
        if value < concurrency:
            raise ValueError(
                f"expected at least lambda.region_concurrency ({concurrency}, the regions scanned "
                f"at once; fewer reserved executions would throttle every run), got {value}"
            )
        return value


class EphemeralSettings(_Model):
    """What `ec2c test`'s throw-away stacks use instead of the environment's own values."""

    alert_emails: tuple[str, ...] = ()
    """Inboxes an ephemeral stack subscribes; none by default, so CI runs never mail real people."""
    events: bool = False
    """Turn the change-event path on for ephemeral stacks too (when `events.enabled`); off by
    default, so a test run neither waits for nor pays for EventBridge rules in every scan region."""

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_emails(value)


class EventsSettings(_Model):
    """The change-event path: findings within a minute of a change, on top of the schedule.

    Off unless asked for: it adds EventBridge rules in every scan region, a queue and its
    dead-letter queue, and needs a CloudTrail trail logging management events for API-call
    events (`ec2c doctor` checks that). `ephemeral: {events: true}` turns it on for `ec2c test`'s
    throw-away stacks too; without it they never have it."""

    enabled: bool = False
    alert_severity: Severity = Severity(bounds.EVENTS_DEFAULT_ALERT_SEVERITY)
    """The least severe new failure that alerts at once (one message per batch)."""
    batch_window_s: int = _bounded(bounds.EVENTS_BATCH_WINDOW_S)
    batch_size: int = _bounded(bounds.EVENTS_BATCH_SIZE)

    @field_validator("alert_severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Severity:
        """Any case, as a policy's severities and `--fail-on` take them."""
        return Severity.parse(value)

    @field_validator("batch_size")
    @classmethod
    def _batch_size(cls, value: int, info: ValidationInfo) -> int:
        """Lambda's rule for standard queues, checked here so the file is refused at load rather
        than by `EventsArgs` at deploy."""
        window = info.data.get("batch_window_s")
        if window is not None and window < 1 and value > bounds.EVENTS_UNBATCHED_MAX_SIZE:
            raise ValueError(
                f"expected at most {bounds.EVENTS_UNBATCHED_MAX_SIZE} with events.batch_window_s "
                f"{window} (Lambda takes more messages from a standard queue only with a batching "
                f"window of at least 1 s), got {value}"
            )
        return value


class Retention(_Model):
    reports_days: int = _bounded(bounds.REPORT_RETENTION_DAYS)
    logs_days: int = bounds.DEFAULT_LOG_RETENTION_DAYS

    @field_validator("logs_days")
    @classmethod
    def _logs_days(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"expected one of CloudWatch Logs' retention values {list(LOG_RETENTION_DAYS)}, got {value}"
            )
        return value


class Environment(_Model):
    """One deployable environment, fully merged and validated."""

    name: str
    source: str = Field(exclude=True)
    description: str = ""
    project: str = "ec2-compliance"
    stack: str | None = None
    backend: str = "file://.pulumi-state"
    program: str = "ec2c.orchestrator.deploy.programs:analyzer_program"
    aws: AwsTarget
    tags: dict[str, str] = {}
    schedule: str = bounds.DEFAULT_SCHEDULE
    metric_namespace: str = bounds.DEFAULT_METRIC_NAMESPACE
    alert_emails: tuple[str, ...] = ()
    protected: bool = False
    force_destroy: bool = False
    security_hub: bool = False
    events: EventsSettings = EventsSettings()
    lambda_: LambdaSettings = Field(LambdaSettings(), alias="lambda")
    retention: Retention = Retention()
    policy: dict[str, Any] = {}
    ephemeral_: EphemeralSettings = Field(EphemeralSettings(), alias="ephemeral")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ENV_NAME_RE.match(value):
            raise ValueError(
                f"expected lowercase letters, digits and '-' (max 17, so that the ephemeral "
                f"'<env>-<6 chars>' stays a valid resource suffix), got {value!r}"
            )
        return value

    @field_validator("stack")
    @classmethod
    def _stack(cls, value: str | None) -> str | None:
        if value is not None and not STACK_NAME_RE.match(value):
            raise ValueError(f"expected lowercase letters, digits and '-' (max 24), got {value!r}")
        return value

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        if not value.startswith(("file://", "s3://", "https://", "azblob://", "gs://")):
            raise ValueError(f"expected a backend URL such as file://.pulumi-state or s3://bucket, got {value!r}")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        problem = schedule_problem(value)
        if problem is not None:
            raise ValueError(f"{problem}, got {value!r} (e.g. rate(1 day) or cron(0 6 * * ? *))")
        return value

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_emails(value)

    @property
    def stack_name(self) -> str:
        return self.stack or self.name

    def ephemeral(self, stack_name: str) -> Environment:
        """This environment as a throw-away stack: its own resource names, a bucket that destroy
        may empty (reports written during the test run would otherwise block it), only the
        `ephemeral.alert_emails` subscribed (each deploy mails a subscription confirmation), and
        the change-event path only with `ephemeral.events` (its rules span every scan region)."""
        events = self.events.model_copy(update={"enabled": self.events.enabled and self.ephemeral_.events})
        return self.model_copy(
            update={
                "stack": stack_name,
                "force_destroy": True,
                "alert_emails": self.ephemeral_.alert_emails,
                "events": events,
            }
        )

    @property
    def scan_regions(self) -> tuple[str, ...]:
        return self.aws.scan_regions or (self.aws.region,)

    @property
    def is_local_backend(self) -> bool:
        return self.backend.startswith("file://")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge mappings recursively; lists and scalars in `override` replace those in `base`."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; any problem is a BadInput naming the file (and line and column)."""
    return read_yaml_mapping(path, "config")


def describe_validation_error(exc: ValidationError) -> str:
    """Every problem as `field.path: message`, joined; the wording users see for any YAML file."""
    return "; ".join(_describe(error) for error in exc.errors())


def _describe(error: Mapping[str, Any]) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    return f"{field}: {message}"


def validate(document: Mapping[str, Any], *, name: str, source: str) -> Environment:
    """Turn a merged document into an Environment, or a BadInput naming the file and fields."""
    try:
        env = Environment.model_validate({**document, "name": name, "source": source})
    except ValidationError as exc:
        raise BadInput(f"{source}: {describe_validation_error(exc)}") from None
    try:
        load_policy(env.policy, source=f"{source}: policy")
    except PolicyError as exc:
        raise BadInput(str(exc)) from None
    return env


class ConfigDir:
    """The folder of environment files, and where its project keeps state and work dirs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def root(self) -> Path:
        """The project folder: relative `file://` backends and work dirs resolve against it."""
        return self.path.resolve().parent

    def names(self) -> list[str]:
        if not self.path.is_dir():
            raise BadInput(f"{self.path}: config folder not found (use --config-dir or EC2C_CONFIG_DIR)")
        return sorted(p.stem for p in self.path.glob("*.yaml") if p.name not in RESERVED_FILES)

    def defaults(self) -> dict[str, Any]:
        path = self.path / DEFAULTS_FILE
        return read_yaml(path) if path.exists() else {}

    def with_defaults(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """`document` (an environment file's content) merged over the folder's defaults.yaml, key by
        key: what every environment of the folder, and a scan given one of its files, applies."""
        return deep_merge(self.defaults(), document)

    def load(self, name: str, overrides: Mapping[str, Any] | None = None) -> Environment:
        """Load `<name>.yaml` over the defaults, with optional overrides (e.g. from a rollout plan)."""
        path = self.path / f"{name}.yaml"
        if not path.exists():
            known = ", ".join(self.names()) or "none"
            raise BadInput(f"unknown environment {name!r}: {path} does not exist (known: {known})")
        document = self.with_defaults(read_yaml(path))
        if overrides:
            document = deep_merge(document, overrides)
        return validate(document, name=name, source=str(path))

    def load_all(self) -> list[Environment]:
        return [self.load(name) for name in self.names()]


CONFIG_SEARCH = "--config-dir, then $EC2C_CONFIG_DIR, then ./config"


def locate_config_dir(explicit: Path | None = None) -> ConfigDir:
    """The config folder: `--config-dir`, else $EC2C_CONFIG_DIR, else ./config.

    An installed `ec2c` has no folder of its own to fall back on; with none of the three, the
    answer is bad input that says how to make one (`ec2c init`).
    """
    if explicit is not None:
        return ConfigDir(explicit)
    if os.environ.get("EC2C_CONFIG_DIR"):
        return ConfigDir(Path(os.environ["EC2C_CONFIG_DIR"]))
    cwd_config = Path.cwd() / "config"
    if cwd_config.is_dir():
        return ConfigDir(cwd_config)
    raise BadInput(
        f"no config folder: looked for {CONFIG_SEARCH} ({cwd_config} does not exist); "
        "run `ec2c init` to write a starter one"
    )
