"""Server configuration, read from YAML (see ``default-config.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .policy import REFERENCE, Policy, PolicyError, parse_policy

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "Config",
    "ConfigError",
    "Environment",
    "Limits",
    "Project",
    "TokenGrant",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default-config.yaml")

ROLES = ("writer", "reader")
ALL_PROJECTS = "*"


class ConfigError(ValueError):
    """The configuration file is not usable; the message says where."""


@dataclass(frozen=True)
class Environment:
    key: str
    name: str


@dataclass(frozen=True)
class Project:
    key: str
    name: str
    environments: Mapping[str, Environment]


@dataclass(frozen=True)
class TokenGrant:
    role: str  # "writer" or "reader"
    projects: frozenset[str]  # project keys, or {"*"} for every project

    @property
    def can_write(self) -> bool:
        return self.role == "writer"

    def grants(self, project_key: str) -> bool:
        return ALL_PROJECTS in self.projects or project_key in self.projects


@dataclass(frozen=True)
class Limits:
    max_instructions: int = 1500  # per PATCH (instructions or JSON-patch operations)
    max_body_bytes: int = 1_048_576


@dataclass(frozen=True)
class Config:
    projects: Mapping[str, Project]
    tokens: Mapping[str, TokenGrant]
    rate_limit: int | None = 600  # requests per token per 10 s window; None: unlimited
    limits: Limits = field(default_factory=Limits)
    admin: bool = False  # whether /_admin/clock exists
    busy_timeout_ms: int = 5000  # how long a write waits for the database lock
    policy: Policy = REFERENCE  # the answers to what the documents leave open (tier 3)

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with some fields replaced (tests: ``admin=True`` etc.)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values.update(changes)
        return Config(**values)


def load_config(path: str | Path | None = None) -> Config:
    """Read a YAML configuration; ``None`` reads the shipped default."""
    source = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    return parse_config(raw, origin=str(source))


def parse_config(raw: Any, origin: str = "<config>") -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping")
    projects = _projects(raw.get("projects"), origin)
    tokens = _tokens(raw.get("tokens"), origin)
    rate = raw.get("rate_limit", {}) or {}
    if not isinstance(rate, dict):
        raise ConfigError(f"{origin}: rate_limit must be a mapping")
    per_window = rate.get("requests_per_10s", 600)
    if per_window is not None and (not _is_int(per_window) or per_window < 1):
        raise ConfigError(f"{origin}: rate_limit.requests_per_10s must be a positive integer or null")
    limits_raw = raw.get("limits", {}) or {}
    if not isinstance(limits_raw, dict):
        raise ConfigError(f"{origin}: limits must be a mapping")
    limits = Limits(
        max_instructions=_positive(limits_raw, "max_instructions", Limits.max_instructions, origin),
        max_body_bytes=_positive(limits_raw, "max_body_bytes", Limits.max_body_bytes, origin),
    )
    admin = raw.get("admin", False)
    if not isinstance(admin, bool):
        raise ConfigError(f"{origin}: admin must be true or false")
    store_raw = raw.get("store", {}) or {}
    busy = _positive(store_raw, "busy_timeout_ms", 5000, origin)
    try:
        policy = parse_policy(raw.get("policy"), origin)
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    return Config(
        projects=projects,
        tokens=tokens,
        rate_limit=per_window,
        limits=limits,
        admin=admin,
        busy_timeout_ms=busy,
        policy=policy,
    )


def _projects(raw: Any, origin: str) -> dict[str, Project]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{origin}: projects must be a non-empty mapping")
    projects = {}
    for key, body in raw.items():
        body = body or {}
        if not isinstance(body, dict):
            raise ConfigError(f"{origin}: projects.{key} must be a mapping")
        envs_raw = body.get("environments")
        if isinstance(envs_raw, list):
            envs_raw = {env: {} for env in envs_raw}
        if not isinstance(envs_raw, dict) or not envs_raw:
            raise ConfigError(f"{origin}: projects.{key}.environments must list at least one")
        envs = {}
        for env_key, env_body in envs_raw.items():
            env_body = env_body or {}
            if not isinstance(env_body, dict):
                raise ConfigError(f"{origin}: projects.{key}.environments.{env_key} must be a mapping")
            envs[str(env_key)] = Environment(str(env_key), str(env_body.get("name", env_key)))
        projects[str(key)] = Project(str(key), str(body.get("name", key)), envs)
    return projects


def _tokens(raw: Any, origin: str) -> dict[str, TokenGrant]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{origin}: tokens must be a non-empty mapping")
    tokens = {}
    for token, body in raw.items():
        if not isinstance(body, dict) or body.get("role") not in ROLES:
            raise ConfigError(f"{origin}: a token's role must be one of {', '.join(ROLES)}")
        granted = body.get("projects", [ALL_PROJECTS])
        if not isinstance(granted, list) or not all(isinstance(p, str) for p in granted):
            raise ConfigError(f"{origin}: a token's projects must be a list of project keys")
        tokens[str(token)] = TokenGrant(body["role"], frozenset(granted))
    return tokens


def _positive(raw: dict[str, Any], name: str, default: int, origin: str) -> int:
    value = raw.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{origin}: {name} must be a positive integer")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
