from __future__ import annotations

import pytest

from mock_server.clock import SettableClock
from mock_server.config import ConfigError, load_config, parse_config


def test_default_config_has_a_writer_a_reader_and_two_environments() -> None:
    config = load_config()
    assert set(config.projects["default"].environments) == {"test", "production"}
    roles = sorted(grant.role for grant in config.tokens.values())
    assert roles == ["reader", "writer"]
    assert config.admin is False
    assert config.limits.max_instructions == 1500


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ({"tokens": {"t": {"role": "writer"}}}, "projects"),
        ({"projects": {"p": {"environments": ["e"]}}}, "tokens"),
        ({"projects": {"p": {"environments": []}}, "tokens": {"t": {"role": "writer"}}}, "environments"),
        ({"projects": {"p": {"environments": ["e"]}}, "tokens": {"t": {"role": "admin"}}}, "role"),
        ({"projects": {"p": {"environments": ["e"]}}, "tokens": {"t": {"role": "reader"}},
          "limits": {"max_instructions": 0}}, "max_instructions"),
        ({"projects": {"p": {"environments": ["e"]}}, "tokens": {"t": {"role": "reader"}},
          "admin": "yes"}, "admin"),
    ],
)
def test_bad_configs_are_refused_with_the_place(raw: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_config(raw)


def test_token_grants_projects() -> None:
    config = parse_config({
        "projects": {"a": {"environments": ["e"]}, "b": {"environments": ["e"]}},
        "tokens": {"t": {"role": "reader", "projects": ["a"]}},
    })
    grant = config.tokens["t"]
    assert grant.grants("a") and not grant.grants("b") and not grant.can_write


def test_settable_clock_moves_only_when_told() -> None:
    clock = SettableClock(1000)
    assert clock.now_ms() == 1000 and clock.is_fixed
    assert clock.advance(500) == 1500
    clock.reset()
    assert not clock.is_fixed and clock.now_ms() > 1_600_000_000_000
