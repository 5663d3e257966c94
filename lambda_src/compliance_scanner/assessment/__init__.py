"""Judging records: the policy (rules enabled, their parameters, suppressions, all validated with
the place of each error), the sources and IAM actions it needs (`permissions`), reachability
grading, and the evaluation of every enabled rule over the records."""
