"""Signals and the engine child: cancel gracefully, bound the wait, never strand a lock.

CI cancel buttons, `docker stop`, Kubernetes and `timeout` send SIGTERM or SIGINT to the PID
only, not to the process group. Python's default reaction (KeyboardInterrupt in the main thread)
would leave the `pulumi` child running with the stack's lock held, and tear down the pipes its
reader threads still use. So:

* every engine command runs in a session of its own (`start_new_session`), so a terminal's Ctrl-C
  reaches it exactly once, through us: the engine treats a second SIGINT as "stop now";
* the first SIGINT/SIGTERM is forwarded to every live engine child as SIGINT, the engine's
  graceful cancel (finish in-flight steps, write the checkpoint, release the lock);
* a watchdog kills children still alive after `grace_s`; the caller then releases the lock they
  leave (see `recovery`);
* with no engine child running (pytest, Python code) the signal becomes KeyboardInterrupt, which
  pytest and `finally` blocks already handle;
* during teardown, signals are counted, not obeyed; the third one abandons whatever is running.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from ..errors import Ec2cError

HANDLED = (signal.SIGINT, signal.SIGTERM)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
ABANDON_AT = 3
DEFAULT_GRACE_S = 60.0
GRACE_VAR = "EC2C_CANCEL_GRACE_S"


P = ParamSpec("P")
R = TypeVar("R")


class Interrupted(Ec2cError):
    """The run was stopped by a signal; exits 130 (SIGINT) or 143 (SIGTERM)."""

    label = "interrupted"

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = EXIT_CODES[signal.Signals(signum)]


class Abandoned(KeyboardInterrupt):
    """The third signal: stop waiting for teardown or cancellation (passes through pytest too)."""


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def _grace_s() -> float:
    try:
        return max(0.0, float(os.environ.get(GRACE_VAR, DEFAULT_GRACE_S)))
    except ValueError:
        return DEFAULT_GRACE_S


class Supervisor:
    """Process-wide (signal handlers are): the live engine children and the signals received."""

    def __init__(self) -> None:
        self._children: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self._starting = 0
        self._timer: threading.Timer | None = None
        self.reset()

    def reset(self) -> None:
        """Forget signals of a previous command (one process may run several, as tests do)."""
        self.first: int | None = None
        self.count = 0
        self.engine_killed = False
        self.in_teardown = False
        self.raise_when_idle = True
        self.recovery: str | None = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def interrupted(self) -> bool:
        return self.first is not None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(signal.Signals(self.first or signal.SIGINT), 130)

    def reason(self) -> str | None:
        """Why new work must not start, or None."""
        return f"interrupted by {signal_name(self.first)}" if self.first is not None else None

    def check(self, what: str) -> None:
        """Refuse to start new work once a signal has arrived (outside teardown)."""
        if self.first is not None and not self.in_teardown:
            raise Interrupted(f"{what} not started: interrupted by {signal_name(self.first)}", self.first)

    def error(self, message: str) -> Interrupted:
        assert self.first is not None
        return Interrupted(message, self.first)

    # -- handlers -------------------------------------------------------------------------------

    @contextmanager
    def handling(self, *, raise_when_idle: bool = True) -> Iterator[None]:
        """Install the handlers for the whole command, teardown included; restore them after.

        A SIGINT inherited as ignored (a background job of a non-interactive shell) stays ignored,
        as POSIX intends; SIGTERM is always handled.
        """
        self.reset()
        self.raise_when_idle = raise_when_idle
        if threading.current_thread() is not threading.main_thread():
            try:
                yield
            finally:
                self.reset()
            return
        previous = {s: signal.getsignal(s) for s in HANDLED}
        for s in HANDLED:
            if not (s == signal.SIGINT and previous[s] == signal.SIG_IGN):
                signal.signal(s, self._on_signal)
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.reset()

    @contextmanager
    def teardown(self) -> Iterator[None]:
        """Cleanup that a signal must not abort: engine commands run to the end, signals are counted."""
        before = self.in_teardown
        self.in_teardown = True
        try:
            yield
        finally:
            self.in_teardown = before

    def _say(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.first is None:
            self.first = signum
        name = signal_name(signum)
        if self.count >= ABANDON_AT:
            self.kill_children()
            self._say(f"{name} received ({self.count}): abandoning")
            raise Abandoned()
        left = ABANDON_AT - self.count
        if self.in_teardown:
            self._say(
                f"{name} received: teardown in progress, not interrupted; "
                f"{left} more signal(s) abandon it and may leave resources behind"
            )
            return
        if self.count > 1:
            self._say(f"{name} received: still cancelling; {left} more signal(s) abandon the run")
            return
        live = self.live_children()
        if live or self._starting:
            grace = _grace_s()
            self._say(f"{name} received: cancelling the engine gracefully (waiting up to {grace:.0f}s)")
            for child in live:
                self._forward(child)
            self._timer = threading.Timer(grace, self.kill_children, kwargs={"watchdog": True})
            self._timer.daemon = True
            self._timer.start()
            return
        if self.raise_when_idle:
            raise KeyboardInterrupt()
        self._say(f"{name} received: no new work will start")

    # -- engine children ------------------------------------------------------------------------

    def live_children(self) -> list[subprocess.Popen[str]]:
        with self._lock:
            return [c for c in self._children if c.poll() is None]

    def _forward(self, child: subprocess.Popen[str]) -> None:
        try:
            child.send_signal(signal.SIGINT)
        except ProcessLookupError:
            pass

    def kill_children(self, watchdog: bool = False) -> None:
        """SIGKILL every live engine child; the watchdog's use leaves a lock for `recovery`."""
        for child in self.live_children():
            child.kill()
            if watchdog:
                self.engine_killed = True

    def spawn(self, cmd: list[str], cwd: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
        """Start an engine command in its own session and register it for forwarding."""
        self._starting += 1
        try:
            child = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=dict(env),
                encoding="utf-8",
                start_new_session=True,
            )
            with self._lock:
                self._children.add(child)
        finally:
            self._starting -= 1
        if self.first is not None and not self.in_teardown:
            self._forward(child)
        return child

    def release(self, child: subprocess.Popen[str]) -> None:
        with self._lock:
            self._children.discard(child)


SUPERVISOR = Supervisor()

ABANDONED_PROGRAM = "run_in_stack"
"""The Pulumi SDK's coroutine that runs an inline program (`pulumi.runtime.stack.run_in_stack`)."""
PULUMI_STACK_MODULE = os.path.join("pulumi", "runtime", "stack.py")


def _quiet_abandoned_programs(previous: Callable[[Any], object]) -> Callable[[Any], object]:
    """A `sys.unraisablehook` that drops one report and passes every other on to `previous`.

    When a signal cancels an update, the engine stops talking to the inline program it was
    running; the SDK's coroutine for that program is never resumed, and when Python collects it
    (often at exit) its `finally` looks for an event loop that is gone and Python prints
    "Exception ignored in: <coroutine object run_in_stack>" with a traceback. The update has
    already ended as a cancelled run with its own message: that traceback says nothing more.
    """

    def hook(unraisable: Any) -> None:
        code = getattr(unraisable.object, "cr_code", None)
        if (
            getattr(code, "co_name", None) == ABANDONED_PROGRAM
            and str(getattr(code, "co_filename", "")).endswith(PULUMI_STACK_MODULE)
            and isinstance(unraisable.exc_value, RuntimeError)
        ):
            return
        previous(unraisable)

    hook.quiets_abandoned_programs = True  # type: ignore[attr-defined]
    return hook


def quiet_abandoned_programs() -> None:
    """Install the hook above once per process (it must outlive the command: the coroutine is
    often collected at interpreter exit)."""
    if not getattr(sys.unraisablehook, "quiets_abandoned_programs", False):
        sys.unraisablehook = _quiet_abandoned_programs(sys.unraisablehook)


def supervised(command: Callable[P, R], *, raise_when_idle: bool = True) -> Callable[P, R]:
    """Run an engine command under the handlers; any interruption ends as one line and 130/143.

    `raise_when_idle=False` suits commands whose main thread only waits for workers (rollout):
    the signal then only stops new work from starting, and the summary is still printed.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        quiet_abandoned_programs()
        with SUPERVISOR.handling(raise_when_idle=raise_when_idle):
            try:
                result = command(*args, **kwargs)
            except Abandoned:
                hint = f"; recover with `{SUPERVISOR.recovery}`" if SUPERVISOR.recovery else ""
                raise SUPERVISOR.error(f"abandoned after {SUPERVISOR.count} signals{hint}") from None
            except KeyboardInterrupt:
                if SUPERVISOR.first is None:
                    SUPERVISOR.first = signal.SIGINT
                raise SUPERVISOR.error(f"interrupted by {signal_name(SUPERVISOR.first)}") from None
            if SUPERVISOR.interrupted:
                raise SUPERVISOR.error(
                    f"{signal_name(SUPERVISOR.first or signal.SIGINT)} arrived as the operation completed"
                )
            return result

    return wrapper
