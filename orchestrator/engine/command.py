"""The `pulumi` command the Automation API runs, with its children under the supervisor's eye."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from pulumi.automation import PulumiCommand
from pulumi.automation._cmd import CommandResult, OnOutput
from pulumi.automation.errors import create_command_error

from .supervisor import SUPERVISOR


class SupervisedCommand(PulumiCommand):
    """`PulumiCommand` whose children are supervised: same contract, signal-safe process handling.

    The SDK's `run` lets KeyboardInterrupt close the pipes under its reader threads (a
    `ValueError: I/O operation on closed file` traceback) and leaves the engine running; this one
    always waits for the child and its readers before returning or raising.
    """

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None = None,
        on_error: OnOutput | None = None,
    ) -> CommandResult:
        separator = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:separator]:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        if os.path.isabs(self.command):
            env["PATH"] = os.pathsep.join([os.path.dirname(self.command), env.get("PATH", "")])
        child = SUPERVISOR.spawn([self.command, *args], cwd, env)
        chunks: dict[str, list[str]] = {"stdout": [], "stderr": []}

        def consume(stream: Any, callback: OnOutput | None, into: list[str]) -> None:
            for line in iter(stream.readline, ""):
                stripped = line.rstrip()
                if callback:
                    callback(stripped)
                into.append(stripped)

        readers = [
            threading.Thread(target=consume, args=(child.stdout, on_output, chunks["stdout"]), daemon=True),
            threading.Thread(target=consume, args=(child.stderr, on_error, chunks["stderr"]), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            code = child.wait()
        except BaseException:
            child.kill()
            code = child.wait()
            raise
        finally:
            for reader in readers:
                reader.join()
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
            SUPERVISOR.release(child)
        result = CommandResult(stdout="\n".join(chunks["stdout"]), stderr="\n".join(chunks["stderr"]), code=code)
        if code != 0:
            raise create_command_error(result)
        return result
