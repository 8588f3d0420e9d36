"""What the `/v1/security` routes share: models, and refusals as problems naming the pointer.

The services raise `AuthzDocumentError` with every error's JSON pointer and `AuthzOwnerError`
with the owning writer; the generic problem handler would drop those, so they are re-raised
here as problems with `errors: [{pointer, detail}]` and `owner` members.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from pydantic import Field

from caas_control_plane.problems import PROBLEM_BASE, ProblemError
from caas_control_plane.schemas import CamelModel
from caas_control_plane.services.authz_admin import describe
from caas_control_plane.services.authz_errors import AuthzDocumentError, AuthzOwnerError
from caas_core.authz.objects import StoredObject

PREFIX: Final = "/v1/security"


@contextmanager
def refusals() -> Iterator[None]:
    """Answer the authorization services' refusals with their pointers and owners."""
    try:
        yield
    except AuthzDocumentError as error:
        where: dict[str, Any] = (
            {} if error.kind is None else {"object": {"kind": error.kind, "name": error.key}}
        )
        raise ProblemError(
            status=error.status,
            title=error.title,
            detail=error.detail,
            type_=f"{PROBLEM_BASE}{error.code}",
            errors=[_located(at, message) for at, message in error.errors[:10]],
            errorCount=len(error.errors),
            **where,
        ) from None
    except AuthzOwnerError as error:
        raise ProblemError(
            status=error.status,
            title=error.title,
            detail=error.detail,
            type_=f"{PROBLEM_BASE}{error.code}",
            owner=error.owner.value,
        ) from None


def _located(at: str, message: str) -> dict[str, str]:
    # Text policies are refused at `line:column`, JSON documents at a JSON pointer.
    if _POSITION.fullmatch(at):
        return {"position": at, "detail": message}
    return {"pointer": at, "detail": message}


_POSITION: Final = re.compile(r"\d+:\d+")


class EntityRef(CamelModel):
    """An entity of the caller's tenant."""

    type: str = Field(min_length=1, max_length=128)
    id: str = Field(min_length=1, max_length=1024)


class ObjectPublic(CamelModel):
    """One stored authorization object."""

    name: str = Field(description="Its key inside the tenant (policy id, role name, …).")
    document: dict[str, Any] = Field(description="The JSON document as written.")
    managed_by: str = Field(description="`api` (REST) or `operator` (an AccessPolicy).")
    resource: str | None = Field(default=None, description="namespace/name of its AccessPolicy.")
    updated_at: str
    permissions: list[str] | None = Field(default=None, description="A role's permissions.")


class ObjectList(CamelModel):
    """Objects of one kind, in name order, and the tenant's current policy-set version."""

    items: list[ObjectPublic]
    policy_set_version: str


class Written(CamelModel):
    """A change stored: the policy-set version it created."""

    name: str
    policy_set_version: str


def public(stored: StoredObject, *, permissions: list[str] | None = None) -> ObjectPublic:
    """The API's view of a stored object."""
    return ObjectPublic.model_validate(
        {**describe(stored), **({} if permissions is None else {"permissions": permissions})}
    )
