"""Errors that services raise and the API and pages translate, each with a stable code."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the platform was not met. `code` is stable and machine-readable; `message` is Chinese."""

    code = "domain_error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class NotFound(DomainError):
    code = "not_found"
    status = 404


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class ValidationFailed(DomainError):
    code = "validation_failed"
    status = 422
