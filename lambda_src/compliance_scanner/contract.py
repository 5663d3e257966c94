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

DEFAULT_METRIC_NAMESPACE = "EC2Compliance"

REGION_PATTERN = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
"""An AWS region name (`eu-west-1`, `us-gov-east-1`), to be matched whole (`fullmatch`): the
scanner checks its event and environment with it, the stack its args, the CLI its options."""

METRIC_COMPLIANT = "CompliantInstances"
METRIC_NON_COMPLIANT = "NonCompliantInstances"
METRIC_COMPLIANCE_RATE = "ComplianceRate"
METRIC_RULE_FAILURES = "RuleFailures"
METRIC_RULE_DIMENSION = "Rule"

REPORT_PREFIX = "reports/"
LATEST_REPORT_KEY = "reports/latest.json"
WORK_PREFIX = "reports/work/"
"""What a run keeps between the invocations of its workers (parts of a region's shards, the
state a continuation resumes from, each region's result for the aggregate). Nothing reads it
after the run; the bucket expires it after `WORK_RETENTION_DAYS`."""
WORK_RETENTION_DAYS = 2
SCHEMA_VERSION = 3
