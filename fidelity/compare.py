"""The comparison of two sides' runs of one plan: exchange by exchange, every difference
classified, and the fidelity figures.

A differing exchange is a *contract violation* (tier 1-2) when the proxy's checks -- the same
ones, over each side's exchanges in order -- find a violation in it on either side; otherwise
it is an *open point* (tier 3), with the mock policy settings that make the mock answer as the
target does (`attribute`), or *unexplained* when no setting does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mock_server.policy import Policy
from proxy.checker import Checker
from proxy.exchange import Exchange
from proxy.ledger import Ledger, Violation
from proxy.routing import route

from .attribute import Attribution, Setting, attribute
from .normalise import Difference, aspects, differences
from .side import SideRun

__all__ = ["Compared", "Comparison", "compare", "side_aspects"]

Aspects = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Compared:
    label: str
    operation: str
    request: str  # method and path, made alike
    verdict: str  # identical, contract violation, open point, unexplained, not run
    differences: tuple[Difference, ...] = ()
    violations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # side -> rules
    settings: tuple[Setting, ...] = ()


@dataclass
class Comparison:
    sides: tuple[str, str]  # (the mock, the target)
    exchanges: list[Compared]
    violations: dict[str, list[Violation]]
    attribution: Attribution | None = None
    after: tuple[int, int] | None = None  # identical / compared once the settings apply
    stopped: dict[str, str] = field(default_factory=dict)
    leftovers: dict[str, list[str]] = field(default_factory=dict)

    def fidelity(self) -> dict[str, tuple[int, int]]:
        """Per operation: exchanges identical after normalisation, of those compared."""
        identical, compared = Counter[str](), Counter[str]()
        for exchange in self.exchanges:
            if exchange.verdict != "not run":
                compared[exchange.operation] += 1
                identical[exchange.operation] += exchange.verdict == "identical"
        return {op: (identical[op], compared[op]) for op in compared}

    def overall(self) -> tuple[int, int]:
        figures = self.fidelity().values()
        return sum(i for i, _ in figures), sum(n for _, n in figures)

    def count(self, verdict: str) -> int:
        return sum(e.verdict == verdict for e in self.exchanges)


def side_aspects(run: SideRun) -> Aspects:
    substitutions = run.substitutions()
    return {item.label: aspects(item.exchange, substitutions) for item in run.exchanges}


def _violations(name: str, run: SideRun) -> tuple[dict[str, tuple[str, ...]], list[Violation]]:
    """The proxy's checks over the side's exchanges: rules broken, by label."""
    checker = Checker(Ledger(name))
    by_label, found = {}, []
    for item in run.exchanges:
        violations = checker.judge(item.exchange)
        found += violations
        if violations:
            by_label[item.label] = tuple(dict.fromkeys(v.rule for v in violations))
    return by_label, found


def compare(names: tuple[str, str], mock: SideRun, target: SideRun, base: Policy,
            run_mock: Callable[[Policy], Aspects]) -> Comparison:
    """`run_mock(policy)`: the plan's aspects from the kit's mock under that policy (for the
    attribution; only called when there are differences without a violation)."""
    left, right = side_aspects(mock), side_aspects(target)
    (left_rules, left_found), (right_rules, right_found) = (_violations(names[0], mock),
                                                            _violations(names[1], target))
    exchanges = {item.label: item.exchange for item in mock.exchanges}
    pending: list[tuple[str, list[Difference], dict[str, tuple[str, ...]]]] = []
    for label in exchanges:
        rules = {n: r[label] for n, r in zip(names, (left_rules, right_rules), strict=True)
                 if label in r}
        pending.append((label, differences(left[label], right[label]) if label in right
                        else [], rules))
    attribution = None
    if any(diffs and not rules for _, diffs, rules in pending):
        attribution = attribute(base, right, run_mock)
    alike = mock.substitutions()
    compared = [_classify(label, exchanges[label], alike.apply(
        f"{exchanges[label].method} {exchanges[label].path}"), label in right, diffs, rules,
        attribution) for label, diffs, rules in pending]
    comparison = Comparison(names, compared, {names[0]: left_found, names[1]: right_found},
                            attribution)
    if attribution is not None and attribution.settings:
        after = run_mock(attribution.found)
        same = sum(not differences(after.get(label, {}), right[label]) for label in right)
        comparison.after = (same, len(right))
    for name, run in zip(names, (mock, target), strict=True):
        if run.stopped:
            comparison.stopped[name] = run.stopped
        if run.leftovers:
            comparison.leftovers[name] = run.leftovers
    return comparison


def _classify(label: str, exchange: Exchange, request: str, both: bool,
              diffs: list[Difference], rules: dict[str, tuple[str, ...]],
              attribution: Attribution | None) -> Compared:
    found = route(exchange.method, exchange.path)
    operation = found.operation.operation_id if found else "(outside the operation model)"
    if not both:
        return Compared(label, operation, request, "not run", violations=rules)
    if not diffs:
        return Compared(label, operation, request, "identical", violations=rules)
    if rules:
        return Compared(label, operation, request, "contract violation", tuple(diffs), rules)
    explained = attribution.explained if attribution else {}
    settings = tuple(sorted({s for d in diffs for s in explained.get((label, d.aspect), ())}))
    verdict = "open point" if all((label, d.aspect) in explained for d in diffs) else \
        "unexplained"
    return Compared(label, operation, request, verdict, tuple(diffs), rules, settings)
