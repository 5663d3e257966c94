"""Operations on many targets: a rollout plan's targets, waves and shards (`rollout`), what changed
for each one since its last update (`changes`), and the operations the CLI runs per environment
or plan target (`operations`)."""
