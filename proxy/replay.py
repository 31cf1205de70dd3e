"""``python -m proxy.replay HAR --base-url URL [--token LABEL=VARIABLE ...]``: send a recorded HAR
file's requests again, in order, to a target (the kit's mock, staging, ...), and judge the
answers as the proxy does.

Each request goes to the same path and query on `URL`, with its recorded headers and body. The
recording holds no token, only its label (`proxy.tokens`); the replay sends a token of its own in
the recorded spelling (``Bearer`` or bare): ``LD_API_TOKEN`` for `writer`,
``LD_API_TOKEN_READONLY`` for `reader`, and for an opaque `token-N` only what ``--token
token-N=VARIABLE`` says. It never guesses which token an opaque label stood for: a guess could
send a request with more privilege than it was recorded with. A request whose label has no token
is skipped and counted, and the summary names the labels and how to map them. 429s are waited
out and network failures retried as the suite does (`contract_tests.network`); what still fails
is infrastructure. Writes ``<reports-dir>/replay.md`` and ``replay.json``; exit status 1 when the
answers showed violations, 2 on bad input (one line, before any request is sent).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .har import HarError, RecordedRequest, read_har
from .serve import BAD_INPUT, BadInput, check_upstream
from .tokens import OPAQUE, ROLES

if TYPE_CHECKING:
    from .console import Summary
    from .ledger import Ledger

__all__ = ["main"]

VARIABLES = " or ".join(ROLES.values())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m proxy.replay", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("har", type=Path, help="a HAR 1.2 file (as `python -m proxy --har`)")
    parser.add_argument("--base-url", required=True, help="the target's root, http(s)://host")
    parser.add_argument("--token", action="append", default=[], metavar="LABEL=VARIABLE",
                        help=f"send the token of VARIABLE ({VARIABLES}) for the opaque label "
                        "LABEL (token-N) of the recording; repeatable")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    parser.add_argument("--every", type=int, default=50, help="a summary line every N")
    return parser


def _variables(mappings: Sequence[str]) -> dict[str, str]:
    """Label -> variable: the roles' own and the user's for opaque labels; `BadInput` naming
    the first bad mapping."""
    variables = dict(ROLES)
    for mapping in mappings:
        label, _, variable = mapping.partition("=")
        given = f"--token {mapping!r}"
        if not OPAQUE.fullmatch(label):
            raise BadInput(f"{given}: give LABEL=VARIABLE with LABEL an opaque label of the "
                           "recording (token-1, token-2, ...); " + ", ".join(
                               f"{role} is always {variable}" for role, variable in ROLES.items()))
        if variable not in ROLES.values():
            raise BadInput(f"{given}: give LABEL=VARIABLE with VARIABLE {VARIABLES}")
        if variables.setdefault(label, variable) != variable:
            raise BadInput(f"{given}: {label} is mapped to {variables[label]} already: map it "
                           "once")
        if not os.environ.get(variable):
            raise BadInput(f"{given}: {variable} is not set: set it to the token to send for "
                           f"{label}")
    return variables


def _tokens(requests: Sequence[RecordedRequest], variables: Mapping[str, str]) -> dict[str, str]:
    """Label -> token to send; `BadInput` when the recording has `writer` requests and the
    write token is not set (as the suite, the replay needs it)."""
    needed = {r.credential.label for r in requests if r.credential is not None}
    writer = ROLES["writer"]
    if "writer" in needed and not os.environ.get(writer):
        raise BadInput(f"{writer} is not set: the recording has requests made with the write "
                       "token (writer) and the replay needs one to send in their place")
    return {label: token for label, variable in variables.items()
            if label in needed and (token := os.environ.get(variable))}


def _skipped_line(skipped: Counter[str], variables: Mapping[str, str]) -> str:
    """How many requests were skipped, for which labels, and what to set or map to send them."""
    parts = [f"{label} ({count}): {variables[label]} is not set"
             for label, count in skipped.items() if label in variables]
    unmapped = [label for label in skipped if label not in variables]
    if unmapped:
        parts.append(
            f"unmapped {', '.join(f'{label} ({skipped[label]})' for label in unmapped)}: map "
            f"each that was a write or read-only token to its variable, e.g. --token "
            f"{unmapped[0]}={ROLES['reader']} (make replay TOKENS='{unmapped[0]}=...')")
    return f"replay: {skipped.total()} requests skipped, no token to send: " + "; ".join(parts)


def _send(http: httpx.Client, base_url: str, recorded: RecordedRequest,
          tokens: dict[str, str]) -> tuple[httpx.Request, httpx.Response | None, str | None]:
    from contract_tests.network import InfrastructureError

    from .exchange import end_to_end

    headers = [(k, v) for k, v in end_to_end(recorded.headers)
               if k.lower() not in ("host", "content-length", "authorization")]
    if recorded.credential is not None:
        headers.append(("Authorization",
                        recorded.credential.header(tokens[recorded.credential.label])))
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
           ledger: Ledger, summary: Summary) -> Counter[str]:
    """Send every request it can; returns how many were skipped per label without a token."""
    from contract_tests.network import RetryingTransport

    from .checker import Checker
    from .exchange import Credentials, Exchange

    credentials = Credentials()
    checker = Checker(ledger, on_violation=summary.violation)
    skipped: Counter[str] = Counter()
    transport = RetryingTransport(httpx.HTTPTransport(retries=0))
    with httpx.Client(transport=transport, timeout=30.0, follow_redirects=False,
                      trust_env=False) as http:
        for index, recorded in enumerate(requests, 1):
            if recorded.credential is not None and recorded.credential.label not in tokens:
                skipped[recorded.credential.label] += 1
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
        variables = _variables(args.token)
        tokens = _tokens(requests, variables)
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
        print(_skipped_line(skipped, variables))
    print("replay: wrote " + ", ".join(map(str, written)))
    return 1 if ledger.violation_count else 0


if __name__ == "__main__":
    sys.exit(main())
