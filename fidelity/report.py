"""The fidelity report: `fidelity.md` and `fidelity.json`, and the lines the command prints.

Per operation and overall, the share of exchanges identical after normalisation; every
difference side by side (aspect, the mock's value, the target's), classified, with the policy
setting behind each open point; the settings as a `policy:` block for the mock's configuration
and the fidelity the mock reaches with them; the contract violations each side showed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from proxy.files import write_atomically

from .compare import Compared, Comparison

__all__ = ["as_json", "render_markdown", "summary_lines", "write_reports"]

VALUE_WIDTH = 300


def _percent(identical: int, compared: int) -> str:
    return f"{100 * identical / compared:.1f} %" if compared else "—"


def _policy_block(comparison: Comparison) -> str | None:
    attribution = comparison.attribution
    if attribution is None or not attribution.settings:
        return None
    return "policy:\n" + "\n".join(f"  {s.key}: {s.value}" for s in attribution.settings)


def summary_lines(comparison: Comparison, meta: dict[str, Any]) -> list[str]:
    mock, target = comparison.sides
    lines = [(f"fidelity: {mock} (the kit's mock, policy {meta['policy']}) against {target}; "
             f"seed {meta['seed']}")]
    for operation, (same, compared) in comparison.fidelity().items():
        lines.append(f"fidelity: {operation}: {same}/{compared} identical "
                     f"({_percent(same, compared)})")
    same, compared = comparison.overall()
    lines.append(f"fidelity: overall {same}/{compared} exchanges identical "
                 f"({_percent(same, compared)})")
    lines.append(f"fidelity: {comparison.count('contract violation')} differences where a side "
                 f"breaks the contract (tier 1-2), {comparison.count('open point')} open points "
                 f"(tier 3), {comparison.count('unexplained')} that no policy setting reproduces")
    attribution = comparison.attribution
    if attribution is not None and attribution.settings:
        after = comparison.after or (0, 0)
        lines.append("fidelity: the mock answers as the target with policy "
                     + ", ".join(map(str, attribution.settings))
                     + f": {_percent(*after)} identical with them "
                     f"({attribution.runs} in-process runs to find them)")
    for name, reason in comparison.stopped.items():
        lines.append(f"fidelity: {name} stopped early: {reason}")
    for name, left in comparison.leftovers.items():
        lines.append(f"fidelity: could not delete on {name}: {', '.join(left)} (delete by hand)")
    return lines


def _compared_json(exchange: Compared) -> dict[str, Any]:
    return {"label": exchange.label, "operation": exchange.operation,
            "request": exchange.request, "verdict": exchange.verdict,
            "settings": [str(s) for s in exchange.settings],
            "violations": {k: list(v) for k, v in exchange.violations.items()},
            "differences": [{"aspect": d.aspect, "mock": d.left, "target": d.right}
                            for d in exchange.differences]}


def as_json(comparison: Comparison, meta: dict[str, Any]) -> dict[str, Any]:
    same, compared = comparison.overall()
    attribution = comparison.attribution
    return {
        **meta, "mock": comparison.sides[0], "target": comparison.sides[1],
        "fidelity": {"overall": {"identical": same, "compared": compared},
                     "operations": {op: {"identical": s, "compared": n}
                                    for op, (s, n) in comparison.fidelity().items()}},
        "counts": {v: comparison.count(v) for v in ("identical", "contract violation",
                                                      "open point", "unexplained", "not run")},
        "settings": {s.key: s.value for s in attribution.settings} if attribution else {},
        "fidelity_with_settings": ({"identical": comparison.after[0],
                                    "compared": comparison.after[1]}
                                   if comparison.after else None),
        "attribution_runs": attribution.runs if attribution else 0,
        "exchanges": [_compared_json(e) for e in comparison.exchanges],
        "violations": {side: [{"rule": v.rule, "tier": v.tier, "operation": v.operation,
                               "message": v.message} for v in found]
                       for side, found in comparison.violations.items()},
        "stopped": comparison.stopped, "leftovers": comparison.leftovers,
    }


def _cut(value: str) -> str:
    value = value.replace("|", "\\|").replace("\n", " ")
    return f"`{value[:VALUE_WIDTH]}`" + (" …" if len(value) > VALUE_WIDTH else "")


def render_markdown(comparison: Comparison, meta: dict[str, Any]) -> str:
    mock, target = comparison.sides
    same, compared = comparison.overall()
    out = ["# Mock fidelity report", "", "| | |", "| --- | --- |",
           f"| the kit's mock | {mock} (policy {meta['policy']}) |", f"| target | {target} |",
           f"| seed | {meta['seed']} (`--seed {meta['seed']}` repeats the plan) |",
           (f"| fidelity | **{_percent(same, compared)}** ({same} of {compared} exchanges "
           "identical after normalisation) |")]
    if comparison.after:
        out.append(f"| with the settings below | {_percent(*comparison.after)} |")
    out += ["", "## Fidelity per operation", "", "| operation | identical | compared | fidelity |",
            "| --- | ---: | ---: | ---: |"]
    out += [f"| `{op}` | {s} | {n} | {_percent(s, n)} |"
            for op, (s, n) in comparison.fidelity().items()]
    block = _policy_block(comparison)
    out += ["", "## Mock policy settings that reproduce the target", ""]
    out += ([("Add this to the mock's configuration (`mock_server/policy.py`, docs/mock-server.md"
             ", \"Reference policy\"):"), "", "```yaml", block, "```"] if block else
            ["None needed." if not comparison.count("open point") else "None found."])
    differing = [e for e in comparison.exchanges if e.verdict not in ("identical",)]
    out += ["", f"## Differences ({len(differing)})", "",
            ("Each exchange that is not identical after normalisation: *contract violation* "
            "(a side breaks tier 1-2; the rules are listed), *open point* (tier 3: an answer "
            "the documents allow; the setting makes the mock give it), *unexplained* (no "
            "policy setting reproduces it), *not run* (one side stopped first)."), ""]
    for exchange in differing:
        out += [f"### {exchange.label}", "", f"`{exchange.request}` ({exchange.operation}): "
                f"**{exchange.verdict}**"
                + (f"; setting: {', '.join(f'`{s}`' for s in exchange.settings)}"
                   if exchange.settings else "")
                + "".join(f"; {side} breaks {', '.join(rules)}"
                          for side, rules in exchange.violations.items()), ""]
        if exchange.differences:
            out += [f"| aspect | {mock} | {target} |", "| --- | --- | --- |"]
            out += [f"| {d.aspect} | {_cut(d.left)} | {_cut(d.right)} |"
                    for d in exchange.differences]
            out.append("")
    out += ["## Contract violations on each side", ""]
    for side, found in comparison.violations.items():
        out.append(f"- {side}: {len(found)}" + (": " + ", ".join(sorted({v.rule for v in found}))
                                                if found else ""))
    for name, reason in comparison.stopped.items():
        out += ["", f"{name} stopped early: {reason}"]
    return "\n".join(out).rstrip() + "\n"


def write_reports(comparison: Comparison, meta: dict[str, Any], directory: Path,
                  redact: Callable[[str], str]) -> list[Path]:
    return [write_atomically(directory / "fidelity.md",
                             redact(render_markdown(comparison, meta))),
            write_atomically(directory / "fidelity.json", redact(json.dumps(
                as_json(comparison, meta), indent=1, ensure_ascii=False, default=str) + "\n"))]
