"""One comparison, start to end: the plan, both sides, the classification, the reports."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from contract_tests.network import RetryingTransport
from contract_tests.pacing import Pacer
from contract_tests.settings import MOCK_READER_TOKEN, MOCK_WRITER_TOKEN
from proxy.exchange import Credentials
from proxy.serve import BadInput
from proxy.tokens import ROLES, token_roles

from .compare import compare
from .mock import ENVIRONMENT, PROJECT, in_process, mock_side, policy_of
from .plan import build_plan, requests_needed
from .report import summary_lines, write_reports
from .side import Side

__all__ = ["Settings", "run"]


@dataclass(frozen=True)
class Settings:
    target: str
    seed: int
    max_requests: int
    token: str = field(repr=False)
    reader: str | None = field(repr=False)
    project: str
    environment: str

    @classmethod
    def from_environment(cls, target: str, seed: int, max_requests: int) -> Settings:
        """The target's tokens and keys; without LD_API_TOKEN, the mock's (a kit mock as the
        target)."""
        token = os.environ.get("LD_API_TOKEN")
        reader = os.environ.get("LD_API_TOKEN_READONLY") or (None if token else
                                                             MOCK_READER_TOKEN)
        return cls(target, seed, max_requests, token or MOCK_WRITER_TOKEN, reader,
                   os.environ.get("LD_PROJECT_KEY") or PROJECT,
                   os.environ.get("LD_ENVIRONMENT_KEY") or ENVIRONMENT)


def _target_side(settings: Settings) -> Side:
    """Over the suite's retry policy and within the request budget."""
    pacer = Pacer(settings.max_requests)
    inner = RetryingTransport(httpx.HTTPTransport(retries=0), pacer=pacer)
    return Side(settings.target, inner, settings.token, settings.reader, settings.project,
                settings.environment, pacer)


def run(settings: Settings, mock_url: str, reports_dir: Path) -> int:
    plan = build_plan(settings.seed, with_reader=settings.reader is not None)
    needed = requests_needed(plan)
    if needed > settings.max_requests:
        raise BadInput(f"the plan needs {needed} requests to the target; --max-requests "
                       f"{settings.max_requests} is fewer")
    base = policy_of(mock_url)
    print(f"compare: seed {settings.seed}; {len(plan)} steps, {needed} requests per side; the "
          f"mock at {mock_url} (policy {base.name or 'reference'}), the target at "
          f"{settings.target}", flush=True)
    mock = mock_side(mock_url, RetryingTransport(httpx.HTTPTransport(retries=0)))
    mock_run = mock.run(plan)
    if not mock_run.provisioned:
        raise BadInput(f"the kit's mock at {mock_url} could not be set up: {mock_run.stopped}")
    target_run = _target_side(settings).run(plan)
    if not target_run.provisioned:
        left = f" (could not delete, if they exist: {', '.join(target_run.leftovers)})" if (
            target_run.leftovers) else ""
        raise BadInput(f"the target {settings.target} could not be set up: "
                       f"{target_run.stopped}{left}")
    comparison = compare((mock_url, settings.target), mock_run, target_run, base,
                         in_process(plan))
    meta = {"seed": settings.seed, "policy": base.name or "reference",
            "project": settings.project, "environment": settings.environment}
    for line in summary_lines(comparison, meta):
        print(line)
    secrets = Credentials(roles=token_roles({ROLES["writer"]: settings.token,
                                             ROLES["reader"]: settings.reader}))
    written = write_reports(comparison, meta, reports_dir, secrets.redact)
    print("compare: wrote " + ", ".join(map(str, written)))
    broken = any(comparison.violations.values())
    if comparison.leftovers:
        print("compare: some resources could not be deleted (see above)", file=sys.stderr)
    return 1 if broken or comparison.leftovers else 0
