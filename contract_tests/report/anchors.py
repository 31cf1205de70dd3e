"""Anchors: the id a heading gets, the same in the HTML as GitHub makes it from the Markdown
heading, so that a link works in both documents."""

from __future__ import annotations

import re

__all__ = ["coverage_anchor", "slug"]


def slug(title: str) -> str:
    """An anchor as GitHub makes it from a heading."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def coverage_anchor(operation: str) -> str:
    """The anchor of an operation's coverage table (heading "Coverage: `operation`")."""
    return slug(f"Coverage: {operation}")
