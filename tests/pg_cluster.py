"""A throwaway PostgreSQL server for the tests and the serve benchmark.

``initdb`` into a fresh temporary directory and ``pg_ctl start`` on a free port of
127.0.0.1 (no Unix socket outside that directory), password authentication over TCP.
PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user that
Debian's package creates (``runuser``). :meth:`PgCluster.fresh_url` gives each test an empty
schema of its own (the URL sets ``search_path``), which is much cheaper than a database.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

from mock_server.process import StartedOnEntry

__all__ = ["INSTALL_HINT", "PgCluster", "PgUnavailable", "find_bin_dir"]

INSTALL_HINT = "apt-get install -y postgresql"
HOST = "127.0.0.1"
USER = "mock"
_RUN_AS = "postgres"  # as root: the user Debian's postgresql package creates


class PgUnavailable(RuntimeError):
    """PostgreSQL cannot be run here; the message says what is missing."""


def find_bin_dir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: on PATH, else Debian's newest
    /usr/lib/postgresql/<version>/bin (which is not on PATH)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class PgCluster(StartedOnEntry):
    """One server, started by :meth:`start` and removed (data and all) by :meth:`stop`."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise PgUnavailable(f"PostgreSQL is not installed (no initdb): {INSTALL_HINT}")
        self.bin_dir = found
        self.run_as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(_RUN_AS)
            except KeyError:
                raise PgUnavailable(
                    f"PostgreSQL cannot run as root and there is no {_RUN_AS!r} user:"
                    f" {INSTALL_HINT} creates it") from None
            self.run_as = _RUN_AS
        self.password = secrets.token_hex(12)
        self.port = 0
        self._options = ""
        self.directory: Path | None = None
        self._schemas = 0

    @property
    def data(self) -> Path:
        assert self.directory is not None, "not started"
        return self.directory / "data"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise PgUnavailable(f"{argv[0]} failed: {(done.stderr or done.stdout).strip()}")

    def start(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="mock-pg-"))
        pwfile = self.directory / "pw"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            for path in (self.directory, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        pwfile.unlink()
        self.port = _free_port()
        self._options = (f"-c listen_addresses={HOST} -p {self.port}"
                         f" -c unix_socket_directories={self.directory} -c fsync=off"
                         " -c full_page_writes=off -c max_connections=200")
        self.resume()

    def pause(self) -> None:
        """Stop the server, keeping its data (:meth:`resume` starts it again, same port)."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")

    def resume(self) -> None:
        self._run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", "60",
                  "-l", str(self.data.parent / "server.log"), "-o", self._options)

    def stop(self) -> None:
        if self.directory is None:
            return
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        except PgUnavailable:
            pass  # not running (any more): only the files are left
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def url(self, schema: str | None = None, *, password: str | None = None,
            database: str = "postgres") -> str:
        """A libpq URL of this server; ``schema``: as the search path."""
        secret = quote(self.password if password is None else password, safe="")
        options = f"?options={quote(f'-csearch_path={schema}', safe='')}" if schema else ""
        return f"postgresql://{USER}:{secret}@{HOST}:{self.port}/{database}{options}"

    def fresh_url(self) -> str:
        """The URL of a new, empty schema."""
        import psycopg

        self._schemas += 1
        schema = f"t{self._schemas}_{secrets.token_hex(3)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return self.url(schema)
