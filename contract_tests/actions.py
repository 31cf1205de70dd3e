"""Writes the tier-2 tests need before the request under test: clear and seed schedules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generated.client import Client

from .checks import ContractViolation, check_200_with_errors
from .families import FAMILIES, Family
from .observe import call, read_schedules
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
    """Remove every schedule of the resource, so each example starts from nothing."""
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
