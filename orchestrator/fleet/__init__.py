"""The fleet view: every target of a rollout plan at once (status, merged estate report)."""
