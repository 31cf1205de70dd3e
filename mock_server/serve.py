"""Command line: ``python -m mock_server [--host H] [--port P] [--db PATH|URL] [--config FILE]``.

A configuration or database it cannot use stops it before it listens, with one line on stderr
and status 2.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import logging
import sys
from collections.abc import Sequence

from .config import DEFAULT_CONFIG_PATH, ConfigError, load_config

__all__ = ["main"]

#: Allocations between young-generation collections (CPython's default is 700). A request
#: allocates thousands of small containers (a 10,000-item listing: ~70,000), so the default
#: collects many times per request; after ``gc.freeze()`` the long-lived objects of the app
#: are not scanned again, and a larger threshold costs a few MB at most.
GC_THRESHOLD = (50_000, 10, 10)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mock_server",
        description="Serve the mock LaunchDarkly expiring-targets API (loopback by default).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    parser.add_argument("--db", default="mock-server.sqlite3",
                        help="SQLite file or :memory:, sqlite:///path, or postgresql://user:"
                             "password@host:port/database (default: mock-server.sqlite3)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG_PATH),
                        help="YAML configuration (default: the shipped default-config.yaml)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--access-log", action="store_true",
                        help="log every request (off by default: it costs CPU on every request)")
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"],
                        help="event loop (auto: uvloop when installed)")
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"],
                        help="HTTP parser (auto: httptools when installed)")
    return parser


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from .app import create_mock_app
    from .http_limits import MAX_HEAD_BYTES, http_protocol
    from .storage import StoreOpenError, describe, open_store

    logging.basicConfig(level=args.log_level.upper())
    try:
        store = open_store(args.db, busy_timeout_ms=config.busy_timeout_ms)
    except StoreOpenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = create_mock_app(config, store=store)
    # uvicorn picks these when installed ("auto"); say which, since they matter for speed
    loop = args.loop if args.loop != "auto" else "uvloop" if _available("uvloop") else "asyncio"
    http = args.http if args.http != "auto" else "httptools" if _available("httptools") else "h11"
    print(
        f"mock server on http://{args.host}:{args.port} (db {describe(args.db)},"
        f" config {args.config}, admin {'on' if config.admin else 'off'}, {loop}/{http})",
        file=sys.stderr,
    )
    gc.collect()
    gc.freeze()  # the app's long-lived objects: never scanned again
    gc.set_threshold(*GC_THRESHOLD)
    try:
        uvicorn.run(server, host=args.host, port=args.port, log_level=args.log_level,
                    access_log=args.access_log, loop=loop, lifespan="off",
                    http=http_protocol(http),  # httptools with a cap on the request head
                    h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                    proxy_headers=False)  # no proxy in front of a loopback mock
    finally:
        server.close()
    return 0
