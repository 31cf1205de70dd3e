"""Repro scripts: one bash script per contract failure that makes it happen again.

A script replays, against ``$BASE_URL`` (default: the run's target), what the failing request
needed and the request itself:

1. *provision* — the setup writes the suite's fixtures sent and the creates (`Recorder.
   setup_writes`) that made the resources the failing example touched, found by following
   the identifiers the run made up (every key it creates starts with the run id): the
   example's requests name keys, the setup writes that name one of them are needed, and the
   keys those name too. The run id is replaced by a fresh ``$RUN``, so the script makes
   uniquely named copies and never touches the run's own (or anyone else's) resources;
2. *prepare* — the failing example's own writes before the failing request;
3. the *failing* request, whose answer it prints, then the *reads* the test made after it;
4. on exit (also on failure or Ctrl-C, a ``trap``) it deletes every resource it created.

Each request carries the same kind of credential as in the run (`Credential`): the variables
``$LD_API_TOKEN`` / ``$LD_API_TOKEN_READONLY``, or a named stand-in for a made-up token, or none;
a token is never written into a script.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from ..recorder import Exchange
from .model import Repro

__all__ = ["RUN_PLACEHOLDER", "Capture", "Step", "choose", "script_steps", "split"]

RUN_PLACEHOLDER = "@RUN@"  # where a script puts its fresh run id


def split(exchanges: Sequence[Exchange]) -> tuple[tuple[Exchange, ...], Exchange,
                                                   tuple[Exchange, ...]] | None:
    """(before, the request under test, after): the request under test is the last write (a
    test's reads come after what they check), or the last request when nothing was written."""
    if not exchanges:
        return None
    writes = [i for i, e in enumerate(exchanges) if e.is_write]
    at = writes[-1] if writes else len(exchanges) - 1
    return tuple(exchanges[:at]), exchanges[at], tuple(exchanges[at + 1:])


def choose(recent: Sequence[Exchange], setup_writes: Sequence[Exchange],
           run_id: str | None) -> Repro | None:
    """What a script for a failure of the running test case replays (the module docstring)."""
    parts = split(list(recent))
    if parts is None:
        return None
    before, failing, after = parts
    setup = {id(e) for e in setup_writes}
    prepare = tuple(e for e in before if e.is_write and id(e) not in setup)
    mine = {id(failing), *(id(e) for e in after)}
    candidates = [e for e in setup_writes if id(e) not in mine]
    named = [_identifiers(e, run_id) for e in candidates]
    wanted = set().union(*(_identifiers(e, run_id) for e in (*before, failing, *after)))
    chosen: set[int] = set()
    grown = True
    while grown:  # follow the keys until no further setup write names one of them
        grown = False
        for index, names in enumerate(named):
            if index not in chosen and names & wanted:
                chosen.add(index)
                wanted |= names
                grown = True
    provision = tuple(candidates[i] for i in sorted(chosen))
    return Repro(provision, prepare, failing, after, run_id)


def _identifiers(exchange: Exchange, run_id: str | None) -> set[str]:
    """The run's made-up keys an exchange names."""
    return {w for w in _words(exchange) if w.startswith(run_id)} if run_id else set()


def _words(exchange: Exchange) -> set[str]:
    """What an exchange's request names: its path segments and the strings of its JSON body."""
    words = [unquote(part) for part in urlsplit(exchange.url).path.split("/")]
    return set(words + _strings(_json(exchange.body)))


def _json(content: bytes | str) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# -- what a script says, step by step (templates/repro.sh.jinja renders it) --------------------


MIN_GENERATED = 8  # shorter strings of a create's answer are not taken for ids it made


@dataclass(frozen=True)
class Capture:
    """An id the server made when it created something (a flag's variation ids), which later
    requests use: the script reads it from its own create's answer, at `path`."""

    placeholder: str  # e.g. @ID1@
    path: tuple[str | int, ...]


@dataclass(frozen=True)
class Step:
    """One request of a script; every text is as the script must write it, with the run id and
    the server-made ids replaced by placeholders."""

    role: str  # provision | prepare | failing | after
    method: str
    path: str  # with query; percent-encoded as sent
    credential: str  # writer | readonly | unknown | none
    content_type: str  # "" when none was sent
    body_text: str | None  # a UTF-8 body (None: see body_base64)
    body_base64: str | None  # a body that is not text, or None: no body
    creates: str  # the path of what a create makes (deleted on exit), or ""
    recorded_status: int | None
    captures: tuple[Capture, ...] = ()  # ids to read from this request's answer

    @property
    def operation(self) -> str:
        return f"{self.method} {self.path}"


def script_steps(repro: Repro) -> list[Step]:
    """The script's requests in order: provision, prepare, the failing one, the reads after."""
    exchanges = [*(("provision", e) for e in repro.provision),
                 *(("prepare", e) for e in repro.prepare), ("failing", repro.failing),
                 *(("after", e) for e in repro.after)]
    names = {repro.run_id: RUN_PLACEHOLDER} if repro.run_id else {}
    captures: dict[int, list[Capture]] = {}
    for index, (role, exchange) in enumerate(exchanges):
        if role != "provision" or exchange.method != "POST":
            continue
        later = set().union(*(_words(e) for _, e in exchanges[index + 1:]))
        for path, value in _generated(exchange, repro.run_id):
            if value in later and value not in names:
                names[value] = f"@ID{len(names)}@"
                captures.setdefault(index, []).append(Capture(names[value], path))
    return [_step(role, exchange, names, tuple(captures.get(index, ())))
            for index, (role, exchange) in enumerate(exchanges)]


def _generated(create: Exchange, run_id: str | None) -> list[tuple[tuple[str | int, ...], str]]:
    """Strings of a create's answer that its request did not send: what the server made."""
    sent = set(_strings(_json(create.body)))
    return [(path, value) for path, value in _leaves(_json(create.response_excerpt), ())
            if len(value) >= MIN_GENERATED and value not in sent
            and not (run_id and run_id in value)]


def _leaves(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))]
    return []


def _renamed(text: str, names: dict[str, str]) -> str:
    for name, placeholder in names.items():
        text = text.replace(name, placeholder)
    return text


def _step(role: str, exchange: Exchange, names: dict[str, str],
          captures: tuple[Capture, ...]) -> Step:
    parts = urlsplit(exchange.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    text: str | None = None
    encoded: str | None = None
    if exchange.body:
        try:
            text = exchange.body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or "\x00" in text:
            text, encoded = None, base64.b64encode(exchange.body).decode()
    return Step(
        role=role, method=exchange.method, path=_renamed(path, names),
        credential=exchange.credential or "none",
        content_type=exchange.header("content-type") or "",
        body_text=_renamed(text, names) if text is not None else None, body_base64=encoded,
        creates=_renamed(_created_path(exchange, parts.path), names),
        recorded_status=exchange.status, captures=captures,
    )


def _created_path(exchange: Exchange, path: str) -> str:
    """A create's resource path (the collection's path and the new key), else "" — so a
    script deletes it on exit, also when a create that should have been refused was not."""
    if exchange.method != "POST" or exchange.operation is None:
        return ""
    body = _json(exchange.body)
    key = body.get("key") if isinstance(body, dict) else None
    return f"{path}/{quote(key, safe='')}" if isinstance(key, str) else ""
