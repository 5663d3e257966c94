"""`python -m orchestrator` is `ec2c`."""

from .entry import main

main()
