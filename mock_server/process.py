"""The mock server as a real child process on loopback: for ``make contract``, the hardening
and live-safety tests, and anything else that needs it over real HTTP.

``python -m mock_server`` on 127.0.0.1 and a free port, in a session of its own (Ctrl-C
reaches the caller, and stopping kills that process group only), its output in a log file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

__all__ = ["HOST", "MockProcess", "MockProcessError", "StartedOnEntry", "free_port",
           "wait_answering"]

HOST = "127.0.0.1"  # the only address the process listens on
ROOT = Path(__file__).resolve().parents[1]
_PORT_ATTEMPTS = 3  # a port taken between free_port() and the server's bind: try another


class MockProcessError(RuntimeError):
    """The server did not come up; the message holds the end of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_answering(url: str, proc: subprocess.Popen[bytes], deadline: float) -> bool | None:
    """Poll ``url`` until it answers (True), the process serving it exits (False) or the
    ``time.monotonic()`` deadline passes (None): the one wait for a server process we
    started, the mock's, the proxy's and the benchmarks'."""
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                http.get(url)
                return True
            except httpx.TransportError:
                time.sleep(0.05)  # polling a process we started
    return None


class StartedOnEntry(ABC):
    """A process (the mock, a test's PostgreSQL) as a context manager: started on entry,
    stopped on exit."""

    @abstractmethod
    def start(self) -> object: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


class MockProcess(StartedOnEntry):
    """One server process at a time over ``db`` (a SQLite file, or any ``--db`` URL) and
    ``config``; ``start`` again after ``stop`` or ``kill`` (a restart on the same database). A
    context manager: started on entry, stopped on exit."""

    def __init__(self, db: Path | str, config: Path, log: Path) -> None:
        self.db, self.config, self.log = db, config, log
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout_s: float = 30.0) -> float:
        """Start and wait until it answers; returns the seconds that took."""
        started = time.monotonic()
        for _attempt in range(_PORT_ATTEMPTS):
            self.port = free_port()
            with open(self.log, "ab") as out:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "mock_server", "--host", HOST, "--port", str(self.port),
                     "--db", str(self.db), "--config", str(self.config), "--log-level", "warning"],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                    start_new_session=True)
            if self._wait_ready(started + timeout_s):
                return time.monotonic() - started
            if "address already in use" not in self.tail(3).lower():
                break
        raise MockProcessError(f"the mock server exited: {self.tail()}")

    def _wait_ready(self, deadline: float) -> bool:
        """True once it answers; False if it exited; an error (after killing it) at the
        deadline."""
        assert self.proc is not None
        answered = wait_answering(f"{self.base_url}/openapi.json", self.proc, deadline)
        if answered is not None:
            return answered
        self.kill()
        raise MockProcessError(f"the mock server did not answer in time: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL the server's process group (only the group this object started)."""
        self._signal_and_wait(signal.SIGKILL)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it does not go."""
        self._signal_and_wait(signal.SIGTERM)
        self.kill()

    def _signal_and_wait(self, signum: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def tail(self, lines: int = 8) -> str:
        """The end of its log, one line."""
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"
