"""Tier 1: Schemathesis over every operation, positive and negative data, every schema check.

Path parameters are pointed at a segment and flag of the suite's own (created for tier 1, so
random patches cannot disturb other tests); deletes get a throwaway resource each, and what a
create makes is deleted again. Against a live deployment the suite writes only to these.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import schemathesis.pytest
from schemathesis.config import SchemathesisConfig
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from generated.operations import OPERATIONS

from .actions import context_family, schedule_slots
from .conftest import Suite
from .families import FAMILIES
from .plans import DAY_MS
from .provisioning import Provisioned
from .schema import bundle

pytestmark = pytest.mark.tier1

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    ignored_auth,
]
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


@pytest.fixture(scope="module")
def api_schema(suite: Suite) -> Any:
    """The schema bound to the target: in-process through the app, else the base URL."""
    settings = suite.settings
    config = SchemathesisConfig.from_dict({
        "headers": {"Authorization": settings.token},
        "generation": {"max-examples": settings.examples},
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
        schedule_slots(suite.api, family, provisioned, slots,
                       [now + DAY_MS * (i + 1) for i in range(len(slots))])
    return provisioned


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def created(suite: Suite) -> Iterator[list[tuple[str, str]]]:
    """Resources a create made during one example, deleted afterwards."""
    made: list[tuple[str, str]] = []
    yield made
    api, settings = suite.api, suite.settings
    for kind, key in made:
        if kind == "segment":
            api.delete_segment(project_key=settings.project_key,
                               environment_key=settings.environment_key, segment_key=key)
        else:
            api.delete_feature_flag(project_key=settings.project_key, feature_flag_key=key)


def _bind(case: Any, suite: Suite, p: Provisioned, operation_id: str) -> None:
    """Point the case's path parameters at resources the suite owns."""
    values = {
        "projectKey": p.project,
        "environmentKey": p.environment,
        "segmentKey": p.segment_key,
        "featureFlagKey": p.flag_key,
        "userKey": p.user_slots(p.flag_slots)[0].context_key,
    }
    if operation_id == "deleteSegment":
        values["segmentKey"] = suite.provisioning.throwaway_segment()
    if operation_id == "deleteFeatureFlag":
        values["featureFlagKey"] = suite.provisioning.throwaway_flag()
    case.path_parameters = {name: values.get(name, value)
                            for name, value in (case.path_parameters or {}).items()}


@schema.parametrize()
def test_schema_conformance(
    case: Any, suite: Suite, tier1: Provisioned, created: list[tuple[str, str]]
) -> None:
    operation_id = case.operation.definition.raw["operationId"]
    _bind(case, suite, tier1, operation_id)
    response = case.call()
    suite.target.recorder.record_status(operation_id, response.status_code)
    if response.status_code == 201:
        body = response.json()
        created.append(("segment" if "segment" in operation_id.lower() else "flag", body["key"]))
    checks = [c for c in CHECKS
              if not (c is positive_data_acceptance and operation_id in SETUP_OPERATIONS)]
    case.validate_response(response, checks=checks)
