"""Deployment through the Automation API: engine, environments, workspaces, lifecycle, ephemeral runs, rollouts."""
