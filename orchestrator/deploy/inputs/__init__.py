"""What a deployment is made of: the environment files (validated, every error naming its file
and field), stack names, the inputs fingerprint that tells a rollout what changed, and the
starter configuration `ec2c init` writes. The program factories stay in `deploy.programs`:
teams import `analyzer_program` from there to wrap it in their own."""
