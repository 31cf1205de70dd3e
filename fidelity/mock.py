"""The kit's mock in a comparison: its configuration, the policy a running one has, and runs of
the plan against it in-process under any policy (what the attribution tries).

The configuration is the shipped one (tokens, projects, the rate limit, so that its answers carry
the rate-limit headers a real service sends) with the admin routes on, so that the policy of a
running mock can be read back (``GET /_admin/policy``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from contract_tests.settings import MOCK_READER_TOKEN, MOCK_WRITER_TOKEN
from contract_tests.transport import SyncASGITransport
from mock_server import create_mock_app
from mock_server.config import DEFAULT_CONFIG_PATH, load_config
from mock_server.policy import REFERENCE, Policy, PolicyError, parse_policy

from .compare import Aspects, side_aspects
from .plan import Step
from .side import Side

__all__ = ["ENVIRONMENT", "IN_PROCESS_URL", "PROJECT", "in_process", "mock_side", "policy_of",
           "write_config"]

IN_PROCESS_URL = "http://mock.local"
PROJECT, ENVIRONMENT = "default", "test"  # the shipped configuration's


def write_config(path: Path, policy: dict[str, Any] | None = None) -> Path:
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    config["admin"] = True
    if policy is not None:
        config["policy"] = policy
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def policy_of(base_url: str) -> Policy:
    """The policy a running kit mock has (the reference when it does not say)."""
    try:
        response = httpx.get(f"{base_url}/_admin/policy", timeout=5.0, trust_env=False,
                             headers={"Authorization": MOCK_WRITER_TOKEN})
        return parse_policy(response.json(), "GET /_admin/policy") if (
            response.status_code == 200) else REFERENCE
    except (httpx.HTTPError, ValueError, PolicyError):
        return REFERENCE


def mock_side(base_url: str, inner: httpx.BaseTransport) -> Side:
    """A side with the shipped configuration's tokens, project and environment."""
    return Side(base_url, inner, MOCK_WRITER_TOKEN, MOCK_READER_TOKEN, PROJECT, ENVIRONMENT)


def in_process(plan: list[Step]) -> Callable[[Policy], Aspects]:
    """`policy -> the plan's aspects` from a fresh in-process mock with that policy."""
    config = load_config()

    def run(policy: Policy) -> Aspects:
        app = create_mock_app(config.with_overrides(admin=True, policy=policy))
        transport = SyncASGITransport(app)
        try:
            return side_aspects(mock_side(IN_PROCESS_URL, transport).run(plan))
        finally:
            transport.close()
            app.close()

    return run
