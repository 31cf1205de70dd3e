"""Concurrency: 16 clients hammer updates on the same few schedules of one segment.

The mock runs as real processes (uvicorn, rate limit off): one on a SQLite file, or two on
different ports over one PostgreSQL database, the clients taking turns between them (client n
talks to replica n mod 2). Every client sends
``updateExpiringTarget`` instructions (one or two per request, on distinct schedules) with a
date of its own that no other update uses; about a third carry the ``_version`` the client last
saw, so that some fail the optimistic-locking check. Afterwards, for every schedule:

- final ``_version`` == 1 + the number of updates the server answered as successful;
- the ``_version``s those successful answers reported are exactly 2 .. final, each once (no
  two updates saw the same version: they were serialised);
- the final date is the date of the successful update whose answer reported the highest
  ``_version`` (a replay of the successful instructions in the server's order);
- every failed instruction carried a ``version`` (an update without one cannot fail here), and
  every client saw each schedule's ``_version`` only grow.

Load length: ``HARDENING_LOAD_SECONDS`` (default 30).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hardening_helpers import (
    DAY_MS,
    SEMANTIC,
    headers,
    provision_segment,
    record,
    schedule_all,
    schedule_path,
)

CLIENTS = 16
CONTEXTS = [f"hot-{i}" for i in range(4)]
SEGMENT = "hot"
LOAD_SECONDS = float(os.environ.get("HARDENING_LOAD_SECONDS", "30"))


@dataclass
class Update:
    client: int
    context: str
    value: int
    with_version: bool
    ok: bool
    reported_version: int | None  # the schedule's _version in the answer's items
    reported_value: int | None


@dataclass
class ClientLog:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    updates: list[Update] = field(default_factory=list)
    transport_errors: int = 0
    regressions: list[str] = field(default_factory=list)  # a _version seen to go down
    unexpected: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def _client(n: int, base_url: str, deadline: float, base_value: int, log: ClientLog,
            start: threading.Barrier) -> None:
    try:
        _run_client(n, base_url, deadline, base_value, log, start)
    except Exception as exc:  # noqa: BLE001 - reported by the test's assertions
        log.unexpected.append(f"client {n} crashed: {exc!r}")


def _run_client(n: int, base_url: str, deadline: float, base_value: int, log: ClientLog,
                start: threading.Barrier) -> None:
    rng = random.Random(n)
    seen: dict[str, int] = {c: 1 for c in CONTEXTS}
    seq = 0
    path = schedule_path(SEGMENT)
    with httpx.Client(base_url=base_url, timeout=30.0,
                      headers=headers(content_type=SEMANTIC)) as http:
        start.wait(timeout=60)
        while time.monotonic() < deadline:
            targets = rng.sample(CONTEXTS, rng.choice((1, 1, 2)))
            sent = []
            for context in targets:
                seq += 1
                value = base_value + n * 10_000_000 + seq  # no other update uses this date
                instruction: dict[str, Any] = {
                    "kind": "updateExpiringTarget", "contextKind": "user", "contextKey": context,
                    "targetType": "included", "value": value}
                with_version = rng.random() < 0.35
                if with_version:
                    instruction["version"] = seen[context]
                sent.append((context, value, with_version, instruction))
            body = json.dumps({"instructions": [s[3] for s in sent]})
            log.requests += 1
            began = time.perf_counter()
            try:
                response = http.patch(path, content=body)
            except httpx.TransportError as exc:
                log.transport_errors += 1
                log.unexpected.append(f"transport error {exc!r}")
                continue
            log.latencies.append(time.perf_counter() - began)
            log.statuses[response.status_code] += 1
            if response.status_code == 409:
                continue
            if response.status_code != 200:
                log.unexpected.append(f"{response.status_code} {response.text[:200]}")
                continue
            answer = response.json()
            failed = {e["instructionIndex"] for e in answer["errors"]}
            items = {i["contextKey"]: i for i in answer["items"]}
            for context, item in items.items():
                if item["_version"] < seen.get(context, 0):
                    log.regressions.append(f"{context}: {seen[context]} -> {item['_version']}")
                seen[context] = max(seen.get(context, 0), item["_version"])
            for index, (context, value, with_version, _) in enumerate(sent):
                ok = index not in failed
                item = items.get(context)
                log.updates.append(Update(
                    n, context, value, with_version, ok,
                    item["_version"] if item else None, item["expirationDate"] if item else None))


@pytest.mark.slow
def test_concurrent_updates_on_the_same_schedules_lose_nothing(mock_process, replica_db) -> None:
    db, replicas = replica_db
    servers = [mock_process(db, rate_limit=None) for _ in range(replicas)]
    server = servers[0]
    base_value = int(time.time() * 1000) + 30 * DAY_MS
    with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        provision_segment(http, SEGMENT, CONTEXTS)
        schedule_all(http, SEGMENT, CONTEXTS, base_value)

    logs = [ClientLog() for _ in range(CLIENTS)]
    start = threading.Barrier(CLIENTS + 1)

    threads = []
    began = time.monotonic()
    deadline = began + LOAD_SECONDS + 1.0  # + the time the 16 clients take to connect
    for n in range(CLIENTS):
        thread = threading.Thread(target=_client, daemon=True,
                                  args=(n, servers[n % replicas].base_url, deadline,
                                        base_value, logs[n], start))
        thread.start()
        threads.append(thread)
    start.wait(timeout=60)
    load_started = time.monotonic()
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 90)
    assert not any(t.is_alive() for t in threads), "a client did not finish"
    elapsed = time.monotonic() - load_started

    with httpx.Client(base_url=servers[-1].base_url, timeout=30.0) as http:
        response = http.get(schedule_path(SEGMENT), headers=headers())
        assert response.status_code == 200, response.text
        final = {i["contextKey"]: i for i in response.json()["items"]}

    unexpected = [u for log in logs for u in log.unexpected]
    regressions = [r for log in logs for r in log.regressions]
    updates = [u for log in logs for u in log.updates]
    requests = sum(log.requests for log in logs)
    statuses: dict[int, int] = defaultdict(int)
    for log in logs:
        for status, count in log.statuses.items():
            statuses[status] += count
    latencies = sorted(x for log in logs for x in log.latencies)
    successes = [u for u in updates if u.ok]
    failures = [u for u in updates if not u.ok]

    figures = {
        "store": "sqlite" if replicas == 1 else "postgres",
        "replicas": replicas,
        "clients": CLIENTS,
        "schedules": len(CONTEXTS),
        "seconds": round(elapsed, 1),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "instructions": len(updates),
        "successful_instructions": len(successes),
        "failed_instructions": len(failures),
        "failed_version_mismatch": sum(1 for u in failures if u.with_version),
        "status_200": statuses.get(200, 0),
        "status_409": statuses.get(409, 0),
        "other_statuses": {s: c for s, c in statuses.items() if s not in (200, 409)},
        "transport_errors": sum(log.transport_errors for log in logs),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
        "final_versions": {c: final[c]["_version"] for c in CONTEXTS},
    }
    record("concurrency" if replicas == 1 else "concurrency_postgres_2_replicas", figures)

    assert unexpected == [], unexpected[:5]
    assert regressions == [], regressions[:5]
    assert successes, "no update succeeded"
    # an update without a version can only fail on a missing schedule: there is none here
    assert [u for u in failures if not u.with_version] == []
    for context in CONTEXTS:
        mine = [u for u in successes if u.context == context]
        reported = sorted(u.reported_version or 0 for u in mine)
        assert final[context]["_version"] == 1 + len(mine), (context, final[context], len(mine))
        # serialised: the successful updates of a schedule produced versions 2..final, once each
        assert reported == list(range(2, 2 + len(mine))), context
        for u in mine:  # each answer showed the update's own date with its version
            assert u.reported_value == u.value, u
        last = max(mine, key=lambda u: u.reported_version or 0)
        assert final[context]["expirationDate"] == last.value, (context, final[context], last)
        assert final[context]["expirationDate"] in {u.value for u in mine}
