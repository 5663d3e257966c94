"""Inline Pulumi programs: which one an environment deploys, and the default one.

An environment names its program factory as `module:function` (a callable taking the
Environment and returning a zero-argument Pulumi program). The default deploys the
ComplianceAnalyzer; teams can wrap it in their own program, and the engine tests use
component-only programs because no AWS provider plugin is available there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ec2c.stacks import ComplianceAnalyzerArgs, program
from ec2c.stacks.args import EventsArgs

from ..errors import BadInput
from .inputs.environments import Environment, EventsSettings

PulumiProgram = Callable[[], None]
ProgramFactory = Callable[[Environment], PulumiProgram]


def analyzer_program(env: Environment) -> PulumiProgram:
    """The product: one ComplianceAnalyzer configured from the environment file."""
    args = ComplianceAnalyzerArgs(
        environment=env.stack_name,
        tags={**env.tags, "Environment": env.tags.get("Environment", env.name)},
        schedule=env.schedule,
        policy=env.policy,
        alert_emails=env.alert_emails,
        report_retention_days=env.retention.reports_days,
        log_retention_days=env.retention.logs_days,
        lambda_memory_mb=env.lambda_.memory_mb,
        lambda_timeout_s=env.lambda_.timeout_s,
        lambda_ephemeral_storage_mb=env.lambda_.ephemeral_storage_mb,
        region_concurrency=env.lambda_.region_concurrency,
        reserved_concurrency=env.lambda_.reserved_concurrency,
        tracing=env.lambda_.tracing,
        async_retries=env.lambda_.async_retries,
        security_hub=env.security_hub,
        regions=env.scan_regions,
        metric_namespace=env.metric_namespace,
        force_destroy=env.force_destroy,
        events=events_args(env.events),
    )
    return program(args)


def events_args(events: EventsSettings) -> EventsArgs | None:
    """The stack's change-event path as the file sets it; None (no rules, no queue) unless
    `events.enabled`, so the other settings of a disabled block deploy nothing."""
    if not events.enabled:
        return None
    return EventsArgs(
        alert_severity=events.alert_severity.value,
        batch_window_s=events.batch_window_s,
        batch_size=events.batch_size,
    )


def resolve_program(env: Environment) -> PulumiProgram:
    """Import the environment's factory and build its program; a bad path is the user's input."""
    module_name, _, attr = env.program.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise BadInput(f"{env.source}: program: cannot import {env.program!r} ({exc})") from None
    try:
        return factory(env)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{env.source}: {exc}") from None
