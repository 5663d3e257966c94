"""The bounds and defaults of the stack's settings, in one place.

Two validators read them: `ComplianceAnalyzerArgs` (the stack's own check, whoever builds the
args) and the orchestrator's environment files (pydantic, so a typo fails at load with the file
and field named). Both import these objects, so the two can never disagree on what a valid
memory size, timeout or concurrency is, nor on what an unset one becomes. The stack must not
import the orchestrator, hence the home here; what the scanner shares (the region pattern, the
metric namespace, the Map's concurrency limit) comes from its contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ec2c.scanner import contract
from ec2c.scanner.run import workflow


@dataclass(frozen=True)
class Bound:
    """An integer setting's inclusive range."""

    low: int
    high: int

    @property
    def range(self) -> tuple[int, int]:
        return self.low, self.high

    def admits(self, value: object) -> bool:
        """An int (not a bool) within the range."""
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high


@dataclass(frozen=True)
class Setting(Bound):
    """A bounded integer setting with a default of its own."""

    default: int


LAMBDA_MEMORY_MB = Setting(128, 10240, default=512)
LAMBDA_TIMEOUT_S = Setting(1, 900, default=300)
LAMBDA_EPHEMERAL_STORAGE_MB = Setting(512, 10240, default=512)
"""Lambda's limits on `/tmp`, where the scanner spools each region's compressed shards (about
1 KB per instance: 512 MB holds far more than one invocation can scan)."""
REGION_CONCURRENCY = Setting(1, workflow.MAX_CONCURRENCY_LIMIT, default=4)
"""Regions the state machine's Map scans at once: an inline Map runs at most 40 iterations."""
RESERVED_CONCURRENCY = Bound(1, 1000)
"""Lambda's default account quota is 1,000 concurrent executions; unset, the reservation is
`region_concurrency` (one run invokes the function that many times at once)."""
ASYNC_RETRIES = Setting(0, 2, default=1)
"""Lambda's retries of a failed asynchronous invocation before the dead-letter queue."""
REPORT_RETENTION_DAYS = Setting(1, 36500, default=90)

LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
"""The retention values CloudWatch Logs accepts (PutRetentionPolicy)."""
DEFAULT_LOG_RETENTION_DAYS = 30

DEFAULT_SCHEDULE = "rate(1 day)"
DEFAULT_METRIC_NAMESPACE = contract.DEFAULT_METRIC_NAMESPACE
REGION_PATTERN = contract.REGION_PATTERN
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")

EVENTS_BATCH_WINDOW_S = Setting(0, 300, default=20)
"""How long the SQS event source gathers changes before invoking the scanner: Lambda's
`MaximumBatchingWindowInSeconds` allows 0-300 s. A short wait turns a burst of changes (a
deployment touching many instances) into one invocation, and findings stay within a minute."""
EVENTS_BATCH_SIZE = Setting(1, 10000, default=100)
"""Messages per invocation: Lambda takes up to 10,000 from a standard queue, but more than
`EVENTS_UNBATCHED_MAX_SIZE` only with a batching window of at least a second."""
EVENTS_UNBATCHED_MAX_SIZE = 10
EVENTS_DEFAULT_ALERT_SEVERITY = "high"
"""The least severe finding of an event-driven evaluation that alerts at once."""
