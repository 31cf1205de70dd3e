"""Which token a recorded request carried, named without its value.

A token the recording side's environment gives is written as its role (`writer`: the value of
``LD_API_TOKEN``, `reader`: of ``LD_API_TOKEN_READONLY``), so that a replay can send its own
token of the same role. Any other token is `token-1`, `token-2`, ... in the order first seen:
nothing says what it may do, so only the user can say which token stands for it — a guess could
replay a request with more privilege than it was recorded with. The label is the token's, not the
header's spelling: ``Bearer X`` and ``X`` get one label, and the scheme is kept beside it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["OPAQUE", "ROLES", "Credential", "split_authorization", "token_roles"]

ROLES = {"writer": "LD_API_TOKEN", "reader": "LD_API_TOKEN_READONLY"}  # role label -> variable
OPAQUE = re.compile(r"token-[1-9][0-9]*")  # a token of no known role


@dataclass(frozen=True)
class Credential:
    """The Authorization header of a request with the token's label in place of the token."""

    label: str
    scheme: str | None = None  # as spelt ("Bearer"); None: the bare token

    def header(self, token: str) -> str:
        """The Authorization value with `token` in the recorded spelling."""
        return f"{self.scheme} {token}" if self.scheme else token

    def __str__(self) -> str:
        return self.header(self.label)


def split_authorization(value: str) -> tuple[str | None, str]:
    """The scheme (None: none) and the token of an Authorization value (``Bearer X``, ``X``)."""
    scheme, _, token = value.strip().partition(" ")
    return (scheme, token.strip()) if token.strip() else (None, scheme)


def token_roles(variables: Mapping[str, str | None] = os.environ) -> dict[str, str]:
    """Token -> role label of the tokens that `variables` (the environment) give. A token given
    as both is the `reader`: a label must never stand for more than the token may do."""
    return {token: role for role, variable in ROLES.items() if (token := variables.get(variable))}
