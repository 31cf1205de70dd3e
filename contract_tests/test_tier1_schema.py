"""Tier 1: Schemathesis over every operation, positive and negative data, every schema check.

Path parameters are pointed at a segment and flag of the suite's own (created for tier 1, so
random patches cannot disturb other tests); deletes get a throwaway resource each, and creates
get a key of the run's own (``ct-…``, remembered before the request is sent) in place of the
generated one, so what they make is deleted again whatever happens. Against a live deployment
the suite writes only to these.

Against a base URL, Schemathesis' requests go through the suite's retry policy (network.py):
429 waits, bounded retries of idempotent requests; a request lost to the network or a gateway
fails the example as an `InfrastructureError`, which the report keeps apart from contract
failures. The ``ignored_auth`` check sends its own probes without credentials (which the server
cannot apply), once per operation and run (:class:`AuthProbes`); one answered by a gateway or
rate limiter rather than the API is sent again, counted against the budget.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
import schemathesis.pytest
from schemathesis.config import SchemathesisConfig
from schemathesis.openapi.checks import IgnoredAuth
from schemathesis.specs.openapi.checks import positive_data_acceptance

from generated.operations import OPERATIONS

from .actions import context_family, schedule_slots
from .conftest import Suite
from .families import FAMILIES
from .network import GATEWAY_STATUSES, InfrastructureError, RetryPolicy
from .observe import read_schedules
from .pacing import AUTH_PROBES_PER_OPERATION, Pacer
from .plans import DAY_MS
from .provisioning import CREATES, Provisioned
from .raw import path_values
from .schema import bundle
from .tier1_checks import SCHEMA_CHECKS, ignored_auth

pytestmark = pytest.mark.tier1

_PROBE_STATUS = re.compile(r"got `(\d{3})")  # how IgnoredAuth names the probe's answer
_NOT_THE_API = GATEWAY_STATUSES | {429}


@dataclass
class AuthProbes:
    """What a run learnt of each operation's authentication, so that Schemathesis'
    ``ignored_auth`` sends its two probes (no credentials, an invalid one) once per operation
    and run, as Schemathesis' own runner does. Its pytest integration keeps no such record and
    would probe after every successful example: hundreds of requests that pass neither the
    suite's budget nor its rate cap. The run's budget keeps two per operation for them
    (``contract_tests.conftest.PROBES``), and ``pacer`` spaces them within the rate cap; a
    probe sent again, after a gateway or the rate limiter answered it, is counted and paced
    like any other request."""

    pacer: Pacer | None
    enforced: set[str] = field(default_factory=set)  # operations whose probes were refused
    failures: dict[str, IgnoredAuth] = field(default_factory=dict)  # operation -> its failure

    def check(self, ctx: Any, response: Any, case: Any) -> bool | None:
        """``ignored_auth``, once per operation: a later successful example of an operation
        whose probes were answered gets the same verdict without sending them again."""
        label = case.operation.label
        succeeded = 200 <= response.status_code < 300  # only then does ignored_auth probe
        failure = self.failures.get(label)
        if failure is not None and succeeded:
            raise failure
        ctx.auth_enforced_operations = self.enforced  # Schemathesis skips those it confirmed
        if self.pacer is not None and succeeded and label not in self.enforced:
            for _ in range(AUTH_PROBES_PER_OPERATION):  # the probes it may send: within RATE
                self.pacer.pace_uncounted(None)
        policy = RetryPolicy()
        last: BaseException | None = None
        for attempt in range(1, policy.attempts + 1):
            if attempt > 1 and self.pacer is not None:
                for _ in range(AUTH_PROBES_PER_OPERATION):
                    self.pacer.before_send(f"{label}: an authentication probe again", None)
            try:
                return ignored_auth(ctx, response, case)
            except IgnoredAuth as found:
                match = _PROBE_STATUS.search(found.message or "")
                if match is None or int(match.group(1)) not in _NOT_THE_API:
                    self.failures[label] = found
                    raise
                last = found
                time.sleep(1.0 if match.group(1) == "429" else policy.backoff(attempt))
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                last = exc
                time.sleep(policy.backoff(attempt))
        raise InfrastructureError(
            f"{label}: the authentication probe got no answer from the API "
            f"in {policy.attempts} attempts ({type(last).__name__}: {last})") from last

    def as_check(self) -> Any:
        """The check under ``ignored_auth``'s name, which the reports and the rules know."""
        def check(ctx: Any, response: Any, case: Any) -> bool | None:
            return self.check(ctx, response, case)

        check.__name__ = "ignored_auth"
        return check


# Setup operations validate more than their schema can say (JSON-patch paths, variation ids,
# duplicate keys), so a schema-valid body may rightly get 400 or 409 there.
SETUP_OPERATIONS = {op_id for op_id, op in OPERATIONS.items()
                    if not op.rules or "instruction-counts" not in op.rules}


def _schema_for_schemathesis() -> dict[str, Any]:
    """The bundle minus the Authorization header parameter that seed 000 declares: the suite
    sends the real token itself (a generated value would only test the token)."""
    document = copy.deepcopy(bundle())
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "parameters" in operation:
                operation["parameters"] = [
                    p for p in operation["parameters"]
                    if not (p.get("in") == "header" and p.get("name", "").lower() == "authorization")
                ]
    return document


@pytest.fixture(scope="module", params=sorted(OPERATIONS))
def operation_id(request: pytest.FixtureRequest) -> str:
    """One test per operation: pytest-xdist spreads them over workers, TIERS/OPS and the
    reports see the operation as every other test's (its ``operation_id`` parameter)."""
    return str(request.param)


@pytest.fixture(scope="module")
def api_schema(suite: Suite, operation_id: str) -> Any:
    """The schema of one operation, bound to the target: in-process through the app, else the
    base URL."""
    settings = suite.settings
    config = SchemathesisConfig.from_dict({
        "headers": {"Authorization": settings.token},
        # every other operation off: the whole document stays (a path's other methods are
        # operations, not methods to probe for 405), and an `include` of the fixture's schema
        # would not survive Schemathesis' pytest plugin, which re-filters it
        "operations": [{"exclude-operation-id": operation_id, "enabled": False}],
        "generation": {"max-examples": suite.plan.examples},
        # the boundary-value phase sends ~60 requests per operation whatever the example count
        **({} if suite.plan.schema_coverage else {"phases": {"coverage": {"enabled": False}}}),
        **({} if settings.in_process else {"base-url": suite.target.base_url}),
    })
    loaded = schemathesis.openapi.from_dict(_schema_for_schemathesis(), config=config)
    if settings.in_process:
        loaded.app = suite.target.app
    return loaded


@pytest.fixture(scope="module")
def tier1(suite: Suite) -> Provisioned:
    """Tier 1's own segment and flag, with some removals scheduled so that every GET has
    items whose schema can be checked."""
    provisioned = suite.provisioning.create()
    now = int(time.time() * 1000)
    for family in {context_family(f).operation.operation_id: context_family(f)
                   for f in FAMILIES.values()}.values():
        slots = list(family.slots(provisioned))[::2]
        _schedule_despite_the_network(suite, family, provisioned, slots,
                                      [now + DAY_MS * (i + 1) for i in range(len(slots))])
    return provisioned


def _schedule_despite_the_network(suite: Suite, family: Any, p: Provisioned, slots: list[Any],
                                  dates: list[int], attempts: int = 3) -> None:
    """Tier 1's setup, which every operation's examples depend on: after a PATCH whose answer
    was lost, a GET shows which schedules it made, and only the others are sent again."""
    for attempt in range(1, attempts + 1):
        try:
            schedule_slots(suite.api, family, p, slots, dates)
            return
        except InfrastructureError:
            if attempt == attempts:
                raise
        present = read_schedules(suite.api, family, p)
        remaining = [(s, d) for s, d in zip(slots, dates, strict=True)
                     if family.key_of(s) not in present]
        slots, dates = [s for s, _ in remaining], [d for _, d in remaining]


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def http_session(suite: Suite) -> Any:
    """Against a base URL: the requests session Schemathesis sends through (retry policy).
    In-process: None (Schemathesis calls the app)."""
    return None if suite.settings.in_process else suite.target.requests_session()


@pytest.fixture(scope="session")
def auth_probes(suite: Suite) -> AuthProbes:
    """One record for the run (each pytest-xdist worker runs whole operations)."""
    return AuthProbes(suite.target.pacer)


@pytest.fixture
def created(suite: Suite) -> Iterator[list[tuple[str, str]]]:
    """Resources a create may have made during one test (every example's key is remembered by
    the provisioning before it is sent), deleted afterwards; a delete that fails now is left to
    the provisioning's final cleanup."""
    made: list[tuple[str, str]] = []
    yield made
    for kind, key in dict.fromkeys(made):
        suite.provisioning.delete(kind, key)


def _own_key(case: Any, suite: Suite, operation_id: str, created: list[tuple[str, str]]) -> None:
    """A create's key becomes one of the run's own, remembered before the request is sent. Only
    a string key is replaced: the schema says no more about it, so the case stays as valid or
    invalid as it was generated (one without a string key cannot create anything)."""
    kind = CREATES.get(operation_id)
    if kind is None:
        return
    if isinstance(case.body, dict) and isinstance(case.body.get("key"), str):
        case.body["key"] = suite.provisioning.reserve(kind)
        created.append((kind, case.body["key"]))


def _bind(case: Any, suite: Suite, p: Provisioned, operation_id: str) -> None:
    """Point the case's path parameters at resources the suite owns."""
    values = path_values(p)
    if operation_id == "deleteSegment":
        values["segmentKey"] = suite.provisioning.throwaway_segment()
    if operation_id == "deleteFeatureFlag":
        values["featureFlagKey"] = suite.provisioning.throwaway_flag()
    case.path_parameters = {name: values.get(name, value)
                            for name, value in (case.path_parameters or {}).items()}


def _record(suite: Suite, operation_id: str, response: Any) -> None:
    """Schemathesis' requests bypass the suite's transport: hand each to the recorder, so a
    failure's report and repro script have the request that failed."""
    sent = response.request
    body = sent.body.encode() if isinstance(sent.body, str) else sent.body or b""
    suite.target.recorder.record_external(operation_id, sent.method, sent.url,
                                          sent.headers.items(), body, response.status_code,
                                          response.content)


@schema.parametrize()
def test_schema_conformance(
    case: Any, suite: Suite, tier1: Provisioned, created: list[tuple[str, str]],
    http_session: Any, auth_probes: AuthProbes,
) -> None:
    operation_id = case.operation.definition.raw["operationId"]
    _bind(case, suite, tier1, operation_id)
    _own_key(case, suite, operation_id, created)
    response = case.call(session=http_session) if http_session is not None else case.call()
    _record(suite, operation_id, response)
    if response.status_code == 201 and operation_id in CREATES:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("key"), str):
            kind = CREATES[operation_id]
            suite.provisioning.track(kind, body["key"])  # a server that kept another key
            created.append((kind, body["key"]))
    checks = [*(c for c in SCHEMA_CHECKS
                if not (c is positive_data_acceptance and operation_id in SETUP_OPERATIONS)),
              auth_probes.as_check()]
    case.validate_response(response, checks=checks)
