"""How each semantic-patch operation addresses schedules, read from the generated metadata.

The instruction kinds, their required and optional fields and whose version an update checks
all come from `generated.operations`; this module only knows what the field *names* mean
(`userKey` is a context key of kind user, `targetType` names a segment list, ...) so that it can
fill them from a provisioned slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from generated.operations import OPERATIONS, SEMANTIC_PATCH_MEDIA_TYPE, InstructionKind, Operation

from .provisioning import Provisioned, Slot
from .schema import bundle, instruction_schema

__all__ = ["FAMILIES", "Family", "ScheduleKey", "schedule_key"]

Resource = Literal["segment", "flag", "user"]
ScheduleKey = tuple[str, str, str]  # (context kind, context key, target type | variation id)


def _kind(op: Operation, action: str) -> InstructionKind:
    """The operation's one instruction kind with this action (the spec's x-semantic-patch)."""
    (found,) = (k for k in op.instructions.values() if k.action == action)
    return found


def _body_schema(op: Operation) -> dict[str, Any]:
    """The request schema of a semantic-patch operation's body."""
    name = op.request_schemas[SEMANTIC_PATCH_MEDIA_TYPE]
    assert name is not None
    return bundle()["components"]["schemas"][name]  # type: ignore[no-any-return]


def _get_for(op: Operation) -> Operation:
    (found,) = (o for o in OPERATIONS.values() if o.path == op.path and o.method == "GET")
    return found


@dataclass(frozen=True)
class Family:
    operation: Operation
    get: Operation  # same path
    state_get: Operation  # lists all the resource's schedules (contexts)
    resource: Resource
    add: InstructionKind
    update: InstructionKind
    remove: InstructionKind

    @property
    def users_only(self) -> bool:
        return "userKey" in self.remove.required or self.resource == "user"

    @property
    def free_form(self) -> bool:
        """Whether the instruction schema leaves `kind` open (unknown kinds fail, not 400)."""
        kind = instruction_schema(self.operation).get("properties", {}).get("kind", {})
        return "enum" not in kind and "$ref" not in kind

    @property
    def open_instructions(self) -> bool:
        """Whether an instruction may carry properties its schema does not define."""
        return instruction_schema(self.operation).get("additionalProperties") is not False

    @property
    def open_body(self) -> bool:
        """Whether the body may carry properties its schema does not define."""
        return _body_schema(self.operation).get("additionalProperties") is not False

    @property
    def body_has_comment(self) -> bool:
        """Whether the body schema defines the optional request `comment`."""
        return "comment" in _body_schema(self.operation).get("properties", {})

    def resource_slots(self, p: Provisioned) -> tuple[Slot, ...]:
        """Every individually targeted context of the resource the family writes to."""
        return p.segment_slots if self.resource == "segment" else p.flag_slots

    def slots(self, p: Provisioned) -> tuple[Slot, ...]:
        """The targeted contexts this operation can address."""
        slots = self.resource_slots(p)
        if self.resource == "user":
            slots = tuple(s for s in slots if s.context_key == self.user_key(p))
        return p.user_slots(slots) if self.users_only else slots

    def targeted(self, p: Provisioned) -> set[ScheduleKey]:
        """Where the resource targets contexts individually, keyed like schedules (any kind:
        an instruction's address outside this set must fail)."""
        return {self.key_of(s) for s in self.resource_slots(p)}

    def user_key(self, p: Provisioned) -> str:
        """The user in the path of the user endpoint: the first user the flag targets."""
        return p.user_slots(p.flag_slots)[0].context_key

    def path_params(self, p: Provisioned) -> dict[str, str]:
        params = {"project_key": p.project, "environment_key": p.environment}
        if self.resource == "segment":
            params["segment_key"] = p.segment_key
        elif self.resource == "flag":
            params["feature_flag_key"] = p.flag_key
        else:
            params["user_key"] = self.user_key(p)
        return params

    def state_params(self, p: Provisioned) -> dict[str, str]:
        params = {"project_key": p.project, "environment_key": p.environment}
        if self.resource == "segment":
            params["segment_key"] = p.segment_key
        else:
            params["feature_flag_key"] = p.flag_key
        return params

    def address(self, slot: Slot, p: Provisioned, kind: InstructionKind) -> dict[str, Any]:
        """The instruction fields that say which schedule `kind` acts on."""
        sources = {
            "userKey": slot.context_key,
            "contextKey": slot.context_key,
            "contextKind": slot.context_kind,
            "targetType": slot.target_type,
            "variationId": slot.variation_id,
            "flagKey": p.flag_key,
        }
        return {
            name: sources[name]
            for name in (*kind.required, *kind.optional)
            if name in sources and sources[name] is not None
        }

    def key_of(self, slot: Slot) -> ScheduleKey:
        return (slot.context_kind, slot.context_key,
                slot.target_type or slot.variation_id or "")


def schedule_key(item: Mapping[str, Any]) -> ScheduleKey:
    """The identity of a schedule item from a context GET."""
    where = item.get("targetType") or item.get("variationId") or ""
    return (item.get("contextKind", "user"), item.get("contextKey") or item.get("userKey", ""),
            where)


def _resource(op: Operation, state: Operation) -> Resource:
    """What the family writes to, from the path parameters of the operation and of the GET that
    shows its state (the spec's x-semantic-patch `state`): a user endpoint names a user."""
    names = {p.name for p in op.parameters if p.location == "path"}
    if "userKey" in names:
        return "user"
    return "segment" if "segmentKey" in {p.name for p in state.parameters} else "flag"


def _family(op: Operation) -> Family:
    assert op.state_operation is not None, f"{op.operation_id} names no state GET"
    state = OPERATIONS[op.state_operation]
    return Family(
        operation=op, get=_get_for(op), state_get=state, resource=_resource(op, state),
        add=_kind(op, "add"), update=_kind(op, "update"), remove=_kind(op, "remove"),
    )


FAMILIES: Mapping[str, Family] = {
    op_id: _family(op)
    for op_id, op in OPERATIONS.items()
    if op.instructions and "successful-take-effect" in op.rules
}
