"""The demo's supervisor: it watches the worker, beat and the simulator, says at once when one
dies, restarts it, and after too many restarts stops the whole demo (exit code 1).

Children are processes (Celery) and threads (the simulator, the epoch reporter); a thread
"dies" when its target raises. Stopping the demo means stopping the API, which runs in the main
thread: the supervisor sends its own process SIGTERM, which uvicorn answers with a clean shutdown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ledger.kit.limits import CHILD_STOP_TIMEOUT_S, MAX_CHILD_RESTARTS, SUPERVISE_POLL_S

ThreadTarget = Callable[[threading.Event], None]


@dataclass
class _Child:
    name: str
    argv: Sequence[str] | None = None
    env: Mapping[str, str] | None = None
    target: ThreadTarget | None = None
    restarts: int = 0
    proc: subprocess.Popen[bytes] | None = None
    thread: threading.Thread | None = None
    error: list[str] = field(default_factory=list)


class Supervisor:
    """Start children, watch them every ``SUPERVISE_POLL_S``, restart the dead ones."""

    def __init__(self, say: Callable[[str], None], max_restarts: int = MAX_CHILD_RESTARTS,
                 stop_process: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.say = say
        self.max_restarts = max_restarts
        self.failure: str | None = None
        self._children: list[_Child] = []
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._stop_process = stop_process or (lambda: os.kill(os.getpid(), signal.SIGTERM))

    def add_process(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self._children.append(_Child(name, argv=list(argv), env=dict(env)))

    def add_thread(self, name: str, target: ThreadTarget) -> None:
        self._children.append(_Child(name, target=target))

    def start(self) -> None:
        for child in self._children:
            self._launch(child)
        self._monitor = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._monitor.start()

    def _launch(self, child: _Child) -> None:
        if child.argv is not None:
            child.proc = subprocess.Popen(list(child.argv), env=dict(child.env or {}))
            return
        assert child.target is not None
        child.error.clear()

        def run(c: _Child = child) -> None:
            try:
                assert c.target is not None
                c.target(self._stop)
            except Exception as exc:  # reported by the monitor, one line
                text = str(exc).strip().splitlines()
                c.error.append(f"{type(exc).__name__}: {text[0] if text else ''}")

        child.thread = threading.Thread(target=run, name=child.name, daemon=True)
        child.thread.start()

    def _death(self, child: _Child) -> str | None:
        """Why ``child`` is dead, or None while it runs (or ended because we stop)."""
        if child.proc is not None:
            rc = child.proc.poll()
            return None if rc is None else f"exited with code {rc}"
        assert child.thread is not None
        if child.thread.is_alive() or self._stop.is_set():
            return None
        return f"failed: {child.error[0]}" if child.error else "ended"

    def _watch(self) -> None:
        while not self._stop.wait(SUPERVISE_POLL_S):
            for child in self._children:
                why = self._death(child)
                if why is None or self._stop.is_set():
                    continue
                if child.restarts >= self.max_restarts:
                    self.fail(f"{child.name} {why} after {child.restarts} restarts")
                    return
                child.restarts += 1
                self.say(f"{child.name} {why}; restarting it ({child.restarts}/"
                         f"{self.max_restarts})")  # fmt: skip
                self._launch(child)

    def fail(self, reason: str) -> None:
        """Stop the demo with exit code 1 (the main thread reads ``failure``)."""
        if self.failure is None:
            self.failure = reason
            self.say(f"{reason}: stopping")
            self._stop_process()

    def api_stopped(self) -> None:
        """The API (the main thread) has stopped: the children must stop too."""
        self._stop.set()

    def stop(self) -> None:
        """Stop every child: processes get SIGTERM, then SIGKILL after the stop timeout."""
        self._stop.set()
        procs = [c.proc for c in self._children if c.proc is not None]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=CHILD_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=CHILD_STOP_TIMEOUT_S)
        for c in self._children:
            if c.thread is not None:
                c.thread.join(timeout=CHILD_STOP_TIMEOUT_S)
