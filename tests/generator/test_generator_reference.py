"""The full LaunchDarkly reference spec (OpenAPI 3.0.3, 348 operations) generates and imports."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from gen_helpers import REFERENCE_SPEC, run_generator

pytestmark = pytest.mark.skipif(not REFERENCE_SPEC.is_file(), reason="reference spec not here")

MODULES = ("models", "operations", "backends", "routers", "app", "client", "_runtime", "_http")


@pytest.fixture(scope="module")
def ldref(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    base = tmp_path_factory.mktemp("ref")
    result = run_generator("--spec", REFERENCE_SPEC, "--out", base / "ldref")
    assert result.returncode == 0, result.stderr
    assert "348 operations, 659 schemas" in result.stdout
    assert result.stderr == ""  # datamodel-code-generator's warnings stay quiet
    sys.path.insert(0, str(base))
    try:
        yield importlib.import_module("ldref")
    finally:
        sys.path.remove(str(base))


def test_every_module_imports(ldref: ModuleType) -> None:
    for name in MODULES:
        importlib.import_module(f"ldref.{name}")
    from ldref.operations import OPERATIONS

    assert len(OPERATIONS) == 348
    assert all(op.status_codes == tuple(sorted(op.status_codes)) for op in OPERATIONS.values())
    multipart = [op for op in OPERATIONS.values()
                 if "multipart/form-data" in op.request_media_types]
    assert multipart and all(op.request_schemas["multipart/form-data"] is None
                             for op in multipart)


class _Dummy:
    """Any backend method answers with None."""

    def __getattr__(self, name: str) -> Any:
        return lambda **kwargs: None


def test_app_serves_every_operation(ldref: ModuleType) -> None:
    from ldref.app import create_app
    from ldref.operations import OPERATIONS
    from ldref.routers import build_router

    router = build_router(_Dummy())  # type: ignore[arg-type]
    routed = sum(len(route.methods - {"HEAD"}) for route in router.routes)  # type: ignore[attr-defined]
    assert routed == len(OPERATIONS)
    app = create_app(_Dummy())  # type: ignore[arg-type]

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [
                await client.get("/api/v2/flags/proj/flag-key?env=production&summary=true"),
                await client.get("/api/v2/flags/proj?limit=ten"),
                await client.get("/openapi.json"),
                await client.patch("/api/v2/flags/proj/flag", json={"patch": "x"}),
                await client.patch("/api/v2/flags/proj/flag", json={"patch": [
                    {"op": "replace", "path": "/name", "value": None}]}),
            ]

    ok, bad, spec, bad_body, valid = asyncio.run(go())
    assert ok.status_code == 200
    assert bad.status_code == 400 and "'limit'" in bad.json()["message"]
    assert len(json.loads(spec.content)["paths"]) == 218
    # OpenAPI 3.0 schemas are checked with 3.0 semantics
    assert bad_body.status_code == 400
    assert bad_body.json()["message"].startswith("request body $.patch: 'x' is not of type")
    assert valid.status_code == 200, valid.text


def test_clients_have_one_method_per_operation(ldref: ModuleType) -> None:
    from ldref.client import AsyncClient, Client
    from ldref.operations import OPERATIONS

    for op in OPERATIONS.values():
        assert callable(getattr(Client, op.python_name))
        assert asyncio.iscoroutinefunction(getattr(AsyncClient, op.python_name))


def test_generation_time_is_reported(ldref: ModuleType) -> None:
    manifest = json.loads((Path(ldref.__file__).parent / "MANIFEST.json").read_text())
    assert manifest["summary"] == {"operations": 348, "schemas": 659, "families": 55}
