"""Refusals of the authorization services, and the store's errors translated into them.

A refused document carries every error's JSON pointer (`errors`), so the HTTP edge can answer a
problem naming exactly where the mistake is; an object of the other writer is a conflict naming
its owner.
"""

from collections.abc import Sequence
from typing import ClassVar

from caas_control_plane.services.errors import ConflictError, NotFoundError, ServiceError
from caas_core.authz.documents import LimitError, ObjectError, SetError
from caas_core.authz.objects import ForeignObjectError, ObjectNotFoundError, Writer
from caas_core.authz.schema import DocumentError


class AuthzDocumentError(ServiceError):
    """A policy, role, grant, schema or request document is invalid (errors at JSON pointers)."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "invalid-authorization-document"
    title: ClassVar[str] = "Invalid authorization document"

    def __init__(
        self, detail: str, *, errors: Sequence[tuple[str, str]], kind: str | None = None,
        key: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(detail)
        self.errors = tuple(errors)
        self.kind, self.key = kind, key


class AuthzSetError(ServiceError):
    """The change would leave a set that does not compile (role cycle, unknown role …)."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "invalid-policy-set"
    title: ClassVar[str] = "Invalid policy set"


class AuthzLimitError(ServiceError):
    """The tenant would hold more objects of a kind than allowed."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "policy-set-too-large"
    title: ClassVar[str] = "Policy set too large"


class AuthzOwnerError(ConflictError):
    """The object belongs to the other writer (an AccessPolicy resource, or the REST API)."""

    def __init__(self, detail: str, *, owner: Writer) -> None:
        super().__init__(detail)
        self.owner = owner


def refused(error: Exception) -> ServiceError:
    """The service error for one of the store's or the engine's refusals."""
    if isinstance(error, ObjectError):
        return AuthzDocumentError(
            str(error), errors=error.errors, kind=error.kind.value, key=error.key
        )
    if isinstance(error, DocumentError):
        return AuthzDocumentError(str(error), errors=error.errors)
    if isinstance(error, SetError):
        return AuthzSetError(str(error))
    if isinstance(error, LimitError):
        return AuthzLimitError(str(error))
    if isinstance(error, ForeignObjectError):
        return AuthzOwnerError(str(error), owner=error.stored.owner)
    if isinstance(error, ObjectNotFoundError):
        return NotFoundError(str(error))
    raise error


REFUSALS = (
    ObjectError,
    DocumentError,
    SetError,
    LimitError,
    ForeignObjectError,
    ObjectNotFoundError,
)
