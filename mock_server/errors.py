"""Domain errors: an HTTP status, one of the API's error codes, a message."""

from __future__ import annotations

__all__ = [
    "DomainError",
    "InstructionFailed",
    "VersionMismatch",
    "conflict",
    "invalid_request",
    "not_found",
    "unavailable",
]


class DomainError(Exception):
    """A request-level failure; the adapter turns it into ``{code, message}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class InstructionFailed(Exception):
    """One semantic-patch instruction cannot be applied; it changed nothing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VersionMismatch(InstructionFailed):
    """An update's ``version`` is not the current one (policy ``version_mismatch``: the
    instruction fails, or the whole request gets 409)."""


def invalid_request(message: str) -> DomainError:
    return DomainError(400, "invalid_request", message)


def not_found(message: str) -> DomainError:
    return DomainError(404, "not_found", message)


def conflict(message: str) -> DomainError:
    return DomainError(409, "conflict", message)


def unavailable(message: str) -> DomainError:
    return DomainError(503, "service_unavailable", message)
