"""The proxy judges off the request path: an exchange waits while a request is in flight and is
judged once none is, in the order the answers ended; a backlog that is never idle is still
judged once it is full; at shutdown nothing is left unjudged."""

from __future__ import annotations

import asyncio

from proxy.backlog import Backlog


async def _turns(n: int) -> None:
    """Let the event loop run `n` times round (no time passes)."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_judging_waits_for_an_idle_moment_and_keeps_the_order() -> None:
    judged: list[int] = []

    async def run() -> None:
        backlog: Backlog[int] = Backlog(judged.append)
        backlog.started()
        backlog.started()
        backlog.ended(1)
        await _turns(5)
        assert judged == []  # request 2 is still in flight
        backlog.started()
        backlog.ended(2)
        backlog.ended(3)
        assert judged == []  # never while answering: only in later loop turns
        await _turns(5)
        assert judged == [1, 2, 3]

    asyncio.run(run())


def test_one_exchange_per_loop_turn() -> None:
    judged: list[int] = []

    async def run() -> None:
        backlog: Backlog[int] = Backlog(judged.append)
        for item in range(3):
            backlog.started()
            backlog.ended(item)
        await _turns(1)
        assert len(judged) < 3  # a request that arrived meanwhile would be read in between
        await _turns(5)
        assert judged == [0, 1, 2]

    asyncio.run(run())


def test_a_full_backlog_is_judged_while_requests_are_in_flight() -> None:
    judged: list[int] = []

    async def run() -> None:
        backlog: Backlog[int] = Backlog(judged.append, limit=3)
        backlog.started()  # never answered: the proxy is never idle
        for item in range(5):
            backlog.started()
            backlog.ended(item)
        await _turns(10)
        assert judged == [0, 1, 2]  # judged down to below the limit, in order
        assert len(backlog) == 2

    asyncio.run(run())


def test_drain_judges_everything_and_skips_abandoned_requests() -> None:
    judged: list[int] = []

    async def run() -> None:
        backlog: Backlog[int] = Backlog(judged.append)
        backlog.started()
        for item in range(4):
            backlog.started()
            backlog.ended(item)
        backlog.started()
        backlog.ended(None)  # the client left before its request was complete
        backlog.drain()
        assert judged == [0, 1, 2, 3]
        assert len(backlog) == 0

    asyncio.run(run())
