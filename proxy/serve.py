"""Command line: ``python -m proxy --upstream URL [--port 8766] [--har FILE] ...``.

Checks its input before anything is bound or written (the upstream URL, that the upstream
answers HTTP, that the port is free, that the HAR file's directory exists), each problem one
line and exit status 2; then serves until SIGINT or SIGTERM and writes the reports (and the HAR
file) whole. Exit status 1 when the traffic showed violations, else 0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from .console import Summary
    from .exchange import Credentials, Exchange
    from .har import HarLog
    from .ledger import Ledger

__all__ = ["BAD_INPUT", "BadInput", "check_upstream", "main"]

BAD_INPUT = 2
HOST = "127.0.0.1"  # the only address it listens on: what passes through carries tokens
PROBE_TIMEOUT_S = 5.0


class BadInput(Exception):
    """One line naming what is wrong with the command's input."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m proxy", description="A validating reverse proxy for the expiring-targets "
        "API: forwards traffic unchanged and judges it by tiers 1-2 of the contract.")
    parser.add_argument("--upstream", required=True,
                        help="the server to forward to: its root, http(s)://host[:port]")
    parser.add_argument("--port", type=int, default=8766, help="port to listen on (8766)")
    parser.add_argument("--har", type=Path, help="record the traffic to this HAR 1.2 file "
                        "(no credentials: see docs/proxy.md)")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"),
                        help="where proxy.md and proxy.json go (reports)")
    parser.add_argument("--every", type=int, default=50,
                        help="a summary line every N exchanges when not on a terminal (50)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the upstream's answer (60)")
    parser.add_argument("--ttl", type=float, default=300.0, help="what the proxy learnt of a "
                        "resource is forgotten when it has seen nothing of it for this many "
                        "seconds (300; 0: judge single exchanges only)")
    return parser


def check_upstream(url: str, option: str = "--upstream") -> str:
    """The server's root URL, once it answered HTTP; `BadInput` otherwise (`option`: how the
    command line named it)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{option} {url!r} is not an http:// or https:// URL")
    if parts.path not in ("", "/") or parts.query:
        raise BadInput(f"{option} {url!r} has a path: give the server's root (the "
                       "operations' paths start with /api/v2)")
    root = f"{parts.scheme}://{parts.netloc}"
    try:
        httpx.get(root + "/", timeout=PROBE_TIMEOUT_S, trust_env=False)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise BadInput(f"{option} {root}: cannot connect ({exc or type(exc).__name__})"
                       ) from None
    except httpx.ReadTimeout:
        raise BadInput(f"{option} {root}: it accepted the connection but sent no HTTP answer in "
                       f"{PROBE_TIMEOUT_S:.0f} s: is it an HTTP server?") from None
    except httpx.HTTPError as exc:
        raise BadInput(f"{option} {root}: it does not speak HTTP ({type(exc).__name__}: "
                       f"{exc})") from None
    return root


def _listen(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so (else Nagle and
    # delayed ACKs add 40 ms to an answer written in two parts)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BadInput(f"cannot listen on {host}:{port} ({exc.strerror or exc}): is the port "
                       "in use? choose another with --port") from None
    sock.listen(2048)
    return sock


def _after_shutdown(signum: int, frame: object) -> None:
    """uvicorn handles SIGINT and SIGTERM while it serves, then raises the signal again once it
    has shut down: here it must not end the process before the reports are written."""


def _http_protocol() -> str:
    return "httptools" if importlib.util.find_spec("httptools") else "h11"


async def _serve(args: argparse.Namespace, upstream: str, sock: socket.socket,
                 ledger: Ledger, summary: Summary, har: HarLog | None,
                 credentials: Credentials) -> None:
    import uvicorn

    from mock_server.serve import GC_THRESHOLD

    from . import schemas
    from .checker import Checker
    from .forward import Forwarder
    from .model import Model
    from .upstream import UpstreamTransport

    def seen(exchange: Exchange) -> None:
        if har is not None:
            har.add(exchange)
        summary.exchange()

    checker = Checker(ledger, Model(ttl_s=args.ttl), on_violation=summary.violation)
    # as the mock does (mock_server/serve.py): the modules' long-lived objects are never
    # scanned again, and young collections come less often; a full collection of everything
    # loaded is a long pause (docs/proxy.md, Design figures) every answer in flight waits out
    schemas.warm()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    async with UpstreamTransport() as transport:
        app = Forwarder(upstream, checker, credentials, transport,
                        httpx.Timeout(args.timeout, connect=10.0), ledger.overhead,
                        on_exchange=seen)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                server_header=False, date_header=False, proxy_headers=False,
                                http=_http_protocol(), loop="asyncio",
                                timeout_graceful_shutdown=5)
        try:
            await uvicorn.Server(config).serve(sockets=[sock])
        finally:
            app.drain()  # every exchange judged before the reports are written


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.har is not None and not args.har.parent.is_dir():
            raise BadInput(f"--har {args.har}: the directory {args.har.parent} does not exist")
        upstream = check_upstream(args.upstream)
        sock = _listen(HOST, args.port)
    except BadInput as exc:
        print(f"proxy: {exc}", file=sys.stderr)
        return BAD_INPUT
    # imported once the input is known to be good: bad input is answered in a fraction of a
    # second, before the operation model and the checks are loaded
    from .console import Summary
    from .exchange import Credentials
    from .har import HarLog
    from .ledger import Ledger
    from .report import write_reports

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _after_shutdown)
    ledger, credentials = Ledger(upstream), Credentials()
    har = HarLog() if args.har is not None else None
    print(f"proxy: http://{HOST}:{args.port} -> {upstream}; reports in "
          f"{args.reports_dir}/proxy.md and .json" + (f", traffic to {args.har}" if har else "")
          + "; Ctrl-C stops it", flush=True)
    summary = Summary(ledger, every=args.every)
    try:
        asyncio.run(_serve(args, upstream, sock, ledger, summary, har, credentials))
    finally:
        sock.close()
        summary.close()
        ledger.finished_at = time.time()
        written = write_reports(ledger, args.reports_dir, "proxy", "Proxy conformance report",
                                credentials.redact)
        if har is not None and args.har is not None:
            written.append(har.write(args.har, credentials.redact))
        print("proxy: wrote " + ", ".join(map(str, written)), flush=True)
    return 1 if ledger.violation_count else 0
