"""operations.py of the fixture spec: the contract as data, immutable."""

from __future__ import annotations

import dataclasses
from types import ModuleType

import pytest


def test_operations_in_document_order(fixture_package: ModuleType) -> None:
    from fxpkg.operations import OPERATIONS

    assert list(OPERATIONS) == ["evaluateSegments", "getSegment", "patchSegment",
                                "delete-segment", "postSegment", "importSegments",
                                "get-expiring-flags-for-user"]
    assert OPERATIONS["delete-segment"].python_name == "delete_segment"


def test_semantic_patch_operation(fixture_package: ModuleType) -> None:
    from fxpkg.operations import OPERATIONS, RULES, SEMANTIC_PATCH_MEDIA_TYPE, Rule

    op = OPERATIONS["patchSegment"]
    assert (op.method, op.family, op.success_status) == ("PATCH", "Segments", 200)
    assert op.request_media_types == ("application/json", SEMANTIC_PATCH_MEDIA_TYPE)
    assert dict(op.request_schemas) == {"application/json": None,
                                        SEMANTIC_PATCH_MEDIA_TYPE: "SemanticPatch"}
    assert op.request_required is True
    assert op.status_codes == (200, 400)
    assert dict(op.response_schemas) == {200: "Segment", 400: "Error"}
    update = op.instructions["updateExpireUserTargetDate"]
    assert (update.required, update.optional, update.version_of) == (
        ("userKey", "targetType", "value", "version"), (), "segment")
    assert op.instructions["removeExpireUserTargetDate"].optional == ("comment",)
    assert op.rules == ("sp-content-type", "sp-counts")
    assert RULES["sp-counts"] == Rule("sp-counts", 2, op_summary := RULES["sp-counts"].summary)
    assert "totalInstructions" in op_summary
    assert OPERATIONS["getSegment"].instructions == {}


def test_parameters(fixture_package: ModuleType) -> None:
    from fxpkg.operations import OPERATIONS, Parameter

    assert OPERATIONS["evaluateSegments"].parameters == (
        Parameter("projectKey", "project_key", "path", True, "string"),
        Parameter("from", "from_", "query", False, "integer"),
        Parameter("LD-API-Version", "ld_api_version", "header", False, "string"),
        Parameter("kind", "kind", "query", False, "array"),
        Parameter("Authorization", "authorization", "header", False, "string"),  # security
    )
    declared = OPERATIONS["getSegment"].parameters[-1]
    assert declared == Parameter("Authorization", "authorization", "header", True, "string")
    # users.yaml declares no security: no token header there
    assert [p.name for p in OPERATIONS["get-expiring-flags-for-user"].parameters] == [
        "projectKey", "userKey", "environmentKey"]


def test_backend_families(fixture_package: ModuleType) -> None:
    from fxpkg import backends

    assert {"SegmentsBackend", "DefaultBackend", "Backend", "ApiError"} <= set(backends.__all__)
    assert {backends.SegmentsBackend, backends.DefaultBackend} <= set(backends.Backend.__mro__)


def test_metadata_is_immutable(fixture_package: ModuleType) -> None:
    from fxpkg.operations import OPERATIONS

    op = OPERATIONS["patchSegment"]
    with pytest.raises(TypeError):
        OPERATIONS["x"] = op  # type: ignore[index]
    with pytest.raises(TypeError):
        op.response_schemas[500] = None  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.path = "/elsewhere"  # type: ignore[misc]
