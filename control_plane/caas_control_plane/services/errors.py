"""Errors services raise; the HTTP edge turns each into one problem+json answer."""

from typing import ClassVar


class ServiceError(Exception):
    """A refused request, with an HTTP status and a stable problem type suffix."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class InvalidCredentialsError(ServiceError):
    """Missing, malformed, unknown, expired or revoked credentials (never says which)."""

    status = 401
    code = "invalid-credentials"
    title = "Invalid credentials"


class InvalidGrantError(ServiceError):
    """A refresh token that cannot be used (RFC 6749 §5.2 `invalid_grant`)."""

    status = 400
    code = "invalid-grant"
    title = "Invalid grant"


class InsufficientScopeError(ServiceError):
    """The API key lacks the scope this call needs."""

    status = 403
    code = "insufficient-scope"
    title = "Insufficient scope"


class RateLimitedError(ServiceError):
    """Too many requests; `Retry-After` says when to come back."""

    status = 429
    code = "rate-limited"
    title = "Too many requests"


class NotFoundError(ServiceError):
    """No such resource (or one of another tenant: indistinguishable on purpose)."""

    status = 404
    code = "not-found"
    title = "Not found"


class BackendUnavailableError(ServiceError):
    """A backend the call needs did not answer."""

    status = 503
    code = "backend-unavailable"
    title = "Backend unavailable"


class ConflictError(ServiceError):
    """The resource is in a state (or owned by a writer) that forbids this change."""

    status = 409
    code = "conflict"
    title = "Conflict"


class QuotaExceededError(ServiceError):
    """The tenant's plan does not allow more of this resource."""

    status = 403
    code = "quota-exceeded"
    title = "Quota exceeded"


class InvalidRequestError(ServiceError):
    """A well-formed request whose values make no sense together (e.g. an expiry in the past)."""

    status = 422
    code = "invalid-request"
    title = "Invalid request"


class LockedError(ServiceError):
    """Too many failed attempts: locked for a while on every instance (see Retry-After)."""

    status = 429
    code = "locked"
    title = "Too many failed attempts"


class MfaRequiredError(ServiceError):
    """The action needs a recent second factor (a step-up token from /v1/mfa/verify)."""

    status = 403
    code = "mfa-required"
    title = "Second factor required"
