"""Runs the plan against one server and keeps every exchange, labelled by the step it belongs to.

A side creates its own segment and flag per family through the suite's `Provisioning` (keys
`ct-<time>-<random>-…`, deleted at the end, also on failure or Ctrl-C), then sends the plan's
steps, filling each in from its own resources and from the versions its own answers showed.
Over HTTP the requests go through the suite's retry policy (`RetryingTransport`: 429 and
Retry-After obeyed, bounded retries) and budget (`Pacer`: at most --max-requests, the cleanup's
requests kept in reserve); in-process (the attribution runs) through the mock's ASGI app.
"""

from __future__ import annotations

import atexit
import json
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from contract_tests.families import FAMILIES, Family, ScheduleKey, schedule_key
from contract_tests.interrupts import INTERRUPTS
from contract_tests.network import InfrastructureError
from contract_tests.pacing import BudgetSpent, Pacer
from contract_tests.provisioning import Provisioned, Provisioning, Slot
from contract_tests.settings import ConfigurationError
from generated.client import Client
from generated.operations import OPERATIONS, Operation
from proxy.exchange import Credentials, Exchange

from .normalise import Substitutions
from .plan import Instruction, Step, Who

__all__ = ["Capture", "Labelled", "Side", "SideRun", "resource_get", "slots_of"]

STALE_BY = 1000


@dataclass(frozen=True)
class Labelled:
    label: str
    exchange: Exchange


class Capture(httpx.BaseTransport):
    """Keeps each exchange that passes, as the last answer after any retries, under the label
    the runner set."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.credentials = Credentials()
        self.label = "setup"
        self.exchanges: list[Labelled] = []
        self._counts: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        started_at, clock = time.time(), time.perf_counter()
        try:
            response = self.inner.handle_request(request)
            response.read()
        except (httpx.TransportError, InfrastructureError) as exc:
            self._keep(request, None, started_at, clock, f"{type(exc).__name__}: {exc}")
            raise
        self._keep(request, response, started_at, clock, None)
        return response

    def _keep(self, request: httpx.Request, response: httpx.Response | None, started_at: float,
              clock: float, failure: str | None) -> None:
        self._counts[self.label] += 1
        exchange = Exchange.from_httpx(len(self.exchanges) + 1, request, response,
                                       self.credentials, started_at,
                                       (time.perf_counter() - clock) * 1000, failure)
        count = self._counts[self.label]
        self.exchanges.append(Labelled(self.label if count == 1 else f"{self.label} #{count}",
                                       exchange))

    def close(self) -> None:
        self.inner.close()


@dataclass
class SideRun:
    """What one side did: its exchanges, its resources, why it stopped early (if it did)."""

    exchanges: list[Labelled]
    resources: dict[str, Provisioned]
    run_id: str
    stopped: str | None = None
    leftovers: list[str] = field(default_factory=list)

    @property
    def provisioned(self) -> bool:
        """Whether its setup completed (every family has its resources)."""
        return len(self.resources) == len(FAMILIES)

    def substitutions(self) -> Substitutions:
        """Its own values that another side cannot share: its key prefix, its variation ids."""
        return Substitutions.of([(self.run_id, "<run>"), *(
            (variation, f"<variation-{i}>") for p in self.resources.values()
            for i, variation in enumerate(p.variation_ids))])


def slots_of(family: Family, p: Provisioned) -> tuple[Slot, ...]:
    """The slots a family's scenarios use; the per-user endpoint: every user the flag
    targets (each scenario its own user in the path)."""
    return p.user_slots(p.flag_slots) if family.resource == "user" else family.slots(p)


def resource_get(family: Family) -> Operation:
    """The GET of the segment or flag the family's schedules belong to: the state GET (the
    spec's x-semantic-patch `state`) of the setup PATCH that names that resource."""
    key = "segmentKey" if family.resource == "segment" else "featureFlagKey"
    (setup,) = (o for o in OPERATIONS.values()
                if o.state_operation and "instruction-counts" not in o.rules
                and key in {p.name for p in o.parameters if p.location == "path"})
    assert setup.state_operation is not None
    return OPERATIONS[setup.state_operation]


class Side:
    def __init__(self, base_url: str, inner: httpx.BaseTransport, writer: str,
                 reader: str | None, project: str, environment: str,
                 pacer: Pacer | None = None) -> None:
        """`pacer`: the budget of the transport in `inner`, whose cleanup reserve this side
        keeps up to date."""
        self.base_url, self.pacer = base_url, pacer
        self.tokens = {"writer": writer, "reader": reader}
        self.project, self.environment = project, environment
        self.capture = Capture(inner)
        self.http = httpx.Client(base_url=base_url, transport=self.capture, timeout=30.0)
        self.versions: dict[tuple[str, ScheduleKey], int] = {}
        self.segment_versions: dict[str, int] = {}

    def run(self, plan: list[Step]) -> SideRun:
        client = Client(self.base_url, self.tokens["writer"], transport=self.capture,
                        max_retries=0, timeout=30.0)
        provisioning = Provisioning(client, self.project, self.environment)
        if self.pacer is not None:
            self.pacer.cleanup_cost = provisioning.outstanding
        result = SideRun(self.capture.exchanges, {}, provisioning.run_id)
        try:
            for family_id in FAMILIES:
                self.capture.label = f"setup · {family_id}"
                result.resources[family_id] = provisioning.create()
            for step in plan:
                self.capture.label = step.label
                try:
                    self._send(step, result.resources)
                except InfrastructureError:
                    continue  # kept as an infrastructure exchange
        except BudgetSpent as exc:
            result.stopped = f"the request budget is spent ({exc})"
        except (InfrastructureError, httpx.HTTPError) as exc:
            result.stopped = f"the setup could not be completed ({type(exc).__name__}: {exc})"
        except ConfigurationError as exc:  # a setup request refused: token, project, env
            result.stopped = str(exc)
        finally:
            self.capture.label = "cleanup"
            with INTERRUPTS.cleaning():
                result.leftovers = provisioning.delete_all()
            atexit.unregister(provisioning.delete_all)  # done here; what is left is reported
            client.close()
            self.http.close()
        return result

    # -- one step ---------------------------------------------------------------------------

    def _send(self, step: Step, resources: Mapping[str, Provisioned]) -> None:
        family, p = FAMILIES[step.family], resources[step.family]
        operation = {"patch": family.operation, "read": family.get,
                     "read-contexts": family.state_get,
                     "read-resource": resource_get(family)}[step.action]
        user = self._user(family, p, step.user)
        path = _fill(operation.path, p, user, step.missing)
        headers = {"Authorization": self.tokens[step.token] or ""}
        content = None
        if step.action == "patch":
            headers["Content-Type"] = step.content_type
            instructions: Any = "not an array" if step.malformed else [
                self._instruction(step.family, family, p, i) for i in step.instructions]
            content = json.dumps({"instructions": instructions}).encode()
        response = self.http.request(operation.method, path, headers=headers, content=content)
        self._learn(step, family, user, response)

    def _user(self, family: Family, p: Provisioned, who: Who | None) -> str | None:
        if family.resource != "user" or who is None:
            return None
        return p.untargeted_key if who == "untargeted" else slots_of(family, p)[who].context_key

    def _instruction(self, family_id: str, family: Family, p: Provisioned,
                     instruction: Instruction) -> dict[str, Any]:
        kind = getattr(family, instruction.verb)
        slots = slots_of(family, p)
        slot = slots[0] if instruction.who == "untargeted" else slots[instruction.who]
        fields: dict[str, Any] = {"kind": kind.name, **family.address(slot, p, kind)}
        if instruction.who == "untargeted":  # a context nothing targets; a flag that is not
            for name in ("userKey", "contextKey"):
                if name in fields:
                    fields[name] = p.untargeted_key
            if "flagKey" in fields:
                fields["flagKey"] = f"{p.flag_key}-missing"
        if instruction.date is not None:
            fields["value"] = instruction.date
        if instruction.version != "none":
            current = (self.segment_versions.get(family_id, 1)
                       if family.update.version_of == "segment"
                       else self.versions.get((family_id, family.key_of(slot)), 1))
            fields["version"] = current + (STALE_BY if instruction.version == "stale" else 0)
        return fields

    def _learn(self, step: Step, family: Family, user: str | None,
               response: httpx.Response) -> None:
        """The versions its answers show, for the steps that must send them."""
        try:
            body = response.json()
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        if step.action == "read-resource":
            version = body.get("version")
            if family.resource == "segment" and isinstance(version, int):
                self.segment_versions[step.family] = version
            return
        for item in body.get("items") or []:
            if isinstance(item, dict) and isinstance(item.get("_version"), int):
                named = {**item, "userKey": user} if user is not None else item
                self.versions[(step.family, schedule_key(named))] = item["_version"]


def _fill(path: str, p: Provisioned, user: str | None, missing: bool) -> str:
    """A path template with the side's own resources (one that does not exist, if asked:
    its segment or flag, or for the per-user endpoint its environment)."""
    values = {"projectKey": p.project, "environmentKey": p.environment,
              "segmentKey": p.segment_key, "featureFlagKey": p.flag_key, "userKey": user or ""}
    if missing:
        name = next(n for n in ("segmentKey", "featureFlagKey", "environmentKey")
                    if "{" + n + "}" in path)
        values[name] = f"{values[name]}-{p.segment_key}-missing" if name == "environmentKey" \
            else f"{values[name]}-missing"
    return path.format(**{k: quote(v, safe="") for k, v in values.items()})
