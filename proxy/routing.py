"""What an exchange addresses: its operation, its path parameters and the resource behind them,
all read from the operation model (`generated.operations`, via the suite's `operation_for`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal
from urllib.parse import unquote

from contract_tests.families import FAMILIES, Family
from contract_tests.recorder import operation_for
from generated.operations import OPERATIONS, Operation

__all__ = ["ResourceId", "Route", "View", "family_of", "route", "view_of"]

# ("segment", project, environment, key) or ("flag", project, environment | None, key): a
# flag's setup operations address every environment at once (None)
ResourceId = tuple[str, str, str | None, str]
Scope = Literal["all", "user"]


@dataclass(frozen=True)
class Route:
    operation: Operation
    params: Mapping[str, str]  # path parameter name -> value, percent-decoded

    @property
    def project(self) -> str:
        return self.params.get("projectKey", "")

    @property
    def environment(self) -> str | None:
        return self.params.get("environmentKey")

    @cached_property
    def resource(self) -> ResourceId | None:
        """The segment or flag in the path, if the path names one."""
        if "segmentKey" in self.params:
            return ("segment", self.project, self.environment, self.params["segmentKey"])
        if "featureFlagKey" in self.params:
            return ("flag", self.project, self.environment, self.params["featureFlagKey"])
        return None

    @property
    def writes(self) -> bool:
        return self.operation.method.upper() not in ("GET", "HEAD")

    def created(self, answer: Any) -> ResourceId | None:
        """The resource a create made: the operation that reads it has this path plus one
        parameter, which the answer's `key` fills."""
        key = answer.get("key") if isinstance(answer, dict) else None
        if not isinstance(key, str):
            return None
        for operation in OPERATIONS.values():
            prefix, _, last = operation.path.rpartition("/")
            if operation.method == "GET" and prefix == self.operation.path and last[:1] == "{":
                return Route(operation, {**self.params, last[1:-1]: key}).resource
        return None


def route(method: str, path: str) -> Route | None:
    """The operation a request goes to, with its path parameters; None for other paths."""
    operation_id = operation_for(method, path)
    if operation_id is None:
        return None
    operation = OPERATIONS[operation_id]
    names, values = operation.path.split("/"), path.split("/")
    params = {name[1:-1]: unquote(value) for name, value in zip(names, values, strict=True)
              if name.startswith("{")}
    return Route(operation, params)


def family_of(operation: Operation) -> Family | None:
    """The semantic-patch family an expiring-targets operation (PATCH or GET) belongs to."""
    for family in FAMILIES.values():
        if operation.operation_id in (family.operation.operation_id, family.get.operation_id):
            return family
    return None


@dataclass(frozen=True)
class View:
    """What a schedule listing shows: every schedule of a segment or flag (`all`), those of kind
    user (`user`), or (the per-user endpoint) one user's schedules on every flag."""

    family: Family
    scope: Scope
    per_user: bool  # the /users/{userKey}/ endpoint: items on many flags

    @property
    def name(self) -> str:
        """Which kind of view, for telling the user and context views apart."""
        return "context" if self.scope == "all" else "user"


def view_of(operation: Operation) -> View | None:
    """The view a GET of an expiring-targets operation gives, from its family's metadata."""
    family = family_of(operation)
    if family is None or operation.operation_id != family.get.operation_id:
        return None
    if family.get.operation_id == family.state_get.operation_id:
        return View(family, "all", per_user=False)
    return View(family, "user", per_user=family.resource == "user")
