"""``python -m proxy.replay HAR --base-url URL``: send a recorded HAR file's requests again, in
order, to a target (the kit's mock, staging, ...), and judge the answers as the proxy does.

Each request goes to the same path and query on `URL`, with its recorded headers and body. The
recording holds no token: where the recorded request carried one (`_authorization: token-1`), the
replay sends ``LD_API_TOKEN``; `token-2` gets ``LD_API_TOKEN_READONLY``; a request that needs a
token the environment does not give is skipped (and counted). 429s are waited out and network
failures retried as the suite does (`contract_tests.network`); what still fails is
infrastructure. Writes ``<reports-dir>/replay.md`` and ``replay.json``; exit status 1 when the
answers showed violations, 2 on bad input (one line).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .har import HarError, RecordedRequest, read_har
from .serve import BAD_INPUT, BadInput, check_upstream

if TYPE_CHECKING:
    from .console import Summary
    from .ledger import Ledger

__all__ = ["TOKENS", "main"]

TOKENS = {"token-1": "LD_API_TOKEN", "token-2": "LD_API_TOKEN_READONLY"}  # label -> variable


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m proxy.replay", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("har", type=Path, help="a HAR 1.2 file (as `python -m proxy --har`)")
    parser.add_argument("--base-url", required=True, help="the target's root, http(s)://host")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    parser.add_argument("--every", type=int, default=50, help="a summary line every N")
    return parser


def _tokens(requests: Sequence[RecordedRequest]) -> dict[str, str]:
    """Label -> token; `BadInput` when the recording needs the write token and it is not set."""
    needed = {r.credential for r in requests if r.credential is not None}
    if needed and not os.environ.get(TOKENS["token-1"]):
        raise BadInput(f"{TOKENS['token-1']} is not set: the recorded requests carried a token "
                       "and the replay needs one to send in its place")
    return {label: token for label, variable in TOKENS.items()
            if label in needed and (token := os.environ.get(variable))}


def _send(http: httpx.Client, base_url: str, recorded: RecordedRequest,
          tokens: dict[str, str]) -> tuple[httpx.Request, httpx.Response | None, str | None]:
    from contract_tests.network import InfrastructureError

    from .exchange import end_to_end

    headers = [(k, v) for k, v in end_to_end(recorded.headers)
               if k.lower() not in ("host", "content-length", "authorization")]
    if recorded.credential is not None:
        headers.append(("Authorization", tokens[recorded.credential]))
    # not `build_request`: the client's defaults and cookie jar must not add to the recording
    request = httpx.Request(recorded.method, base_url + recorded.path_and_query,
                            headers=headers, content=recorded.body)
    try:
        response = http.send(request)
        response.read()
        return request, response, None
    except (InfrastructureError, httpx.HTTPError) as exc:
        return request, None, f"{type(exc).__name__}: {exc}"


def replay(requests: Sequence[RecordedRequest], base_url: str, tokens: dict[str, str],
           ledger: Ledger, summary: Summary) -> int:
    """Send every request it can; returns how many were skipped for want of a token."""
    from contract_tests.network import RetryingTransport

    from .checker import Checker
    from .exchange import Credentials, Exchange

    credentials = Credentials()
    checker = Checker(ledger, on_violation=summary.violation)
    skipped = 0
    transport = RetryingTransport(httpx.HTTPTransport(retries=0))
    with httpx.Client(transport=transport, timeout=30.0, follow_redirects=False,
                      trust_env=False) as http:
        for index, recorded in enumerate(requests, 1):
            if recorded.credential is not None and recorded.credential not in tokens:
                skipped += 1
                continue
            started_at, clock = time.time(), time.perf_counter()
            request, response, failure = _send(http, base_url, recorded, tokens)
            checker.judge(Exchange.from_httpx(
                index, request, response, credentials, started_at,
                (time.perf_counter() - clock) * 1000, infrastructure=failure))
            summary.exchange()
    return skipped


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        requests = read_har(args.har)
    except HarError as exc:
        print(f"replay: {args.har} is not a usable HAR file: {exc}", file=sys.stderr)
        return BAD_INPUT
    try:
        tokens = _tokens(requests)
        base_url = check_upstream(args.base_url, option="--base-url")
    except BadInput as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return BAD_INPUT
    # imported once the input is known to be good (bad input is answered at once)
    from .console import Summary
    from .exchange import Credentials
    from .ledger import Ledger
    from .report import write_reports

    ledger = Ledger(base_url)
    summary = Summary(ledger, every=args.every)
    try:
        skipped = replay(requests, base_url, tokens, ledger, summary)
    finally:
        summary.close()
        ledger.finished_at = time.time()
        written = write_reports(ledger, args.reports_dir, "replay", "Replay conformance report",
                                Credentials().redact)
    if skipped:
        print(f"replay: {skipped} requests skipped: they carried a token the environment does "
              f"not give ({', '.join(TOKENS.values())})")
    print("replay: wrote " + ", ".join(map(str, written)))
    return 1 if ledger.violation_count else 0


if __name__ == "__main__":
    sys.exit(main())
