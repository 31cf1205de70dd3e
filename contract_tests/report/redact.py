"""The last guard against leaked secrets: every file the run wrote is rescanned at the end."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ..recorder import ELLIPSES, redact_secrets

__all__ = ["scrub_files"]


def scrub_files(paths: Iterable[Path], secrets: Sequence[str]) -> list[Path]:
    """Replace every secret in the files written; returns those changed."""
    changed = []
    for path in paths:
        if not path.is_file():
            continue
        content = original = path.read_bytes()
        for secret in secrets:
            content = content.replace(secret.encode(), b"***")
        text = content.decode("utf-8", "surrogateescape")
        if any(e in text for e in ELLIPSES):  # halves of a secret a shortened repr cut
            content = redact_secrets(text, list(secrets)).encode("utf-8", "surrogateescape")
        if content != original:
            path.write_bytes(content)
            changed.append(path)
    return changed
