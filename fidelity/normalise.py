"""What of an answer is compared, once what must differ between two servers is made alike.

Made alike: each side's run prefix (every key it created) and its flags' variation ids become
placeholders; ids (`_id`), server-set dates and seeds (`creationDate`, `lastModifiedDate`,
`lastModified`, `salt`, `sel`) and `_links` are blanked; so are error messages, which the
documents leave to the server (their `code` is compared). Compared: the status, the
Content-Type, whether rate-limit headers are present (`Retry-After`, any `X-Ratelimit-*`:
which window a server reports, global or per route, is its own), and the body, split into
*aspects* -- every leaf by its path; a list of schedules by which schedules it holds, their
order, and each schedule's fields; and whether integers are spelt as decimals (`1.0`).
Aspects keep apart what different answers of the documents change, so that a difference can
be traced to the one policy setting behind it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contract_tests.families import schedule_key
from proxy.exchange import NOT_JSON, Exchange

__all__ = ["ABSENT", "Difference", "Substitutions", "aspects", "differences"]

ABSENT = "<absent>"
BLANKED = frozenset({"_id", "creationDate", "lastModifiedDate", "lastModified", "salt", "sel",
                     "_links"})
FREE_TEXT = frozenset({"message"})
RATE_LIMIT_HEADERS = frozenset({"retry-after"})


@dataclass(frozen=True)
class Substitutions:
    """A side's own values and the placeholder each becomes (longest first)."""

    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> Substitutions:
        return cls(tuple(sorted(pairs, key=lambda p: -len(p[0]))))

    def apply(self, text: str) -> str:
        for value, placeholder in self.pairs:
            text = text.replace(value, placeholder)
        return text


@dataclass(frozen=True)
class Difference:
    aspect: str
    left: str
    right: str


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


class _Normaliser:
    def __init__(self, substitutions: Substitutions) -> None:
        self.substitutions = substitutions
        self.decimals = False

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "<blanked>" if k in BLANKED or (k in FREE_TEXT and isinstance(v, str))
                    else self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.substitutions.apply(value)
        if isinstance(value, float) and value.is_integer():
            self.decimals = True
            return int(value)
        return value


def _is_schedule_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(item, dict) and "expirationDate" in item for item in value)


def _schedule_name(item: Mapping[str, Any]) -> str:
    kind, key, where = schedule_key(item)
    resource = (item.get("_resourceId") or {}).get("key")
    return f"{kind}:{key}:{where}" + (f"@{resource}" if resource else "")


def _flatten(value: Any, path: str, out: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(inner, f"{path}.{key}" if path else key, out)
    elif _is_schedule_list(value):
        names = [_schedule_name(item) for item in value]
        out[f"{path}: which schedules"] = _canonical(sorted(names))
        if len(names) > 1:
            out[f"{path}: order"] = _canonical(names)
        for name, item in zip(names, value, strict=True):
            _flatten(item, f"{path}[{name}]", out)
    else:
        out[path or "body"] = _canonical(value)


def aspects(exchange: Exchange, substitutions: Substitutions) -> dict[str, str]:
    """Every compared aspect of the answer, made alike."""
    out = {"status": str(exchange.status) if exchange.status is not None else "no answer"}
    content_type = (exchange.response_header("content-type") or "").replace(" ", "").lower()
    out["Content-Type"] = content_type or ABSENT
    limits = sorted({"x-ratelimit-*" if n.startswith("x-ratelimit-") else n
                     for n, _ in exchange.response_headers
                     if n in RATE_LIMIT_HEADERS or n.startswith("x-ratelimit-")})
    out["rate-limit headers"] = ", ".join(limits) or ABSENT
    body = exchange.response_json
    if body is NOT_JSON:
        if exchange.response_body:
            out["body"] = substitutions.apply(exchange.response_body.decode("utf-8", "replace"))
        return out
    normaliser = _Normaliser(substitutions)
    _flatten(normaliser.value(body), "", out)
    out["integers spelt as"] = "decimals (1.0)" if normaliser.decimals else "integers"
    return out


def differences(left: Mapping[str, str], right: Mapping[str, str]) -> list[Difference]:
    return [Difference(aspect, left.get(aspect, ABSENT), right.get(aspect, ABSENT))
            for aspect in sorted(set(left) | set(right))
            if left.get(aspect, ABSENT) != right.get(aspect, ABSENT)]
