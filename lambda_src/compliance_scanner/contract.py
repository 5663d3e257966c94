"""Names shared by the scanner, the Pulumi stack and the orchestrator.

They live in the scanner package because it is the one piece that must stay importable with
nothing but boto3 and the standard library (it is zipped into the Lambda); the stack and the CLI
import these constants so a rename can never leave one side behind.
"""

from __future__ import annotations

import re

ENV_REPORT_BUCKET = "REPORT_BUCKET"
ENV_SNS_TOPIC_ARN = "SNS_TOPIC_ARN"
ENV_METRIC_NAMESPACE = "METRIC_NAMESPACE"
ENV_POLICY = "COMPLIANCE_POLICY"
ENV_SCAN_REGIONS = "SCAN_REGIONS"
ENV_SECURITY_HUB = "SECURITY_HUB_IMPORT"
"""`true`: import each run's findings into the home region's Security Hub (ASFF)."""
ENV_EVENTS_ALERT_SEVERITY = "EVENTS_ALERT_SEVERITY"
"""The least severe new failure of an event-driven evaluation that alerts at once; set only when
the stack has the change-event path, so its absence tells the scanner there is none."""

DEFAULT_METRIC_NAMESPACE = "EC2Compliance"

REGION_PATTERN = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
"""An AWS region name (`eu-west-1`, `us-gov-east-1`), to be matched whole (`fullmatch`): the
scanner checks its event and environment with it, the stack its args, the CLI its options."""

METRIC_COMPLIANT = "CompliantInstances"
METRIC_NON_COMPLIANT = "NonCompliantInstances"
METRIC_COMPLIANCE_RATE = "ComplianceRate"
METRIC_RULE_FAILURES = "RuleFailures"
METRIC_RULE_DIMENSION = "Rule"
METRIC_CHANGE_EVENTS = "ChangeEventsReceived"
METRIC_CHANGE_EVENTS_SKIPPED = "ChangeEventsSkipped"
METRIC_CHANGE_EVENTS_RETRIED = "ChangeEventsRetried"
METRIC_CHANGE_RESOURCES = "ChangeResourcesEvaluated"
METRIC_CHANGE_NEW_FAILURES = "ChangeNewFailures"
METRIC_TIME_TO_VERDICT = "ChangeTimeToVerdict"
"""Seconds from a change event's time to the verdict on what it touched (a statistic set per batch)."""

REPORT_PREFIX = "reports/"
LATEST_REPORT_KEY = "reports/latest.json"
WORK_PREFIX = "reports/work/"
"""What a run keeps between the invocations of its workers (parts of a region's shards, the
state a continuation resumes from, each region's result for the aggregate). Nothing reads it
after the run; the bucket expires it after `WORK_RETENTION_DAYS`."""
WORK_RETENTION_DAYS = 2
CHANGES_PREFIX = "reports/changes/"
"""Change records of event-driven evaluations (`changes.records`), keyed by the time they were
written so a listing after a report's start gives exactly the records that are newer."""
SCHEMA_VERSION = 3
