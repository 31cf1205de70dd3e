"""The proxy's checks in process, without sockets: they never cry wolf (every answer the
documents allow passes, whatever the mock's policy), they judge a sequence only when its order
is known, and the HAR file keeps no token, only its label."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from proxy_helpers import ENV, PROJECT, READER, SEMANTIC, WRITER, future

from contract_tests.targets import mock_app
from contract_tests.transport import SyncASGITransport
from fidelity.mock import IN_PROCESS_URL, mock_side
from fidelity.plan import build_plan
from mock_server.policy import VARIANTS
from proxy.checker import Checker
from proxy.exchange import Credentials, Exchange
from proxy.har import HarLog, read_har
from proxy.ledger import Ledger
from proxy.tokens import Credential

CONTEXTS = f"/api/v2/segments/{PROJECT}/s1/expiring-targets/{ENV}"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_policy_variant_passes(variant: str) -> None:
    """The fidelity plan walks every open point; under each variant of the mock's policy the
    proxy's checks find nothing in it."""
    app = mock_app(variant)
    transport = SyncASGITransport(app)
    try:
        run = mock_side(IN_PROCESS_URL, transport).run(build_plan(3, True))
    finally:
        transport.close()
        app.close()
    checker = Checker(Ledger(variant))
    found = [v for item in run.exchanges for v in checker.judge(item.exchange)]
    assert not found, found[:3]
    assert checker.ledger.exchanges == len(run.exchanges) > 100


class _Driver:
    """Requests to an in-process mock, turned into exchanges the test hands to a checker."""

    def __init__(self) -> None:
        self.app = mock_app()
        self.transport = SyncASGITransport(self.app)
        self.http = httpx.Client(base_url="http://mock.local", transport=self.transport,
                                 headers={"Authorization": WRITER})
        self.credentials = Credentials()
        self.count = 0

    def exchange(self, method: str, path: str, **options: Any) -> Exchange:
        response = self.http.request(method, path, **options)
        self.count += 1
        return Exchange.from_httpx(self.count, response.request, response, self.credentials,
                                   time.time(), 1.0)

    def setup(self) -> None:
        self.http.post(f"/api/v2/segments/{PROJECT}/{ENV}", json={"key": "s1", "name": "s1"})
        self.http.patch(f"/api/v2/segments/{PROJECT}/{ENV}/s1", json=[
            {"op": "add", "path": "/included", "value": ["alice"]}])

    def add(self, date: int) -> Exchange:
        return self.exchange("PATCH", CONTEXTS, headers={"Content-Type": SEMANTIC},
                             content=json.dumps({"instructions": [
                                 {"kind": "addExpiringTarget", "contextKind": "user",
                                  "contextKey": "alice", "targetType": "included",
                                  "value": date}]}))

    def close(self) -> None:
        self.http.close()
        self.transport.close()
        self.app.close()


@pytest.fixture
def driver() -> Any:
    made = _Driver()
    made.setup()
    yield made
    made.close()


def test_a_read_that_overlapped_a_write_is_not_judged(driver: _Driver) -> None:
    before = driver.exchange("GET", CONTEXTS)  # answered before the write was applied
    patch = driver.add(future())
    checker = Checker(Ledger("mock"))
    read = checker.begin("GET", CONTEXTS)
    write = checker.begin("PATCH", CONTEXTS)
    assert checker.finish(patch, write) == []
    assert checker.finish(before, read) == []  # it ended after the write: order unknown
    assert checker.ledger.unordered == 1
    assert checker.judge(driver.exchange("GET", CONTEXTS)) == []


def test_the_same_read_in_order_is_judged(driver: _Driver) -> None:
    """The control of the test above: a stale read after the write is a violation."""
    stale = driver.exchange("GET", CONTEXTS)
    checker = Checker(Ledger("mock"))
    checker.judge(driver.add(future()))
    found = checker.judge(stale)
    assert [v.rule for v in found] == ["successful-take-effect"]


def test_a_write_outside_the_operation_model_forgets(driver: _Driver) -> None:
    """The mock's admin clock moved past the date: the schedule expired, unseen."""
    date = future()
    checker = Checker(Ledger("mock"))
    checker.judge(driver.add(date))
    checker.judge(driver.exchange("PUT", "/_admin/clock", json={"now": date + 1}))
    assert checker.judge(driver.exchange("GET", CONTEXTS)) == []
    assert checker.ledger.unmatched == 1


def test_the_har_file_keeps_no_token(tmp_path: Path) -> None:
    credentials = Credentials(roles={})
    request = httpx.Request("PATCH", f"http://upstream{CONTEXTS}?a=1", content=b"\xff\x00" +
                            WRITER.encode(), headers={"Authorization": WRITER,
                                                      "Cookie": "session=1",
                                                      "Content-Type": "application/x-odd"})
    response = httpx.Response(200, json={"echo": WRITER}, request=request)
    exchange = Exchange.from_httpx(1, request, response, credentials, time.time(), 2.5)
    log = HarLog()
    log.add(exchange)
    path = log.write(tmp_path / "t.har", credentials.redact)
    text = path.read_text(encoding="utf-8")
    assert WRITER not in text and "session=1" not in text
    entry = json.loads(text)["log"]["entries"][0]
    assert entry["_authorization"] == "token-1"
    (recorded,) = read_har(path)
    assert (recorded.method, recorded.path_and_query, recorded.credential) == (
        "PATCH", f"{CONTEXTS}?a=1", Credential("token-1"))
    assert recorded.body == b"\xff\x00***"


def test_a_token_has_one_label_whatever_its_spelling(tmp_path: Path) -> None:
    """`Bearer X` and `X` are one token: one label, the scheme kept beside it (and `X` kept out
    of the file wherever it is); a token the environment gives is written as its role."""
    credentials = Credentials(roles={READER: "reader"})
    log = HarLog()
    for index, value in enumerate([f"Bearer {WRITER}", WRITER, f"bearer  {READER}"], 1):
        request = httpx.Request("GET", f"http://upstream{CONTEXTS}?who={WRITER}",
                                headers={"Authorization": value})
        response = httpx.Response(200, text=f"{WRITER} {READER}", request=request)
        log.add(Exchange.from_httpx(index, request, response, credentials, time.time(), 1.0))
    text = log.write(tmp_path / "t.har", credentials.redact).read_text(encoding="utf-8")
    assert WRITER not in text and READER not in text
    assert [r.credential for r in read_har(tmp_path / "t.har")] == [
        Credential("token-1", "Bearer"), Credential("token-1"), Credential("reader", "bearer")]


def test_a_write_around_the_proxy_is_reported_once(driver: _Driver) -> None:
    """A write the proxy did not see makes the next answer contradict what it knew: that is
    one violation (the proxy cannot tell it from a server's), after which it goes by what the
    answers show, not one per later answer."""
    def update() -> Exchange:
        return driver.exchange("PATCH", CONTEXTS, headers={"Content-Type": SEMANTIC},
                               content=json.dumps({"instructions": [
                                   {"kind": "updateExpiringTarget", "contextKind": "user",
                                    "contextKey": "alice", "targetType": "included",
                                    "value": future()}]}))

    checker = Checker(Ledger("mock"))
    checker.judge(driver.add(future()))
    checker.judge(update())
    update()  # around the proxy
    found = [v.rule for _ in range(3) for v in checker.judge(update())]
    assert found == ["update-increments-version"]
