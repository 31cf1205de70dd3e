"""Command line: ``python -m fidelity --base-url URL [--mock-url URL] [--seed N]
[--max-requests N] [--reports-dir DIR]``.

Starts the kit's mock as a process on loopback (the shipped configuration, admin routes on, so
its policy can be read back; or uses ``--mock-url``), runs the seeded plan against it and against
the target, compares, and writes ``fidelity.md`` and ``fidelity.json``. Tokens, project and
environment of the target come from ``LD_API_TOKEN``, ``LD_API_TOKEN_READONLY``,
``LD_PROJECT_KEY`` and ``LD_ENVIRONMENT_KEY`` (defaults: the mock's tokens, ``default``,
``test``); no token is printed or written. Exit status 0, 1 when a side broke the contract,
2 on bad input, 130 when interrupted (after deleting what it created).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from proxy.serve import BAD_INPUT, BadInput, check_upstream

__all__ = ["main"]

INTERRUPTED = 130
DEFAULT_MAX_REQUESTS = 400


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fidelity", description=(
        "Compare the kit's mock with a target server on one seeded plan; report every "
        "difference and the mock policy setting behind each."))
    parser.add_argument("--base-url", required=True, help="the target's root, http(s)://host")
    parser.add_argument("--mock-url", help="a running kit mock to compare with (default: start "
                        "one on loopback)")
    parser.add_argument("--seed", type=int, help="repeat a plan (default: a random one)")
    parser.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS,
                        help=f"most requests sent to the target ({DEFAULT_MAX_REQUESTS})")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    return parser


@contextmanager
def _mock(url: str | None, workdir: Path) -> Iterator[str]:
    """The kit's mock to compare with: `url`, or a process started here."""
    if url is not None:
        yield check_upstream(url, option="--mock-url")
        return
    from mock_server.process import MockProcess

    from .mock import write_config

    config = write_config(workdir / "mock-config.yaml")
    with MockProcess(workdir / "mock.sqlite3", config, workdir / "mock.log") as server:
        yield server.base_url


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        target = check_upstream(args.base_url, option="--base-url")
        if args.max_requests < 1:
            raise BadInput("--max-requests must be at least 1")
    except BadInput as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return BAD_INPUT
    # imported once the input is known to be good (bad input is answered at once)
    from contract_tests.interrupts import INTERRUPTS

    from .run import Settings, run

    settings = Settings.from_environment(target, args.seed if args.seed is not None
                                         else random.randrange(1 << 32), args.max_requests)
    INTERRUPTS.install()
    try:
        with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp, _mock(
                args.mock_url, Path(tmp)) as mock_url:
            return run(settings, mock_url, args.reports_dir)
    except BadInput as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        INTERRUPTS.mark_delivered()
        print("compare: interrupted; what it created was deleted", file=sys.stderr)
        return INTERRUPTED
    except httpx.HTTPError as exc:
        print(f"compare: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        INTERRUPTS.uninstall()
