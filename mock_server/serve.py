"""Command line: ``python -m mock_server [--host H] [--port P] [--db PATH] [--config FILE]``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .config import DEFAULT_CONFIG_PATH, ConfigError, load_config

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mock_server",
        description="Serve the mock LaunchDarkly expiring-targets API (loopback by default).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    parser.add_argument("--db", default="mock-server.sqlite3",
                        help="SQLite database file, or :memory: (default: mock-server.sqlite3)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG_PATH),
                        help="YAML configuration (default: the shipped default-config.yaml)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from .app import create_mock_app

    logging.basicConfig(level=args.log_level.upper())
    server = create_mock_app(config, db_path=args.db)
    print(
        f"mock server on http://{args.host}:{args.port} (db {args.db},"
        f" config {args.config}, admin {'on' if config.admin else 'off'})",
        file=sys.stderr,
    )
    try:
        uvicorn.run(server, host=args.host, port=args.port, log_level=args.log_level,
                    lifespan="off")
    finally:
        server.close()
    return 0
