"""The proxy changes nothing: requests reach the upstream as sent (but for the hop-by-hop
headers and Host), answers reach the client byte for byte, 429s pass through, and a dead upstream
is the proxy's 502, counted as infrastructure, never as a violation."""

from __future__ import annotations

import base64
import json
import signal
import time
from collections.abc import Callable

import httpx
import pytest
from echo_app import SLOW_S
from proxy_helpers import (
    ENV,
    PROJECT,
    SEMANTIC,
    WRITER,
    Processes,
    ProxyRun,
    future,
    serve_app,
    wait_http,
)

from mock_server.process import MockProcess

pytestmark = pytest.mark.timeout(90)
SEGMENTS = f"/api/v2/segments/{PROJECT}"


def _without(headers: list[list[str]] | httpx.Headers, *names: str) -> list[tuple[str, str]]:
    pairs = headers.multi_items() if isinstance(headers, httpx.Headers) else headers
    return sorted((k.lower(), v) for k, v in pairs if k.lower() not in names)


def test_requests_reach_the_upstream_as_sent(processes: Processes) -> None:
    upstream, server = serve_app(processes, "tests.proxy.echo_app:create")
    wait_http(upstream, server)
    proxy = ProxyRun(processes, upstream).ready()
    headers = [("Authorization", WRITER), ("X-Custom", "a"), ("x-custom", "b"),
               ("Content-Type", "application/json; Domain-Model=X"),
               ("Connection", "keep-alive, X-Hop"), ("X-Hop", "dropped"), ("TE", "trailers")]
    body = b'{"instructions": [], "\xc3\xa9": 1}'
    with httpx.Client(timeout=10) as http:
        http.headers.clear()
        response = http.request("PATCH", f"{proxy.url}/api/v2/a%2Fb/%7Bx%7D?b=2&a=1&a=%20",
                                headers=headers, content=body)
    got = response.json()
    assert (got["method"], got["raw_path"], got["query"]) == (
        "PATCH", "/api/v2/a%2Fb/%7Bx%7D", "b=2&a=1&a=%20")
    assert base64.b64decode(got["body"]) == body
    sent = [*headers, ("Content-Length", str(len(body)))]
    assert _without(got["headers"], "host") == _without(
        httpx.Headers(sent), "host", "connection", "x-hop", "te")
    assert dict(got["headers"])["host"] == upstream.removeprefix("http://")
    proxy.stop()


def test_answers_reach_the_client_byte_for_byte(processes: Processes) -> None:
    upstream, server = serve_app(processes, "tests.proxy.echo_app:create")
    wait_http(upstream, server)
    proxy = ProxyRun(processes, upstream).ready()
    with httpx.Client(timeout=10) as http:
        for method, path, content in (("POST", "/gzip", b""), ("GET", "/binary", b""),
                                      ("GET", "/chunked", b""), ("HEAD", "/binary", b""),
                                      ("POST", "/echo", b"odd")):
            answers = []
            for base in (upstream, proxy.url):
                with http.stream(method, base + path, content=content,
                                 headers={"Accept-Encoding": "gzip"}) as response:
                    answers.append((response.status_code, _without(
                        response.headers, "date", *(["content-length"] if path == "/echo"
                                                    else [])), b"".join(response.iter_raw())))
            direct, proxied = answers
            assert proxied[:2] == direct[:2], path
            if path != "/echo":  # the echo shows the request, whose Host differs
                assert proxied[2] == direct[2], path
    assert answers[0][0] == 299
    proxy.stop()


def test_mock_answers_are_identical_through_the_proxy(processes: Processes,
                                                      mock: MockProcess) -> None:
    proxy = ProxyRun(processes, mock.base_url).ready()
    with httpx.Client(headers={"Authorization": WRITER}, timeout=10) as http:
        base = mock.base_url
        http.post(f"{base}{SEGMENTS}/{ENV}", json={"key": "s1", "name": "s1"})
        http.patch(f"{base}{SEGMENTS}/{ENV}/s1", json=[
            {"op": "add", "path": "/included", "value": ["alice"]}])
        http.patch(f"{base}{SEGMENTS}/s1/expiring-targets/{ENV}", headers={
            "Content-Type": SEMANTIC}, content=json.dumps({"instructions": [
                {"kind": "addExpiringTarget", "contextKind": "user", "contextKey": "alice",
                 "targetType": "included", "value": future()}]}))
        failing = json.dumps({"instructions": [
            {"kind": "addExpiringTarget", "contextKind": "user", "contextKey": "nobody",
             "targetType": "included", "value": future()}]})
        requests: list[tuple[str, str, dict[str, str], str | None]] = [
            ("GET", f"{SEGMENTS}/s1/expiring-targets/{ENV}", {}, None),
            ("GET", f"{SEGMENTS}/s1/expiring-user-targets/{ENV}", {}, None),
            ("GET", f"{SEGMENTS}/{ENV}/s1", {}, None),
            ("GET", f"{SEGMENTS}/{ENV}/missing", {}, None),
            ("GET", f"{SEGMENTS}/{ENV}/s1", {"Authorization": "bogus-token-123"}, None),
            ("PATCH", f"{SEGMENTS}/s1/expiring-targets/{ENV}", {"Content-Type": SEMANTIC},
             failing),
            ("PATCH", f"{SEGMENTS}/s1/expiring-targets/{ENV}",
             {"Content-Type": "application/json"}, failing),
        ]
        for method, path, extra, content in requests:
            direct, proxied = (http.request(method, root + path, headers=extra, content=content)
                               for root in (base, proxy.url))
            assert (proxied.status_code, proxied.content) == (direct.status_code,
                                                                direct.content), path
            assert _without(proxied.headers, "date") == _without(direct.headers, "date")
    assert proxy.stop() == 0
    assert proxy.report()["violations"]["total"] == 0


def test_rate_limited_answers_pass_through(processes: Processes,
                                           mock_factory: Callable[..., MockProcess]) -> None:
    mock = mock_factory(rate_limit={"requests_per_10s": 2})
    proxy = ProxyRun(processes, mock.base_url).ready()
    with httpx.Client(headers={"Authorization": WRITER}, timeout=10) as http:
        statuses = [http.get(f"{proxy.url}{SEGMENTS}/{ENV}/missing") for _ in range(4)]
    assert [r.status_code for r in statuses][-1] == 429
    assert statuses[-1].headers["retry-after"]
    assert proxy.stop() == 0
    report = proxy.report()
    assert report["coverage"]["status_codes"]["getSegment"]["429"] >= 1
    assert report["violations"]["total"] == 0


def test_a_dead_upstream_is_a_502_and_infrastructure(processes: Processes,
                                                     mock: MockProcess) -> None:
    proxy = ProxyRun(processes, mock.base_url).ready()
    mock.kill()
    with httpx.Client(headers={"Authorization": WRITER}, timeout=10) as http:
        response = http.get(f"{proxy.url}{SEGMENTS}/{ENV}/s1")
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "bad_gateway" and isinstance(body["message"], str)
    assert proxy.stop(signal.SIGTERM) == 0
    report = proxy.report()
    assert report["infrastructure"]["total"] == 1
    assert report["violations"]["total"] == 0


def test_an_upstream_slower_than_the_timeout_is_a_504_and_infrastructure(
        processes: Processes) -> None:
    upstream, server = serve_app(processes, "tests.proxy.echo_app:create")
    wait_http(upstream, server)
    proxy = ProxyRun(processes, upstream, "--timeout", str(SLOW_S / 3)).ready()
    with httpx.Client(headers={"Authorization": WRITER}, timeout=10) as http:
        slow = http.get(f"{proxy.url}/slow")
        quick = http.get(f"{proxy.url}/")
    assert slow.status_code == 504, slow.text
    assert slow.json()["code"] == "gateway_timeout"
    assert quick.status_code == 200  # the timed-out connection is not reused
    assert proxy.stop() == 0
    assert proxy.report()["infrastructure"]["total"] == 1


def test_a_connection_the_upstream_closed_is_not_reused(processes: Processes,
                                                        mock: MockProcess) -> None:
    """uvicorn closes an idle keep-alive connection after 5 s; the next request must not be
    sent on it (and fail), nor be sent twice."""
    proxy = ProxyRun(processes, mock.base_url).ready()
    with httpx.Client(headers={"Authorization": WRITER}, timeout=10) as http:
        first = http.get(f"{proxy.url}{SEGMENTS}/{ENV}/missing")
        time.sleep(5.5)
        second = http.get(f"{proxy.url}{SEGMENTS}/{ENV}/missing")
    assert first.status_code == second.status_code == 404
    assert proxy.stop() == 0
    assert proxy.report()["infrastructure"]["total"] == 0
