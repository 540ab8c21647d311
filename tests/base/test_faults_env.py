"""The named fault points (goldenlayers.faults) that the interrupt tests use instead of racing signals."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from goldenlayers import faults


@pytest.fixture(autouse=True)
def _fresh_counts(monkeypatch):
    monkeypatch.setattr(faults, "_reached", {})


def test_parse_reads_counts_and_refuses_malformed_entries():
    assert faults.parse("sweep_row@3:sigint, write:raise") == {("sweep_row", 3): "sigint", ("write", 1): "raise"}
    for bad in ("sweep_row", "sweep_row:boom", "sweep_row@x:exit", "sweep_row@0:exit", ":exit"):
        with pytest.raises(ValueError, match="point\\[@n\\]:action"):
            faults.parse(bad)


def test_a_point_acts_only_at_its_arrival(monkeypatch):
    monkeypatch.setenv(faults.FAULT_ENV, "p@3:raise")
    faults.fault_point("p")
    faults.fault_point("other")
    faults.fault_point("p")
    with pytest.raises(faults.FaultInjected, match="arrival 3"):
        faults.fault_point("p")
    faults.fault_point("p")  # the fourth arrival: nothing


def test_unset_variable_does_nothing(monkeypatch):
    monkeypatch.delenv(faults.FAULT_ENV, raising=False)
    for _ in range(3):
        faults.fault_point("p")
    assert faults._reached == {}


def test_a_signal_action_reaches_the_process():
    code = "from goldenlayers.faults import fault_point\nfault_point('x')\nprint('not reached')"
    env = {**os.environ, faults.FAULT_ENV: "x:sigkill"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9 and "not reached" not in done.stdout


def test_an_injected_ctrl_c_lands_where_the_parent_ignored_sigint():
    # `make test &` from a script starts every process with SIGINT ignored; the fault still interrupts the stage
    # (this is what failed the interrupted-rerun test in a backgrounded CI run, not the machine's load)
    code = "from goldenlayers.faults import fault_point\nfault_point('x')\nprint('not reached')"
    env = {**os.environ, faults.FAULT_ENV: "x:sigint"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr and "not reached" not in done.stdout


def test_pause_waits_for_the_release_file(monkeypatch, tmp_path):
    monkeypatch.setenv(faults.FAULT_ENV, "p:pause")
    monkeypatch.setenv(faults.DIR_ENV, str(tmp_path))
    worker = threading.Thread(target=faults.fault_point, args=("p",))
    worker.start()
    reached = tmp_path / "p.reached"
    deadline = time.monotonic() + 60
    while not reached.exists():  # a handshake: the point announces itself, then waits for us
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert worker.is_alive()
    (tmp_path / "p.release").touch()
    worker.join(60)
    assert not worker.is_alive() and not reached.exists()


def test_an_unreleased_pause_gives_up(monkeypatch, tmp_path):
    monkeypatch.setenv(faults.FAULT_ENV, "p:pause")
    monkeypatch.setenv(faults.DIR_ENV, str(tmp_path))
    monkeypatch.setenv(faults.TIMEOUT_ENV, "0.3")
    with pytest.raises(faults.FaultInjected, match="released"):
        faults.fault_point("p")
