"""Named fault points: a test makes a stage stop, die or wait at a known place of the code, instead of racing a
signal against a poll loop (a race that a busy machine loses).

    GOLDENLAYERS_FAULT="point[@n]:action[,point[@n]:action ...]"

At the n-th time (1-based, default 1) that this process reaches `fault_point(point)`, it does `action`:

* `sigint`, `sigterm`, `sigkill`: sends itself that signal (Ctrl-C, a scheduler's stop, a hard kill);
* `exit`: ends at once with exit code 3, running no cleanup (a crash);
* `raise`: raises `FaultInjected` (an error inside the stage);
* `pause`: creates `<GOLDENLAYERS_FAULT_DIR>/<point>.reached` and waits until `<point>.release` exists there, so a
  test can act on a job that is known to be mid-work (preempt it, take its node down) and then let it go on or
  kill it. It waits at most GOLDENLAYERS_FAULT_TIMEOUT seconds (default 600), then raises: a test never hangs.

Without the variable (every real run) a fault point is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

FAULT_ENV = "GOLDENLAYERS_FAULT"
DIR_ENV = "GOLDENLAYERS_FAULT_DIR"
TIMEOUT_ENV = "GOLDENLAYERS_FAULT_TIMEOUT"
ACTIONS = ("sigint", "sigterm", "sigkill", "exit", "raise", "pause")

_reached: dict[str, int] = {}


class FaultInjected(RuntimeError):
    """Raised by a fault point whose action is `raise` (or a `pause` nobody released in time)."""


def parse(spec: str) -> dict[tuple[str, int], str]:
    """{(point, n): action} from the variable's value; a malformed entry is an error, never silently ignored."""
    faults = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        where, sep, action = entry.rpartition(":")
        point, _, count = where.partition("@")
        if not sep or not point or action not in ACTIONS or (count and not count.isdigit()) or count == "0":
            raise ValueError(f"{FAULT_ENV}: cannot read {entry!r}; expected point[@n]:action with action one of "
                             f"{', '.join(ACTIONS)} and n >= 1")
        faults[(point, int(count or 1))] = action
    return faults


def fault_point(point: str) -> None:
    """Count one arrival at `point` and do the action the environment asks for at this arrival, if any."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    _reached[point] = n = _reached.get(point, 0) + 1
    action = parse(spec).get((point, n))
    if action is None:
        return
    if action in ("sigint", "sigterm", "sigkill"):
        if action == "sigint" and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            # a process started in the background of a non-interactive shell (`make test &`, nohup, some CI
            # runners) inherits SIGINT ignored, and Python then installs no Ctrl-C handler: the injected Ctrl-C
            # would vanish and the job run on. A terminal's Ctrl-C reaches a foreground job with the handler in
            # place, so that is what the fault stands for.
            signal.signal(signal.SIGINT, signal.default_int_handler)
        os.kill(os.getpid(), getattr(signal, action.upper()))
        time.sleep(5)  # the signal lands within this; a handler that returns lets the code go on
    elif action == "exit":
        os._exit(3)
    elif action == "raise":
        raise FaultInjected(f"fault injected at {point} (arrival {n})")
    else:
        _pause(point)


def _pause(point: str) -> None:
    folder = Path(os.environ.get(DIR_ENV) or ".")
    reached, release = folder / f"{point}.reached", folder / f"{point}.release"
    folder.mkdir(parents=True, exist_ok=True)
    reached.write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + float(os.environ.get(TIMEOUT_ENV) or 600)
    while not release.exists():
        if time.monotonic() > deadline:
            raise FaultInjected(f"fault point {point}: nobody released {release} in time")
        time.sleep(0.2)
    release.unlink(missing_ok=True)
    reached.unlink(missing_ok=True)
