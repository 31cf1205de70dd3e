"""The suite's network policy on its own (no sockets): what is retried, what never is, what is
reported as infrastructure. The proxy runs in test_live_flaky_network.py show it end to end."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any
from unittest import mock

import httpx
import pytest
import requests
from hypothesis.errors import FlakyFailure
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from contract_tests.checks import ContractViolation
from contract_tests.network import InfrastructureError, RetryingTransport, retrying_session
from contract_tests.provisioning import create_surviving
from contract_tests.report import violations_of

Step = Callable[[httpx.Request], httpx.Response]


def _ok(status: int = 200, headers: dict[str, str] | None = None) -> Step:
    return lambda request: httpx.Response(status, headers=headers, json={"ok": status})


def _raise(exc: type[httpx.TransportError]) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        raise exc("injected", request=request)
    return step


def _transport(*steps: Step) -> tuple[RetryingTransport, list[str], list[float], Counter[str]]:
    sent: list[str] = []
    sleeps: list[float] = []
    events: Counter[str] = Counter()
    queue = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return (queue.pop(0) if len(queue) > 1 else queue[0])(request)

    transport = RetryingTransport(httpx.MockTransport(handler), sleep=sleeps.append,
                                  on_event=lambda e: events.update([e]))
    return transport, sent, sleeps, events


def _send(transport: RetryingTransport, method: str) -> httpx.Response:
    with httpx.Client(transport=transport, base_url="http://127.0.0.1:9") as client:
        return client.request(method, "/api/v2/segments/p/e/k", content=b"{}")


def test_an_idempotent_request_is_retried_after_gateway_errors() -> None:
    transport, sent, sleeps, events = _transport(_ok(502), _ok(503), _ok(504), _ok(200))
    assert _send(transport, "GET").status_code == 200
    assert sent == ["GET"] * 4 and len(sleeps) == 3 and sleeps == sorted(sleeps)
    assert events == {"retried after HTTP 502": 1, "retried after HTTP 503": 1,
                      "retried after HTTP 504": 1}


def test_retries_are_bounded() -> None:
    transport, sent, _, _ = _transport(_raise(httpx.ReadError))
    with pytest.raises(InfrastructureError, match="GET .*4 attempt"):
        _send(transport, "GET")
    assert len(sent) == transport.policy.attempts


@pytest.mark.parametrize("method", ["PATCH", "POST"])
@pytest.mark.parametrize("step", [_ok(502), _raise(httpx.RemoteProtocolError),
                                  _raise(httpx.ReadTimeout)], ids=["502", "dropped", "timeout"])
def test_a_write_that_may_have_been_applied_is_never_resent(method: str, step: Step) -> None:
    transport, sent, _, events = _transport(step, _ok(200))
    with pytest.raises(InfrastructureError, match="not re-sent"):
        _send(transport, method)
    assert sent == [method]
    assert sum(v for k, v in events.items() if k.startswith("gave up")) == 1


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_a_write_that_was_never_sent_is_resent(exc: type[httpx.TransportError]) -> None:
    transport, sent, _, _ = _transport(_raise(exc), _ok(200))
    assert _send(transport, "PATCH").status_code == 200
    assert sent == ["PATCH", "PATCH"]


def test_429_waits_retry_after_for_any_method_within_a_budget() -> None:
    transport, sent, sleeps, _ = _transport(_ok(429, {"Retry-After": "1"}),
                                            _ok(429, {"Retry-After": "0"}), _ok(201))
    assert _send(transport, "POST").status_code == 201
    assert sent == ["POST"] * 3
    assert 1.0 <= sleeps[0] <= 1.25 and 0 <= sleeps[1] <= 0.25
    transport, sent, sleeps, _ = _transport(_ok(429, {"Retry-After": "1"}))
    with pytest.raises(InfrastructureError, match="still rate limited"):
        _send(transport, "GET")
    assert len(sent) == transport.policy.rate_limit_retries + 1
    assert sum(sleeps) <= transport.policy.max_rate_limit_wait_s


def _requests_response(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps({"status": status}).encode()
    return response


def test_schemathesis_session_follows_the_same_policy() -> None:
    session = retrying_session()
    dropped = requests.exceptions.ConnectionError(ProtocolError("Connection aborted."))
    refused = requests.exceptions.ConnectionError(MaxRetryError(
        mock.Mock(), "/", NewConnectionError(mock.Mock(), "refused")))
    cases: list[tuple[str, list[Any], int | type[BaseException], int]] = [
        ("GET", [_requests_response(502), _requests_response(200)], 200, 2),
        ("PATCH", [_requests_response(502), _requests_response(200)], InfrastructureError, 1),
        ("PATCH", [dropped, _requests_response(200)], InfrastructureError, 1),
        ("PATCH", [refused, _requests_response(200)], 200, 2),
        ("POST", [_requests_response(429), _requests_response(201)], 201, 2),
    ]
    for method, answers, expected, sends in cases:
        queue = list(answers)

        def send(self: Any, request: Any, queue: list[Any] = queue, **kwargs: Any) -> Any:
            answer = queue.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer

        with mock.patch.object(HTTPAdapter, "send", send), mock.patch("time.sleep"):
            if isinstance(expected, int):
                assert session.request(method, "http://127.0.0.1:9/x").status_code == expected
            else:
                with pytest.raises(expected):
                    session.request(method, "http://127.0.0.1:9/x")
        assert len(answers) - len(queue) == sends, (method, answers)


def test_a_create_whose_answer_was_lost_is_proven_before_it_is_resent() -> None:
    calls: list[str] = []

    def post() -> Any:
        calls.append("POST")
        raise InfrastructureError("lost")

    for found, expected in ((200, ["POST"]), (404, ["POST", "POST", "POST"])):
        calls.clear()
        get = mock.Mock(return_value=mock.Mock(status_code=found, content=b'{"key": "k"}'))
        if found == 200:
            assert create_surviving(post, get).status_code == 201
        else:
            with pytest.raises(InfrastructureError):
                create_surviving(post, get)
        assert calls == expected


def test_the_report_tells_infrastructure_from_the_contract() -> None:
    lost = InfrastructureError("PATCH /x: HTTP 502 from a gateway; not re-sent")
    (found,) = violations_of(lost)
    assert found.infrastructure and found.rule == "infrastructure"
    flaky = FlakyFailure("flaky", [ValueError("x").with_traceback(None)])
    assert not violations_of(flaky)[0].infrastructure
    flaky_network = FlakyFailure("flaky", [httpx.ReadError("reset")])
    assert all(v.infrastructure for v in violations_of(flaky_network))
    (contract,) = violations_of(ContractViolation("instruction-counts", "total 2, sent 1"))
    assert not contract.infrastructure
