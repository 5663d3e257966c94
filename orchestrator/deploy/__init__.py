"""Deployment through the Automation API: environments, workspaces, lifecycle, ephemeral runs,
rollouts, and the stack a command means (`operations`)."""
