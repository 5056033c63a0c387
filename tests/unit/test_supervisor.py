"""The demo's supervisor says at once when a child dies, restarts it, and after too many
restarts stops the demo (issue 10, point 14). Before, a dead beat or simulator went unnoticed:
the demo ran on with no epoch ever closing and nothing said."""

from __future__ import annotations

import sys
import threading
import time

from ledger.supervisor import Supervisor


def run_until(pred, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_dying_process_is_reported_restarted_then_the_demo_stops() -> None:
    said: list[str] = []
    stopped = threading.Event()
    sup = Supervisor(said.append, max_restarts=2, stop_process=stopped.set)
    sup.add_process("beat", [sys.executable, "-c", "import sys; sys.exit(3)"], {})
    sup.start()
    try:
        run_until(stopped.is_set)
    finally:
        sup.stop()
    assert said[0] == "beat exited with code 3; restarting it (1/2)"
    assert said[1] == "beat exited with code 3; restarting it (2/2)"
    assert sup.failure == "beat exited with code 3 after 2 restarts"


def test_a_failing_thread_is_reported_with_its_error_and_restarted() -> None:
    said: list[str] = []
    runs: list[int] = []

    def simulator(stop: threading.Event) -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("409 Conflict on /v1/providers/x/stake\nmore lines")
        stop.wait()

    sup = Supervisor(said.append, stop_process=lambda: None)
    sup.add_thread("simulator", simulator)
    sup.start()
    try:
        run_until(lambda: len(runs) == 2)
    finally:
        sup.stop()
    assert said == [
        "simulator failed: RuntimeError: 409 Conflict on /v1/providers/x/stake; restarting it (1/3)"
    ]
    assert sup.failure is None


def test_children_stop_with_the_supervisor() -> None:
    sup = Supervisor(lambda _: None, stop_process=lambda: None)
    sup.add_process("worker", [sys.executable, "-c", "import time; time.sleep(60)"], {})
    sup.start()
    sup.stop()
    procs = [c.proc for c in sup._children if c.proc is not None]
    assert procs and all(p.poll() is not None for p in procs)
