"""Ctrl-C and SIGTERM: stop the run, and never lose the cleanup.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread happens to be, and some
places swallow it: Hypothesis' garbage-collection callback is one (an exception raised there is
"ignored"), so a plain Ctrl-C can leave a run going on as if nothing happened. The suite
therefore installs its own handler for SIGINT and SIGTERM that remembers the signal and raises
KeyboardInterrupt, and `check()` -- called before every request the suite sends and before
every test -- raises it again until pytest has seen it (``pytest_keyboard_interrupt``). pytest
then tears down the fixtures, whose finalisers delete what the run created (`cleaning()`):
during that cleanup further signals are noted, not raised, so a second Ctrl-C does not cut it
short; a third one does.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import pytest

__all__ = ["INTERRUPTS", "Interrupts"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    def __init__(self) -> None:
        self.signum: int | None = None  # the first signal received
        self.delivered = False  # pytest has seen the KeyboardInterrupt
        self._cleaning = 0
        self._during_cleanup = 0  # signals received while cleaning up
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in SIGNALS:
            if signum not in self._previous:
                self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def reset(self) -> None:
        self.signum, self.delivered, self._during_cleanup = None, False, 0

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
        if self._cleaning:
            self._during_cleanup += 1
            if self._during_cleanup < 2:
                print("contract: deleting what the run created; interrupt again to abandon it",
                      file=sys.stderr, flush=True)
                return
        raise KeyboardInterrupt

    @property
    def is_cleaning(self) -> bool:
        """Inside `cleaning()`: the cleanup's requests may use what the budget kept for them."""
        return self._cleaning > 0

    @property
    def pending(self) -> bool:
        return self.signum is not None and not self.delivered and not self._cleaning

    def check(self) -> None:
        """Raise KeyboardInterrupt again if a signal came and pytest has not seen it yet."""
        if self.pending:
            raise KeyboardInterrupt

    def mark_delivered(self) -> None:
        if self.signum is not None:
            self.delivered = True

    @contextmanager
    def cleaning(self) -> Iterator[None]:
        """Requests in here are cleanup: not interrupted by a first extra signal."""
        self._cleaning += 1
        try:
            yield
        finally:
            self._cleaning -= 1


INTERRUPTS = Interrupts()


def drop_frames_without_a_line(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Leave out the traceback entries that have no line number, in the exception and in every
    exception chained to it. On Python 3.11 a signal can interrupt a frame at an instruction
    without one (``tb_lineno`` None); pytest 8 then fails with a TypeError while formatting the
    KeyboardInterrupt or the report of the test it interrupted (which shows the chain too), and
    the run ends in an INTERNALERROR instead of as interrupted."""
    seen: set[int] = set()
    chained: list[BaseException | None] = [excinfo.value]
    while chained:
        exc = chained.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        exc.__traceback__ = _with_lines_only(exc.__traceback__)
        chained += [exc.__cause__, exc.__context__, *getattr(exc, "exceptions", ())]
    excinfo.traceback = excinfo.traceback.filter(
        lambda entry: entry._rawentry.tb_lineno is not None  # the public lineno subtracts 1
    )


def _with_lines_only(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from its first entry with a line, later entries without one skipped."""
    while tb is not None and tb.tb_lineno is None:
        tb = tb.tb_next
    node = tb
    while node is not None:
        after = node.tb_next
        while after is not None and after.tb_lineno is None:
            after = after.tb_next
        node.tb_next = after
        node = after
    return tb
