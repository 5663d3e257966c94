"""Event-driven re-evaluation: what a change event touched (`events`), reading only that
(`targeted`), judging it against what it failed before (`verdicts`), the change records and
per-resource states in the bucket (`records`), one SQS batch end to end (`batch`), and the
records laid over the latest full report for readers (`overlay`)."""
