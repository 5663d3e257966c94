"""The two ways a command can fail, mapped to the CLI's exit codes.

Every expected failure is raised as one of these; `cli.guard.guard` turns it into a one-line
message and an exit code at the command boundary, so a user never sees a traceback: 2 means
"fix your input", 1 means "the operation failed".
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class Ec2cError(Exception):
    """An expected failure with a message written for the person at the terminal."""

    exit_code = EXIT_FAILURE
    label = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(Ec2cError):
    """The user's input (a flag, a config file, a policy) is wrong; the message says where."""

    exit_code = EXIT_BAD_INPUT


class OperationFailed(Ec2cError):
    """An operation (deployment, scan, test run) ran and failed."""

    exit_code = EXIT_FAILURE
