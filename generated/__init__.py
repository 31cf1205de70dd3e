"""Generated from the OpenAPI contract of Expiring targets kit — feature flags; do not edit.

Modules: ``models`` (pydantic), ``operations`` (metadata), ``backends`` (protocols),
``routers`` and ``app`` (Starlette server), ``client`` (httpx). Regenerate with
`python -m generator`; `python -m generator --check` tells whether this package is current.
"""

from .operations import OPERATIONS, RULES, SEMANTIC_PATCH_MEDIA_TYPE

__all__ = ["OPERATIONS", "RULES", "SEMANTIC_PATCH_MEDIA_TYPE"]
