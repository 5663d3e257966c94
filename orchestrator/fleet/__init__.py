"""The fleet view: every target of a rollout plan at once (`plan`: status, drift and the data of
the merged estate report)."""
