"""The conformance report of the traffic the proxy (or a replay) saw: `<name>.md` and
`<name>.json`, from a `Ledger`.

Operations × tiers, every violation with its rule (ids as in `generated.operations.RULES`, tier 1
named as the suite's Schemathesis checks) and the exchange that shows it (and the earlier one a
sequence rule compared it with), the infrastructure failures apart, and the coverage: which
operations, status codes and instruction kinds the traffic exercised, and which it never did.
The exchanges in it carry no credential (they are scrubbed when made); the text is scanned for
the known tokens once more before it is written.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from generated.operations import OPERATIONS, RULES

from . import tier1
from .files import write_atomically
from .ledger import Ledger, Violation

__all__ = ["as_json", "render_markdown", "write_reports"]


def _rule_summary(rule: str) -> str:
    if rule in RULES:
        return RULES[rule].summary
    return tier1.RULES.get(rule, rule)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "—"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def _operations(ledger: Ledger) -> list[str]:
    seen = {op for op, _ in ledger.judged}
    return [op for op in OPERATIONS if op in seen]


def as_json(ledger: Ledger) -> dict[str, Any]:
    """Everything the Markdown shows, as data."""
    statuses: dict[str, dict[str, int]] = {}
    for (operation, status), count in sorted(ledger.statuses.items()):
        statuses.setdefault(operation, {})[str(status)] = count
    instructions: dict[str, dict[str, dict[str, int]]] = {}
    for (operation, kind, outcome), count in sorted(ledger.instructions.items()):
        instructions.setdefault(operation, {}).setdefault(kind, {})[outcome] = count
    return {
        "target": ledger.target,
        "started": _when(ledger.started_at), "finished": _when(ledger.finished_at),
        "exchanges": ledger.exchanges,
        "exchanges_outside_the_operation_model": ledger.unmatched,
        "exchanges_not_judged_as_a_sequence": ledger.unordered,
        "violations": {"total": ledger.violation_count, "tier1": ledger.tier_count(1),
                       "tier2": ledger.tier_count(2), "by_rule": dict(ledger.by_rule),
                       "listed": [_violation_json(v, ledger.shown) for v in ledger.violations]},
        "operations": {op: {f"tier{t}": {"exchanges": ledger.judged[(op, t)],
                                         "violations": ledger.failed[(op, t)]} for t in (1, 2)}
                       for op in _operations(ledger)},
        "coverage": {
            "operations": {op: sum(n for (o, _), n in ledger.statuses.items() if o == op)
                           for op in OPERATIONS},
            "status_codes": statuses,
            "documented_status_codes_not_seen": {
                op: [c for c in OPERATIONS[op].status_codes if str(c) not in statuses.get(op, {})]
                for op in OPERATIONS},
            "instruction_kinds": instructions,
        },
        "infrastructure": {"total": ledger.infrastructure_count,
                           "by_reason": dict(ledger.infrastructure),
                           "exchanges": [ledger.shown[i] for i in ledger.infrastructure_events]},
    } | ({"proxy_overhead": ledger.overhead.as_json()} if ledger.overhead.count else {})


def _violation_json(violation: Violation, shown: Mapping[int, Any]) -> dict[str, Any]:
    return {"rule": violation.rule, "tier": violation.tier, "operation": violation.operation,
            "message": violation.message, "exchange": shown.get(violation.exchange),
            "compared_with": shown.get(violation.origin) if violation.origin else None}


def _cell(exchanges: int, violations: int) -> str:
    if not exchanges:
        return "·"
    return f"{exchanges} exchanges, **{violations} violations**" if violations else (
        f"{exchanges} exchanges, 0 violations")


def _fence(text: str, info: str = "") -> str:
    ticks = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def _exchange_lines(summary: Mapping[str, Any] | None) -> list[str]:
    if summary is None:
        return ["(the exchange is no longer in memory)"]
    lines = [f"{summary['method']} {summary['url']}  →  {summary['status']}"
             + (f"  (token: {summary['credential']})" if summary.get("credential") else
                "  (no Authorization header)")]
    if summary.get("request_body"):
        lines += [f"request ({summary.get('request_content_type')}):",
                  summary["request_body"]]
    if summary.get("response_body"):
        lines += [f"answer ({summary.get('response_content_type')}):", summary["response_body"]]
    if summary.get("infrastructure"):
        lines.append(f"infrastructure: {summary['infrastructure']}")
    return lines


def _overhead_row(overhead: Mapping[str, Any] | None) -> list[str]:
    if overhead is None:
        return []
    return [(f"| the proxy's own time per exchange | median {overhead['p50_ms']} ms, p99 "
             f"{overhead['p99_ms']} ms, max {overhead['max_ms']} ms (its upstream's excluded) |")]


def render_markdown(ledger: Ledger, title: str) -> str:
    data = as_json(ledger)
    out = [f"# {title}", "", "| | |", "| --- | --- |",
           f"| target | {ledger.target} |",
           f"| from | {data['started']} |", f"| to | {data['finished']} |",
           f"| exchanges | {ledger.exchanges} |",
           (f"| violations | {ledger.violation_count} (tier 1: {ledger.tier_count(1)}, "
           f"tier 2: {ledger.tier_count(2)}) |"),
           (f"| infrastructure failures | {ledger.infrastructure_count} (no answer from the API: "
           "not violations) |"),
           f"| outside the operation model | {ledger.unmatched} (passed on, not judged) |",
           f"| not judged as a sequence | {ledger.unordered} (overlapped another write) |",
           *_overhead_row(data.get("proxy_overhead")),
           "", "## Operations × tiers", "", "| operation | tier 1 (schema) | tier 2 (semantics) |",
           "| --- | --- | --- |"]
    for operation in _operations(ledger):
        out.append(f"| `{operation}` | " + " | ".join(
            _cell(ledger.judged[(operation, t)], ledger.failed[(operation, t)]) for t in (1, 2))
            + " |")
    out += ["", "## Rules", "", "| rule | tier | violations | what it says |",
            "| --- | ---: | ---: | --- |"]
    for rule in [*tier1.RULES, *RULES]:
        tier = RULES[rule].tier if rule in RULES else 1
        out.append(f"| `{rule}` | {tier} | {ledger.by_rule.get(rule, 0)} | "
                   f"{_rule_summary(rule).replace('|', '/')} |")
    out += _coverage(data["coverage"])
    out += ["", f"## Violations ({ledger.violation_count})", ""]
    if not ledger.violations:
        out.append("None.")
    for number, violation in enumerate(ledger.violations, 1):
        out += [(f"### {number}. `{violation.rule}` (tier {violation.tier}) in "
                f"`{violation.operation}`, exchange #{violation.exchange}"), "",
                violation.message, "", _fence("\n".join(
                    _exchange_lines(ledger.shown.get(violation.exchange))), "text"), ""]
        if violation.origin:
            out += [f"It contradicts exchange #{violation.origin}:", "", _fence("\n".join(
                _exchange_lines(ledger.shown.get(violation.origin))), "text"), ""]
    if len(ledger.violations) < ledger.violation_count:
        out.append(f"… and {ledger.violation_count - len(ledger.violations)} more (counted in "
                   "the tables above, not kept).")
    out += ["", f"## Infrastructure failures ({ledger.infrastructure_count})", "",
            ("Exchanges that got no answer from the API (the upstream unreachable, a timeout, a "
            "gateway's 502/503/504): they prove nothing about the contract."), ""]
    out += [f"- {reason}: {count}" for reason, count in sorted(ledger.infrastructure.items())]
    return "\n".join(out).rstrip() + "\n"


def _coverage(coverage: Mapping[str, Any]) -> list[str]:
    out = ["", "## Coverage: what the traffic exercised", "",
           "| operation | exchanges | status codes seen | documented, never seen |",
           "| --- | ---: | --- | --- |"]
    for operation, count in coverage["operations"].items():
        seen = ", ".join(f"{code} ×{n}" for code, n in coverage["status_codes"].get(
            operation, {}).items()) or "—"
        unseen = ", ".join(map(str, coverage["documented_status_codes_not_seen"][operation]))
        out.append(f"| `{operation}` | {count} | {seen} | {unseen or '—'} |")
    out += ["", "| operation | instruction kind | succeeded | failed |",
            "| --- | --- | ---: | ---: |"]
    for operation, kinds in coverage["instruction_kinds"].items():
        for kind, outcomes in kinds.items():
            out.append(f"| `{operation}` | `{kind}` | {outcomes.get('succeeded', 0)} | "
                       f"{outcomes.get('failed', 0)} |")
    never = [f"`{op}` `{kind}`" for op, operation in OPERATIONS.items()
             for kind in operation.instructions
             if kind not in coverage["instruction_kinds"].get(op, {})]
    out += ["", "Instruction kinds never seen in a 200 answer: " + (", ".join(never) or "none")
            + "."]
    return out


def write_reports(ledger: Ledger, directory: Path, name: str, title: str,
                  redact: Callable[[str], str]) -> list[Path]:
    """`<name>.md` and `<name>.json` in `directory`, each written whole."""
    markdown = redact(render_markdown(ledger, title))
    document = redact(json.dumps(as_json(ledger), indent=1, ensure_ascii=False) + "\n")
    return [write_atomically(directory / f"{name}.md", markdown),
            write_atomically(directory / f"{name}.json", document)]
