"""Progress of a run, for the one who watches it: the test, operation and tier running now,
requests sent against the budget, requests per second, failures so far.

Two halves, because pytest captures its own process's terminal while tests run:

- `ProgressFile` (a pytest plugin, ``--progress-file PATH``): the pytest process writes the
  current state as one small JSON object, replaced atomically, whenever a test starts or ends
  and every few requests.
- `ProgressDisplay` (``python -m contract_tests.run``, i.e. ``make contract``): the parent shows
  that state with rich below pytest's own output, which it passes through. On a terminal it is a
  live status line; elsewhere (CI logs) it degrades to a plain ``progress:`` line every
  `PLAIN_EVERY_S` seconds.

With pytest-xdist workers each worker writes a file of its own beside PATH (`worker_path`), and
the display adds them up: tests done, requests, failures; the test running is the one that
changed last.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest
from rich.console import Console
from rich.live import Live
from rich.text import Text

from .markers import tier_marker
from .recorder import Recorder

__all__ = ["ProgressDisplay", "ProgressFile", "combined", "worker_path"]

WRITE_EVERY_REQUESTS = 25
PLAIN_EVERY_S = 10.0


def worker_path(path: Path, worker: str | None) -> Path:
    """Where a worker (``gw0``, ...) writes its state: beside `path`, which the display reads."""
    return path if worker is None else path.with_name(f"{path.stem}.{worker}{path.suffix}")


class ProgressFile:
    """The state of the run in `path`, for `ProgressDisplay` in the parent process."""

    def __init__(self, path: Path, recorder: Recorder, budget: int | None) -> None:
        self.path, self.recorder, self.budget = path, recorder, budget
        self.state: dict[str, Any] = {"test": "", "operation": "", "tier": "", "failures": 0,
                                      "done": 0, "total": 0, "started": time.time()}
        self._written_at = 0
        recorder.on_request = self._on_request

    def _on_request(self, operation: str | None) -> None:
        if operation is not None:
            self.state["operation"] = operation
        if self.recorder.requests - self._written_at >= WRITE_EVERY_REQUESTS:
            self._write()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.state["total"] = len(session.items)
        self._write()

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.state["test"] = nodeid.rpartition("::")[2]
        self._write()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.state["tier"] = tier_marker(item) or ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.state["failures"] += 1
        if report.when == "teardown":
            self.state["done"] += 1
        self._write()

    def _write(self) -> None:
        self._written_at = self.recorder.requests
        state = {**self.state, "requests": self.recorder.requests, "now": time.time(),
                 "budget": self.budget}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self.path)


def describe(state: dict[str, Any]) -> str:
    """One line of progress from a `ProgressFile` state."""
    elapsed = max(1e-6, state.get("now", 0) - state.get("started", 0))
    budget = state.get("budget")
    sent = f"{state.get('requests', 0)}" + (f"/{budget}" if budget else "")
    return (f"{state.get('done', 0)}/{state.get('total', 0)} tests · {state.get('tier', '')} "
            f"{state.get('operation', '')} ({state.get('test', '')}) · {sent} requests, "
            f"{state.get('requests', 0) / elapsed:.0f}/s · {state.get('failures', 0)} failures")


class ProgressDisplay:
    """Passes a pytest process's output through and shows its progress below it."""

    def __init__(self, path: Path, console: Console | None = None) -> None:
        self.path = path
        self.console = console or Console(highlight=False)

    def follow(self, process: subprocess.Popen[str]) -> None:
        """Until the process's output ends (the caller waits for its status)."""
        assert process.stdout is not None
        reader = threading.Thread(target=self._pass_through, args=(process.stdout,),
                                  daemon=True)
        if self.console.is_terminal:
            with Live(Text(""), console=self.console, transient=True,
                      refresh_per_second=4) as live:
                self._live = live
                reader.start()
                while reader.is_alive():
                    live.update(Text(self._line(), style="dim"))
                    reader.join(0.25)
            return
        reader.start()
        while reader.is_alive():
            reader.join(PLAIN_EVERY_S)
            if reader.is_alive() and (line := self._line()):
                print(f"progress: {line}", flush=True)

    def _pass_through(self, stream: IO[str]) -> None:
        for line in stream:
            if self.console.is_terminal:
                self._live.console.print(Text.from_ansi(line.rstrip("\n")))
            else:
                print(line, end="", flush=True)

    def _line(self) -> str:
        states = []
        for path in sorted(self.path.parent.glob(f"{self.path.stem}*{self.path.suffix}")):
            try:
                states.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # being replaced: the next refresh reads it
        return describe(combined(states)) if states else ""


def combined(states: list[dict[str, Any]]) -> dict[str, Any]:
    """One state for the run from its workers' states (one state: itself): the test, tier and
    operation of the worker that wrote last among those that have started one."""
    started = [state for state in states if state.get("test") and state.get("tier")]
    latest = max(started or states, key=lambda state: state.get("now", 0))
    summed = {name: sum(state.get(name, 0) for state in states)
              for name in ("done", "requests", "failures")}
    return {**latest, **summed, "total": max(state.get("total", 0) for state in states),
            "started": min(state.get("started", 0) for state in states)}
