"""Requests the generated client will not send (other Content-Types, malformed bodies), addressed
through the operation metadata on the suite's own resources."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from generated.operations import Operation

from .provisioning import Provisioned
from .targets import Target

__all__ = ["path_values", "raw_request"]


def path_values(p: Provisioned) -> dict[str, str]:
    """The value of each path parameter on the suite's own resources."""
    return {
        "projectKey": p.project,
        "environmentKey": p.environment,
        "segmentKey": p.segment_key,
        "featureFlagKey": p.flag_key,
        "userKey": p.user_slots(p.flag_slots)[0].context_key,
    }


def raw_request(target: Target, op: Operation, p: Provisioned, content: bytes,
                content_type: str | None) -> Any:
    """`op` on the suite's resources with this body and Content-Type (None: no header)."""
    url = op.path
    for name, value in path_values(p).items():
        url = url.replace("{" + name + "}", quote(value, safe=""))
    headers = {"Authorization": target.settings.token}
    if content_type is not None:
        headers["Content-Type"] = content_type
    with target.raw() as http:
        return http.request(op.method, url, content=content, headers=headers)
