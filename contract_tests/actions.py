"""Writes the tier-2 tests need before the request under test: clear and seed schedules."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from generated.client import Client

from .checks import ContractViolation, check_200_with_errors
from .families import FAMILIES, Family
from .observe import call, read_schedules
from .plans import DAY_MS
from .provisioning import Provisioned, Slot

__all__ = ["context_family", "patch", "reset_schedules", "schedule_slots"]


def context_family(family: Family) -> Family:
    """The context PATCH of the resource `family` writes to (it can address every schedule)."""
    (found,) = (f for f in FAMILIES.values()
                if f.operation.path == family.state_get.path)
    return found


def patch(client: Client, family: Family, p: Provisioned, instructions: list[dict[str, Any]],
          path_params: dict[str, str] | None = None,
          body_extras: Mapping[str, Any] | None = None) -> Any:
    """Send a semantic patch; `body_extras`: the body's other properties (`comment`, unknown
    ones), as a request under test may carry them."""
    return call(client, family.operation, **(path_params or family.path_params(p)),
                body={**(body_extras or {}), "instructions": instructions})


def _require_all_succeeded(response: Any, sent: int, what: str) -> None:
    body = check_200_with_errors(response, sent)
    if body.get("errors"):
        raise ContractViolation("successful-take-effect", f"{what}: {body['errors']}")


def reset_schedules(client: Client, family: Family, p: Provisioned) -> None:
    """Remove every schedule of the resource, so each example starts from nothing, and see
    that it did: a server whose removes report success and change nothing is named here, at
    the removes, and not by whichever later instruction meets the leftovers (nor as
    Hypothesis' "inconsistent data" when its replay of an example starts from them)."""
    owner = context_family(family)
    schedules = read_schedules(client, owner, p)
    if not schedules:
        return
    instructions = [
        {"kind": owner.remove.name,
         **owner.address(Slot(kind, key, **_where(owner, where)), p, owner.remove)}
        for kind, key, where in schedules
    ]
    _require_all_succeeded(patch(client, owner, p, instructions), len(instructions),
                           "removing schedules before an example")
    left = read_schedules(client, owner, p)
    if left:
        _show_removes_stay(client, owner, p, set(left))
        raise ContractViolation(
            "successful-take-effect",
            f"{len(instructions)} {owner.remove.name} instructions all succeeded, and GET "
            f"{owner.state_get.operation_id} right after still shows {len(left)} of those "
            f"schedules: {dict(sorted(left.items()))}")


def _show_removes_stay(client: Client, owner: Family, p: Provisioned, left: set[Any]) -> None:
    """Removes that stayed, shown again from start to end on a slot nothing scheduled (when
    there is one): a schedule, its remove, the GET. The failure's repro script replays the
    example's own writes, so this way it shows the bug by itself, where the leftovers came
    from an earlier example."""
    free = next((s for s in owner.slots(p) if owner.key_of(s) not in left), None)
    if free is None:
        return
    schedule_slots(client, owner, p, [free], [int(time.time() * 1000) + 30 * DAY_MS])
    remove = {"kind": owner.remove.name, **owner.address(free, p, owner.remove)}
    _require_all_succeeded(patch(client, owner, p, [remove]), 1,
                           "removing a schedule it had just made")
    shown = read_schedules(client, owner, p)
    if owner.key_of(free) in shown:
        raise ContractViolation(
            "successful-take-effect",
            f"a {owner.remove.name} of {owner.key_of(free)} succeeded, and GET "
            f"{owner.state_get.operation_id} right after still shows its schedule "
            f"{shown[owner.key_of(free)]} (the schedules of earlier examples stayed too: "
            f"{sorted(left)})")


def schedule_slots(client: Client, family: Family, p: Provisioned, slots: list[Slot],
                   dates: list[int]) -> None:
    """Schedule removals through the family's own add kind (the state an example starts in)."""
    if not slots:
        return
    instructions = [{"kind": family.add.name, **family.address(s, p, family.add), "value": d}
                    for s, d in zip(slots, dates, strict=True)]
    _require_all_succeeded(patch(client, family, p, instructions), len(instructions),
                           "scheduling the example's starting state")


def _where(family: Family, where: str) -> dict[str, Any]:
    return {"target_type": where} if family.resource == "segment" else {"variation_id": where}
