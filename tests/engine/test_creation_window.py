"""Signals in the first seconds of `ec2c test`, on the real engine: while `pulumi stack init` creates
the stack, while `pulumi stack tag set` records its creation tags, and at the first event of
`pulumi up`. Each signal goes to the ec2c PID only (as docker/CI send them), and each run must end
cancelled (130/143), with one clear message, no traceback, and nothing left: no stack, no lock.

Why a wrapper: these windows last milliseconds, too short for a test to hit by sleeping. ec2c
finds its engine through $EC2C_PULUMI first, so the test points it at `<tmp>/root/bin/pulumi`, a
small Python script that holds the targeted moment open and lets every other command (`pulumi
version` included) exec the real binary at once. The engine doing the work is the real one; the
wrapper only decides when it starts (or, for `up`, pauses it), and passes each SIGINT/SIGTERM it
gets on to it, as the engine's own process would receive them:

* `stack init` / `stack tag set`: the wrapper writes a marker and holds before starting the real
  command; a signal received during the hold is delivered to that command right after it starts.
* `up`: holding before it starts would only repeat `stack init`'s case. The engine streams its
  events to the Automation API over gRPC (`--event-log tcp://...`); the wrapper starts the real
  `up` at once with its own relay in that place, and at the first event the relay stops the engine
  (SIGSTOP), writes the marker, and on the signal delivers it and resumes the engine (SIGCONT)
  before passing the event on. The engine meets the signal exactly after its first event, however
  loaded the machine is. Polling `Project.update_holder` instead finds the update at some point
  while it holds its lock (taken before the first event, kept to the end): the "during up" case
  `test_faults` already covers, and on a busy machine possibly after the program has run.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

SUITES = Path(__file__).resolve().parent / "suites"
CHECK_FILES = ("-o", "python_files=check_*.py")
SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
HOLD_S = 60.0
"""The wrapper's longest hold: it ends as soon as the signal arrives."""

WRAPPER = '''\
#!{python}
"""Stand-in for `pulumi` (see {test}): holds one moment of the real engine open."""
import os, signal, subprocess, sys, time

REAL, TARGET, MODE, MARKER, HOLD_S = {real!r}, {target!r}, {mode!r}, {marker!r}, {hold}
args = sys.argv[1:]
if os.path.exists(MARKER) or not any(tuple(args[i:i + len(TARGET)]) == TARGET for i in range(len(args))):
    os.execv(REAL, [REAL, *args])

child = None
pending = []


def on_signal(signum, frame):
    """Pass the signal on to the running engine; held (in `pending`) while the moment is."""
    if child is not None and MODE == "running":
        child.send_signal(signum)
    else:
        pending.append(signum)


def deliver():
    """End the hold: what arrived during it goes to the engine, and later signals go straight on."""
    global MODE
    MODE = "running"
    for signum in list(pending):
        child.send_signal(signum)


def hold():
    open(MARKER, "w").close()
    deadline = time.monotonic() + HOLD_S
    while not pending and time.monotonic() < deadline:
        time.sleep(0.02)


signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGTERM, on_signal)
if MODE == "before":
    hold()
    child = subprocess.Popen([REAL, *args])
    deliver()
else:
    from concurrent import futures

    import grpc
    from pulumi.runtime.proto import events_pb2_grpc

    class Relay(events_pb2_grpc.EventsServicer):
        """The engine's events, passed on to the Automation API; the engine paused at the first."""

        def StreamEvents(self, request_iterator, context):
            def forward():
                for number, request in enumerate(request_iterator):
                    if number == 0:
                        os.kill(child.pid, signal.SIGSTOP)
                        hold()
                        deliver()
                        os.kill(child.pid, signal.SIGCONT)
                    yield request

            with grpc.insecure_channel(upstream) as channel:
                return events_pb2_grpc.EventsStub(channel).StreamEvents(forward())

    at = args.index("--event-log") + 1
    upstream = args[at].removeprefix("tcp://")
    relay = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    events_pb2_grpc.add_EventsServicer_to_server(Relay(), relay)
    args[at] = "tcp://127.0.0.1:%d" % relay.add_insecure_port("127.0.0.1:0")
    relay.start()
    child = subprocess.Popen([REAL, *args])
code = child.wait()
if MODE != "before":
    relay.stop(None)
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
'''


def _wrapper(tmp_path: Path, real: Path, target: tuple[str, ...], mode: str) -> tuple[Path, Path]:
    """The stand-in engine `<tmp>/root/bin/pulumi` (PulumiCommand runs `<root>/bin/pulumi`) and its marker."""
    marker = tmp_path / "held"
    path = tmp_path / "root" / "bin" / "pulumi"
    path.parent.mkdir(parents=True)
    path.write_text(
        WRAPPER.format(
            python=sys.executable,
            test=Path(__file__).name,
            real=str(real),
            target=target,
            mode=mode,
            marker=str(marker),
            hold=HOLD_S,
        )
    )
    path.chmod(0o755)
    return path, marker


def _signalled_run(project, engine, tmp_path, target: tuple[str, ...], mode: str, signum: int) -> tuple[int, str]:
    """`ec2c test` on the wrapper; the signal goes to the ec2c PID once the moment is held."""
    wrapper, marker = _wrapper(tmp_path, engine.binary, target, mode)
    proc = project.popen(
        "test", "--env", "eng", "--tests", str(SUITES / "passing"), "--", *CHECK_FILES, EC2C_PULUMI=str(wrapper)
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, stderr = proc.communicate()
            pytest.fail(f"the wrapper never held `{' '.join(target)}`:\n{stderr}")
        time.sleep(0.05)
    proc.send_signal(signum)
    try:
        _, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        pytest.fail(f"ec2c did not end after {signal.Signals(signum).name}:\n{stderr}")
    return proc.returncode, stderr


def _ends_cleanly(project, code: int, stderr: str, signum: int) -> str:
    """The checks every case shares; returns the summary line (`stack <name>: <state>; ...`)."""
    assert code == EXIT[signum], stderr
    assert "Traceback" not in stderr and "CommandError" not in stderr, stderr
    assert "NOT destroyed" not in stderr and "teardown failed" not in stderr, stderr
    assert "interrupted: tearing down" in stderr, stderr
    (summary,) = [line for line in stderr.splitlines() if re.match(r"stack eng-[a-z0-9]{6}: ", line)]
    assert f"; exit code {EXIT[signum]}; steps: up " in summary and "(interrupted)" in summary
    assert project.stacks() == []
    assert project.lock_files() == []
    return summary


@SIGNALS
def test_a_signal_during_stack_init_leaves_a_stack_that_was_never_created(project, engine, tmp_path, signum):
    code, stderr = _signalled_run(project, engine, tmp_path, ("stack", "init"), "before", signum)
    summary = _ends_cleanly(project, code, stderr, signum)
    name = summary.split(":", 1)[0].removeprefix("stack ")
    assert f"{name} was never created: nothing to tear down" in stderr
    assert summary.startswith(f"stack {name}: never created;")
    assert "recover with" not in stderr
    assert not (project.root / ".ec2c" / "work" / "ec2-compliance" / name).exists()


@SIGNALS
def test_a_signal_while_the_creation_tags_are_set_tears_the_stack_down(project, engine, tmp_path, signum):
    code, stderr = _signalled_run(project, engine, tmp_path, ("stack", "tag", "set"), "before", signum)
    summary = _ends_cleanly(project, code, stderr, signum)
    assert "tagging stack organization/ec2-compliance/eng-" in stderr
    assert f"interrupted by {signal.Signals(signum).name}" in stderr
    assert ": destroyed and removed;" in summary


@SIGNALS
def test_a_signal_at_the_first_event_of_up_cancels_the_update_and_tears_down(project, engine, tmp_path, signum):
    code, stderr = _signalled_run(project, engine, tmp_path, ("up",), "first-event", signum)
    summary = _ends_cleanly(project, code, stderr, signum)
    assert f"cancelled by {signal.Signals(signum).name}" in stderr
    assert ": destroyed and removed;" in summary
    assert project.pending_operations() == 0
