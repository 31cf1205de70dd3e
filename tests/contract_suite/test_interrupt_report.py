"""An interrupted run exits as interrupted even when the signal landed on an instruction
without a line number (contract_tests/interrupts.py, drop_frames_without_a_line), in the
interrupt's report and in the report of the test it interrupted."""

from __future__ import annotations

import signal
import sys
import types
from types import SimpleNamespace

import pytest

from contract_tests.interrupts import INTERRUPTS, drop_frames_without_a_line


def _framed() -> types.FrameType:
    try:
        return sys._getframe()
    finally:
        pass  # gives the function instructions that map to no line


def _interrupt_without_a_line() -> pytest.ExceptionInfo[BaseException]:
    """A KeyboardInterrupt whose traceback stops in a frame at an instruction without a line,
    as Python 3.11 reports a signal that arrived there."""
    offset = next(start for start, _, line in _framed.__code__.co_lines() if line is None)
    traceback = types.TracebackType(None, _framed(), offset, -1)
    assert traceback.tb_lineno is None
    return pytest.ExceptionInfo.from_exception(KeyboardInterrupt().with_traceback(traceback))


def test_pytest_cannot_format_such_an_interrupt_unaided() -> None:
    with pytest.raises(TypeError):
        _interrupt_without_a_line().getrepr(funcargs=True)


def test_the_suite_drops_the_frames_without_a_line_before_pytest_formats_them() -> None:
    excinfo = _interrupt_without_a_line()
    drop_frames_without_a_line(excinfo)
    assert "KeyboardInterrupt" in str(excinfo.getrepr(funcargs=True))


def test_the_report_of_the_test_the_signal_interrupted_drops_them_too() -> None:
    """A tester's Ctrl-C landed there inside a test: pytest failed formatting that test's
    report, and the run ended in an INTERNALERROR (status 3) with no reports."""
    from contract_tests.conftest import pytest_runtest_makereport

    call = pytest.CallInfo(None, _interrupt_without_a_line(), 0.0, 0.0, 0.0, "call",
                           _ispytest=True)
    hook = pytest_runtest_makereport(None, call)  # type: ignore[arg-type]  # used after yield
    next(hook)  # up to pytest's own report, which formats the traceback
    assert call.excinfo is not None
    assert "KeyboardInterrupt" in str(call.excinfo.getrepr(funcargs=True))


def test_the_test_a_signal_cut_short_is_not_run_not_failed() -> None:
    """JUnit counted the interrupted test as a failure (`failures="1"`, the KeyboardInterrupt),
    while the reports said 0 contract failures; now it is not run, as a budget cuts a test."""
    from contract_tests.conftest import pytest_runtest_makereport

    call = pytest.CallInfo(None, _interrupt_without_a_line(), 0.0, 0.0, 0.0, "call",
                           _ispytest=True)
    item = SimpleNamespace(path="t.py", location=("t.py", 3, "test_x"))
    report = pytest.TestReport("t.py::test_x", ("t.py", 3, "test_x"), {}, "failed", "boom",
                               "call")
    INTERRUPTS.signum = signal.SIGINT
    try:
        hook = pytest_runtest_makereport(item, call)  # type: ignore[arg-type]
        next(hook)
        with pytest.raises(StopIteration) as done:
            hook.send(report)
    finally:
        INTERRUPTS.reset()
    assert done.value.value.outcome == "skipped"
    assert done.value.value.longrepr[2] == "not run: interrupted (SIGINT)"


def test_and_from_the_exceptions_chained_to_it() -> None:
    """pytest shows the chain: the frame without a line was in the interrupt behind the test's
    own exception (a tester's Ctrl-C, reproduced against the mock process)."""
    def failing_while_interrupted() -> pytest.ExceptionInfo[BaseException]:
        try:
            raise RuntimeError("raised while the interrupt propagated")
        except RuntimeError as exc:
            exc.__context__ = _interrupt_without_a_line().value
            return pytest.ExceptionInfo.from_exception(exc)

    with pytest.raises(TypeError):
        failing_while_interrupted().getrepr(funcargs=True)
    excinfo = failing_while_interrupted()
    drop_frames_without_a_line(excinfo)
    assert "KeyboardInterrupt" in str(excinfo.getrepr(funcargs=True))
