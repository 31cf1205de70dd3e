"""Helpers of the proxy and fidelity tests: real processes on 127.0.0.1 (each in its own session,
stopped by its process group when the test ends), and the mock's configuration."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from contract_tests.run import write_mock_config
from mock_server.process import HOST, free_port, wait_answering

ROOT = Path(__file__).resolve().parents[2]
WRITER = "api-writer-00000000-0000-0000-0000-000000000000"
READER = "api-reader-00000000-0000-0000-0000-000000000000"
SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"
PROJECT, ENV = "default", "test"
DAY_MS = 86_400_000


def future(days: int = 30) -> int:
    """An expiry date far enough ahead that nothing expires while a test runs."""
    return int(time.time() * 1000) + days * DAY_MS


def mock_config(path: Path, **changes: Any) -> Path:
    """The suite's mock configuration (admin on, no rate limit) with top-level changes."""
    write_mock_config(path)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config.update(changes)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class Processes:
    """Child processes of one test; `stop_all` ends them (and only them)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *argv: str, env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115  # closed with the child
        proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
        log.close()
        self.started.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    answered = wait_answering(url + "/", proc, time.monotonic() + timeout_s)
    if answered is False:
        raise AssertionError(f"{url}: the process exited with {proc.returncode}")
    if answered is None:
        raise AssertionError(f"{url} did not answer in {timeout_s} s")


class ProxyRun:
    """``python -m proxy`` in front of `upstream` (`env`: variables to set or, as "", to clear
in its environment); `stop` sends SIGINT and returns its status."""

    def __init__(self, processes: Processes, upstream: str, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.reports = processes.directory / "reports"
        self.processes = processes
        self.proc = processes.start("proxy", "-m", "proxy", "--upstream", upstream, "--port",
                                    str(self.port), "--reports-dir", str(self.reports), *extra,
                                    env=env)

    def ready(self) -> ProxyRun:
        wait_http(self.url, self.proc)
        return self

    def stop(self, signum: int = signal.SIGINT) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=30)

    def report(self) -> dict[str, Any]:
        return json.loads((self.reports / "proxy.json").read_text(encoding="utf-8"))


def serve_app(processes: Processes, factory: str) -> tuple[str, subprocess.Popen[bytes]]:
    """uvicorn serving the ASGI app that `module:callable` makes, on a free loopback port."""
    port = free_port()
    proc = processes.start(f"app-{port}", "-m", "uvicorn", "--factory", factory, "--host", HOST,
                           "--port", str(port), "--log-level", "warning", "--no-access-log")
    return f"http://{HOST}:{port}", proc
