"""Problems found in the input, collected and reported together instead of raised mid-stage."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["GenerationFailed", "Problem", "escape_pointer", "pointer"]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one input file, located by line/column or by JSON pointer."""

    file: str
    location: str  # "12:5": line and column, 1-based; "" when unknown
    message: str
    pointer: str = ""  # "#/paths/~1a/get": JSON pointer into the file, for non-syntax problems

    def __str__(self) -> str:
        where = self.file + (f":{self.location}" if self.location else "")
        if self.pointer:
            where += f" {self.pointer}"
        return f"{where}: {self.message}"


class GenerationFailed(Exception):
    """Raised by a stage whose problems make the next stage pointless."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def escape_pointer(token: object) -> str:
    """Escape one JSON-pointer reference token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(*tokens: object) -> str:
    """Build a URI-fragment style JSON pointer ("#/a/b") from raw tokens."""
    return "#" + "".join("/" + escape_pointer(t) for t in tokens)
