"""`python -m orchestrator` is `ec2c`."""

from .cli import main

main()
