"""LaunchDarkly's official Python client (``launchdarkly_api``) for the tests that drive the mock
(tests/mock_server) and the proxy (tests/proxy) through it: a client for a base URL and token,
the APIs and models those tests use, and the request bodies of the scenario both send, defined
once so that the two keep sending the same thing. Importing this module skips the importing test
module when the client is not installed."""

from __future__ import annotations

from typing import Any

import pytest

launchdarkly_api = pytest.importorskip("launchdarkly_api")

from launchdarkly_api.api.feature_flags_api import FeatureFlagsApi
from launchdarkly_api.api.segments_api import SegmentsApi
from launchdarkly_api.api.user_settings_api import UserSettingsApi
from launchdarkly_api.exceptions import ApiException
from launchdarkly_api.models import (
    FeatureFlagBody,
    PatchFlagsRequest,
    PatchOperation,
    PatchSegmentExpiringTargetInputRep,
    PatchSegmentExpiringTargetInstruction,
    PatchSegmentInstruction,
    PatchSegmentRequest,
    PatchUsersRequest,
    PatchWithComment,
    SegmentBody,
)

__all__ = [
    "ApiException",
    "FeatureFlagBody",
    "FeatureFlagsApi",
    "PatchSegmentExpiringTargetInputRep",
    "PatchSegmentExpiringTargetInstruction",
    "SegmentBody",
    "SegmentsApi",
    "UserSettingsApi",
    "api_client",
    "flag_context_expiry",
    "flag_targets",
    "flag_user_expiries",
    "segment_context_expiries",
    "segment_targets",
    "segment_user_expiries",
    "user_flag_expiry",
]


def api_client(base_url: str, token: str) -> Any:
    """An ``ApiClient`` (a context manager) sending `token` as ``Authorization`` to `base_url`."""
    configuration = launchdarkly_api.Configuration(host=base_url)
    configuration.api_key["ApiKey"] = token
    return launchdarkly_api.ApiClient(configuration)


def segment_targets(comment: str | None = None) -> PatchWithComment:
    """Include the users alice and bob and the org acme: the targets the schedules act on."""
    return PatchWithComment(patch=[
        PatchOperation(op="add", path="/included", value=["alice", "bob"]),
        PatchOperation(op="add", path="/includedContexts",
                       value=[{"contextKind": "org", "values": ["acme"]}]),
    ], comment=comment)


def segment_user_expiries(date: int) -> PatchSegmentRequest:
    """Schedule alice and carol to leave the segment at `date`: carol is not in it, so the
    second instruction fails."""
    return PatchSegmentRequest(instructions=[
        PatchSegmentInstruction(kind="addExpireUserTargetDate", userKey=user,
                                targetType="included", value=date)
        for user in ("alice", "carol")])


def segment_context_expiries(alice_date: int, acme_date: int) -> (
    PatchSegmentExpiringTargetInputRep
):
    """Move alice's schedule (at version 1) to `alice_date`; schedule the org acme for
    `acme_date`."""
    return PatchSegmentExpiringTargetInputRep(instructions=[
        PatchSegmentExpiringTargetInstruction(kind="updateExpiringTarget", contextKind="user",
                                              contextKey="alice", targetType="included",
                                              value=alice_date, version=1),
        PatchSegmentExpiringTargetInstruction(kind="addExpiringTarget", contextKind="org",
                                              contextKey="acme", targetType="included",
                                              value=acme_date),
    ])


def flag_targets() -> PatchWithComment:
    """In the test environment, serve variation 0 to alice and variation 1 to the org acme."""
    return PatchWithComment(patch=[
        PatchOperation(op="add", path="/environments/test/targets",
                       value=[{"variation": 0, "values": ["alice"]}]),
        PatchOperation(op="add", path="/environments/test/contextTargets",
                       value=[{"variation": 1, "contextKind": "org", "values": ["acme"]}]),
    ])


def flag_user_expiries(on: str, off: str, date: int) -> PatchFlagsRequest:
    """Schedule alice's removal from variation `on` and from `off` at `date`: she is served only
    `on` (the first variation), so the second instruction fails."""
    return PatchFlagsRequest(instructions=[
        {"kind": "addExpireUserTargetDate", "userKey": "alice", "variationId": variation,
         "value": date}
        for variation in (on, off)])


def flag_context_expiry(variation: str, date: int) -> PatchFlagsRequest:
    """Schedule the org acme's removal from `variation` (the one it is served) at `date`."""
    return PatchFlagsRequest(instructions=[
        {"kind": "addExpiringTarget", "contextKind": "org", "contextKey": "acme",
         "variationId": variation, "value": date}])


def user_flag_expiry(flag_key: str, variation: str, date: int) -> PatchUsersRequest:
    """From the user's side: move alice's schedule on `flag_key`'s `variation` (at version 1) to
    `date`."""
    return PatchUsersRequest(instructions=[
        {"kind": "updateExpireUserTargetDate", "flagKey": flag_key, "variationId": variation,
         "value": date, "version": 1}])
