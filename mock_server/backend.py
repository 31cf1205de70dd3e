"""The adapter from the generated ``Backend`` protocol to :class:`MockService`.

Each method turns the parsed request model into plain data, calls the
service with the instruction metadata of its operation (from
``generated.operations``), and returns the response model; a
:class:`~mock_server.errors.DomainError` becomes ``ApiError``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from generated import models
from generated._runtime import ApiError
from generated.operations import OPERATIONS

from .errors import DomainError
from .instructions import Kinds
from .service import MockService, plain

__all__ = ["MockBackend"]

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)


def _api_errors(method: F) -> F:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except DomainError as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None

    return wrapper  # type: ignore[return-value]


def _plain(body: Any) -> Any:
    """A request body as plain JSON: a model as sent (unset fields left out), or the JSON
    value itself (``create_mock_app`` serves bodies unmodelled: ``body_models=False``)."""
    if body is None:
        return None
    if hasattr(body, "model_dump"):
        return body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return body


class MockBackend:
    """Implements ``generated.backends.Backend`` over a :class:`MockService`.

    Every method accepts the protocol's ``authorization`` and never reads it: the mock
    authenticates once, before routing (``mock_server.access``; docs/mock-server.md,
    Authentication), so a request that gets here is already authenticated.
    """

    def __init__(
        self,
        service: MockService,
        operations: Mapping[str, Any] = OPERATIONS,
        *,
        validate_responses: bool = False,
    ) -> None:
        self.service = service
        self.validate_responses = validate_responses
        self._kinds: dict[str, Kinds] = {
            op.python_name: op.instructions for op in operations.values()
        }

    def _respond(self, model: type[M], data: dict[str, Any]) -> M:
        """The response model; unvalidated unless ``validate_responses``.

        The domain builds every representation to its schema (the tests validate them
        against the generated models), and pydantic validation would cost more than the
        rest of a large listing's answer (docs/mock-server.md, Design figures): by default
        the dict goes out as is (``to_response`` serialises plain data the same way, and a
        listing's stored ``items`` text verbatim).
        """
        if self.validate_responses:
            return model.model_validate(plain(data))
        return cast(M, data)

    # segments: expiring targets ----------------------------------------------

    @_api_errors
    def get_expiring_user_targets_for_segment(
        self, *, project_key: str, environment_key: str, segment_key: str,
        authorization: str | None = None,
    ) -> models.ExpiringUserTargetGetResponse:
        result = self.service.segment_schedules(
            project_key, environment_key, segment_key, users_only=True
        )
        return self._respond(models.ExpiringUserTargetGetResponse, result)

    @_api_errors
    def patch_expiring_user_targets_for_segment(
        self, *, project_key: str, environment_key: str, segment_key: str,
        body: models.PatchSegmentRequest, authorization: str | None = None,
    ) -> models.ExpiringUserTargetPatchResponse:
        result = self.service.patch_segment_schedules(
            project_key, environment_key, segment_key, _plain(body),
            self._kinds["patch_expiring_user_targets_for_segment"], users_only=True,
        )
        return self._respond(models.ExpiringUserTargetPatchResponse, result)

    @_api_errors
    def get_expiring_targets_for_segment(
        self, *, project_key: str, environment_key: str, segment_key: str,
        authorization: str | None = None,
    ) -> models.ExpiringTargetGetResponse:
        result = self.service.segment_schedules(
            project_key, environment_key, segment_key, users_only=False
        )
        return self._respond(models.ExpiringTargetGetResponse, result)

    @_api_errors
    def patch_expiring_targets_for_segment(
        self, *, project_key: str, environment_key: str, segment_key: str,
        body: models.PatchSegmentExpiringTargetInputRep, authorization: str | None = None,
    ) -> models.ExpiringTargetPatchResponse:
        result = self.service.patch_segment_schedules(
            project_key, environment_key, segment_key, _plain(body),
            self._kinds["patch_expiring_targets_for_segment"], users_only=False,
        )
        return self._respond(models.ExpiringTargetPatchResponse, result)

    # segments: setup ---------------------------------------------------------

    @_api_errors
    def post_segment(
        self, *, project_key: str, environment_key: str, body: models.SegmentBody,
        authorization: str | None = None,
    ) -> models.UserSegment:
        result = self.service.post_segment(project_key, environment_key, _plain(body))
        return self._respond(models.UserSegment, result)

    @_api_errors
    def get_segment(
        self, *, project_key: str, environment_key: str, segment_key: str,
        authorization: str | None = None,
    ) -> models.UserSegment:
        result = self.service.get_segment(project_key, environment_key, segment_key)
        return self._respond(models.UserSegment, result)

    @_api_errors
    def patch_segment(
        self, *, project_key: str, environment_key: str, segment_key: str,
        body: models.JSONPatchRequest | models.SegmentSemanticPatch,
        authorization: str | None = None, dry_run: bool | None = None,
    ) -> models.UserSegment:
        result = self.service.patch_segment(
            project_key, environment_key, segment_key, _plain(body),
            self._kinds["patch_segment"], dry_run=bool(dry_run),
        )
        return self._respond(models.UserSegment, result)

    @_api_errors
    def delete_segment(
        self, *, project_key: str, environment_key: str, segment_key: str,
        authorization: str | None = None,
    ) -> None:
        self.service.delete_segment(project_key, environment_key, segment_key)

    # flags: expiring targets -------------------------------------------------

    @_api_errors
    def get_expiring_user_targets(
        self, *, project_key: str, environment_key: str, feature_flag_key: str,
        authorization: str | None = None,
    ) -> models.ExpiringUserTargetGetResponse:
        result = self.service.flag_schedules(
            project_key, environment_key, feature_flag_key, users_only=True
        )
        return self._respond(models.ExpiringUserTargetGetResponse, result)

    @_api_errors
    def patch_expiring_user_targets(
        self, *, project_key: str, environment_key: str, feature_flag_key: str,
        body: models.PatchFlagsRequest, authorization: str | None = None,
    ) -> models.ExpiringUserTargetPatchResponse:
        result = self.service.patch_flag_schedules(
            project_key, environment_key, feature_flag_key, _plain(body),
            self._kinds["patch_expiring_user_targets"], users_only=True,
        )
        return self._respond(models.ExpiringUserTargetPatchResponse, result)

    @_api_errors
    def get_expiring_context_targets(
        self, *, project_key: str, environment_key: str, feature_flag_key: str,
        authorization: str | None = None,
    ) -> models.ExpiringTargetGetResponse:
        result = self.service.flag_schedules(
            project_key, environment_key, feature_flag_key, users_only=False
        )
        return self._respond(models.ExpiringTargetGetResponse, result)

    @_api_errors
    def patch_expiring_targets(
        self, *, project_key: str, environment_key: str, feature_flag_key: str,
        body: models.PatchFlagsRequest, authorization: str | None = None,
    ) -> models.ExpiringTargetPatchResponse:
        result = self.service.patch_flag_schedules(
            project_key, environment_key, feature_flag_key, _plain(body),
            self._kinds["patch_expiring_targets"], users_only=False,
        )
        return self._respond(models.ExpiringTargetPatchResponse, result)

    # flags: setup ------------------------------------------------------------

    @_api_errors
    def post_feature_flag(
        self, *, project_key: str, body: models.FeatureFlagBody,
        authorization: str | None = None, clone: str | None = None,
    ) -> models.FeatureFlag:
        if clone is not None:
            raise ApiError(400, "invalid_request", "the mock server does not support clone")
        result = self.service.post_flag(project_key, _plain(body))
        return self._respond(models.FeatureFlag, result)

    @_api_errors
    def get_feature_flag(
        self, *, project_key: str, feature_flag_key: str, authorization: str | None = None,
        env: str | None = None, expand: str | None = None,
    ) -> models.FeatureFlag:
        result = self.service.get_flag(project_key, feature_flag_key, env)
        return self._respond(models.FeatureFlag, result)

    @_api_errors
    def patch_feature_flag(
        self, *, project_key: str, feature_flag_key: str,
        body: models.JSONPatchRequest | models.FlagSemanticPatch,
        authorization: str | None = None, dry_run: bool | None = None,
        ignore_conflicts: bool | None = None,
    ) -> models.FeatureFlag:
        result = self.service.patch_flag(
            project_key, feature_flag_key, _plain(body), self._kinds["patch_feature_flag"],
            dry_run=bool(dry_run),
        )
        return self._respond(models.FeatureFlag, result)

    @_api_errors
    def delete_feature_flag(
        self, *, project_key: str, feature_flag_key: str, authorization: str | None = None,
    ) -> None:
        self.service.delete_flag(project_key, feature_flag_key)

    # users -------------------------------------------------------------------

    @_api_errors
    def get_expiring_flags_for_user(
        self, *, project_key: str, environment_key: str, user_key: str,
        authorization: str | None = None,
    ) -> models.ExpiringUserTargetGetResponse:
        result = self.service.user_schedules(project_key, environment_key, user_key)
        return self._respond(models.ExpiringUserTargetGetResponse, result)

    @_api_errors
    def patch_expiring_flags_for_user(
        self, *, project_key: str, environment_key: str, user_key: str,
        body: models.PatchUsersRequest, authorization: str | None = None,
    ) -> models.ExpiringUserTargetPatchResponse:
        result = self.service.patch_user_schedules(
            project_key, environment_key, user_key, _plain(body),
            self._kinds["patch_expiring_flags_for_user"],
        )
        return self._respond(models.ExpiringUserTargetPatchResponse, result)
