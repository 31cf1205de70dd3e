"""The adapter implements every operation of the generated ``Backend`` protocol."""

from __future__ import annotations

import inspect

from generated import backends
from generated.operations import OPERATIONS
from mock_server.backend import MockBackend


def test_every_operation_has_a_method_that_accepts_the_protocols_arguments() -> None:
    protocol_methods = {
        name for name, member in inspect.getmembers(backends.Backend, inspect.isfunction)
        if not name.startswith("_")
    }
    assert protocol_methods == {op.python_name for op in OPERATIONS.values()}
    for name in sorted(protocol_methods):
        wanted = inspect.signature(getattr(backends.Backend, name)).parameters
        mine = inspect.signature(getattr(MockBackend, name)).parameters
        for parameter in wanted.values():
            if parameter.name == "self":
                continue
            assert parameter.name in mine, f"{name} does not accept {parameter.name}"
            assert mine[parameter.name].kind is inspect.Parameter.KEYWORD_ONLY
        required = {p.name for p in mine.values()
                    if p.default is inspect.Parameter.empty and p.name != "self"}
        assert required <= set(wanted), f"{name} requires {required - set(wanted)}"
