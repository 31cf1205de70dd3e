"""Crashes: SIGKILL the server at a random moment under load, restart it on the same database.

On SQLite one server process; on PostgreSQL two (different ports, one database), the clients
spread over both, both killed and restarted. Each cycle starts the servers on the same database,
checks it (SQLite: ``PRAGMA integrity_check``;
no acknowledged update lost; the wide segment's schedules all at one version and date, so no
request was half applied), runs a short burst of concurrent updates (6 clients on 4 schedules
of one segment, 2 clients updating all 200 schedules of another in one PATCH each) and SIGKILLs
the server a random 0-1.4 s after the burst's first answer. An update is acknowledged when its
PATCH was answered 200: after the restart, the schedule's ``_version`` must be at least the
highest ``_version`` any such answer reported. Commits whose answer the kill swallowed may or may not be there, but there
cannot be more of them than requests that were in flight.

Cycles: ``HARDENING_CRASH_CYCLES`` (default 10).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

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
    write_config,
)

from mock_server.process import MockProcess

CYCLES = int(os.environ.get("HARDENING_CRASH_CYCLES", "10"))
HOT, HOT_CONTEXTS = "crash-hot", [f"c{i}" for i in range(4)]
WIDE, WIDE_CONTEXTS = "crash-wide", [f"w{i:03d}" for i in range(200)]
HOT_CLIENTS, WIDE_CLIENTS = 6, 2


@dataclass
class Burst:
    acked: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # context -> max
    in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # unanswered
    answered: int = 0
    unanswered: int = 0  # requests the kill cut off
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _load(n: int, base_url: str, wide: bool, base_value: int, burst: Burst,
          stop: threading.Event) -> None:
    rng = random.Random()
    seq = 0
    try:
        with httpx.Client(base_url=base_url, timeout=10.0,
                          headers=headers(content_type=SEMANTIC)) as http:
            while not stop.is_set():
                seq += 1
                value = base_value + n * 10_000_000 + seq
                contexts = WIDE_CONTEXTS if wide else [rng.choice(HOT_CONTEXTS)]
                body = json.dumps({"instructions": [
                    {"kind": "updateExpiringTarget", "contextKind": "user", "contextKey": c,
                     "targetType": "included", "value": value} for c in contexts]})
                try:
                    response = http.patch(schedule_path(WIDE if wide else HOT), content=body)
                except httpx.TransportError:
                    with burst.lock:  # the kill: this request may or may not have committed
                        burst.unanswered += 1
                        for c in contexts:
                            burst.in_flight[c] += 1
                    return
                if response.status_code != 200 or response.json()["failedInstructions"]:
                    with burst.lock:
                        burst.unexpected.append(f"{response.status_code} {response.text[:200]}")
                    continue
                with burst.lock:
                    burst.answered += 1
                    for item in response.json()["items"]:
                        key = item["contextKey"]
                        burst.acked[key] = max(burst.acked[key], item["_version"])
    except Exception as exc:  # noqa: BLE001 - reported by the test's assertions
        with burst.lock:
            burst.unexpected.append(f"client {n} crashed: {exc!r}")


def _integrity(db: Path) -> str:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def _schedules(http: httpx.Client, segment: str) -> dict[str, dict]:
    response = http.get(schedule_path(segment), headers=headers())
    assert response.status_code == 200, response.text
    return {i["contextKey"]: i for i in response.json()["items"]}


@pytest.mark.slow
def test_sigkill_under_load_loses_no_acknowledged_update(tmp_path: Path, replica_db) -> None:
    db, replicas = replica_db
    config = write_config(tmp_path, rate_limit=None)
    servers = [MockProcess(db, config, tmp_path / f"server-{n}.log") for n in range(replicas)]
    server = servers[0]
    rng = random.Random()
    acked: dict[str, int] = defaultdict(int)  # every 200 so far, over all cycles
    lost: list[str] = []
    unanswered_commits = 0
    in_flight_total = 0
    answered_total = 0
    start_times: list[float] = []
    kill_after: list[float] = []
    base_value = int(time.time() * 1000) + 30 * DAY_MS
    burst = Burst()  # the last burst's record (empty before the first)
    try:
        start_times += [s.start() for s in servers]
        with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
            provision_segment(http, HOT, HOT_CONTEXTS)
            schedule_all(http, HOT, HOT_CONTEXTS, base_value)
            provision_segment(http, WIDE, WIDE_CONTEXTS)
            schedule_all(http, WIDE, WIDE_CONTEXTS, base_value)
        for cycle in range(CYCLES + 1):
            if cycle:
                start_times += [s.start() for s in servers]
            if isinstance(db, Path):
                assert _integrity(db) == "ok"
            with httpx.Client(base_url=servers[cycle % replicas].base_url, timeout=30.0) as http:
                hot, wide = _schedules(http, HOT), _schedules(http, WIDE)
            assert sorted(hot) == HOT_CONTEXTS and sorted(wide) == WIDE_CONTEXTS
            for context, item in {**hot, **wide}.items():
                if item["_version"] < acked[context]:
                    lost.append(f"cycle {cycle}: {context} at {item['_version']}, "
                                f"a 200 reported {acked[context]}")
            # all-or-nothing: every wide PATCH updated the 200 schedules in one transaction
            assert len({(i["_version"], i["expirationDate"]) for i in wide.values()}) == 1, cycle
            if cycle:  # no phantom commits: at most the requests the kill left unanswered
                extra = sum(hot[c]["_version"] - acked[c] for c in HOT_CONTEXTS)
                assert extra <= sum(burst.in_flight[c] for c in HOT_CONTEXTS), (cycle, extra)
                extra_wide = wide[WIDE_CONTEXTS[0]]["_version"] - acked[WIDE_CONTEXTS[0]]
                assert extra_wide <= burst.in_flight[WIDE_CONTEXTS[0]], (cycle, extra_wide)
                unanswered_commits += extra + extra_wide
            for context, item in {**hot, **wide}.items():
                acked[context] = max(acked[context], item["_version"])  # now known durable
            if cycle == CYCLES:
                break
            # a burst, and a kill at a random moment in it
            burst, stop = Burst(), threading.Event()
            threads = [threading.Thread(target=_load, daemon=True, args=(
                n, servers[n % replicas].base_url, n >= HOT_CLIENTS, base_value, burst, stop))
                for n in range(HOT_CLIENTS + WIDE_CLIENTS)]
            for thread in threads:
                thread.start()
            ready_by = time.monotonic() + 20  # the load is on (a busy machine may be slow)
            while not burst.answered and time.monotonic() < ready_by:
                time.sleep(0.01)
            delay = rng.uniform(0.0, 1.4)
            kill_after.append(round(delay, 2))
            time.sleep(delay)
            for s in servers:
                s.kill()
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            assert not any(t.is_alive() for t in threads)
            assert burst.unexpected == [], burst.unexpected[:5]
            assert burst.answered > 0, f"cycle {cycle}: no request was answered before the kill"
            for context, version in burst.acked.items():
                acked[context] = max(acked[context], version)
            in_flight_total += burst.unanswered
            answered_total += burst.answered
    finally:
        for s in servers:
            s.kill()
    record("crash_recovery" if replicas == 1 else "crash_recovery_postgres_2_replicas", {
        "store": "sqlite" if replicas == 1 else "postgres", "replicas": replicas,
        "kills": len(kill_after),
        "restarts": len(start_times) // replicas - 1,
        "kill_after_s": kill_after,
        "restart_s_median": round(sorted(start_times)[len(start_times) // 2], 2),
        "answered_before_kills": answered_total,
        "requests_cut_off_by_kills": in_flight_total,
        "committed_but_unanswered": unanswered_commits,
        "lost_updates": len(lost),
        "integrity_check": "ok" if isinstance(db, Path) else "n/a (PostgreSQL)",
    })
    assert lost == [], lost
