"""The integration suite `ec2c test` runs against a freshly deployed stack (shipped in the wheel,
so an installed `ec2c test --env E` needs no checkout; `--tests DIR` runs a team's own suite)."""
