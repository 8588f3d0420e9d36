"""Stored API keys: one record shape for both writers (ApiKey resources and the REST API).

Keys created with `kubectl apply` of an ApiKey are *managed by the operator*; keys created over
REST are *managed by the API*. Both land in one collection so the token endpoint looks up one
place, and each writer may change only its own keys: the other side gets a clear refusal.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

COLLECTION: Final = "api_keys"


class KeyWriter(StrEnum):
    """Who created a key, and therefore who alone may change or delete it."""

    OPERATOR = "operator"
    API = "api"


class Unusable(StrEnum):
    """Why a stored key cannot authenticate right now."""

    REVOKED = "revoked"
    EXPIRED = "expired"
    ROTATED_OUT = "rotated_out"


class ApiKeyNotFoundError(LookupError):
    """No key with that id (for that tenant)."""


class ForeignKeyError(PermissionError):
    """A writer tried to change a key that the other writer owns."""

    def __init__(self, record: "ApiKeyRecord", writer: KeyWriter) -> None:
        how = (
            f"through the ApiKey resource {record.source.namespace}/{record.source.name}; "
            "change it with kubectl"
            if record.managed_by is KeyWriter.OPERATOR and record.source is not None
            else "through the REST API (/v1/auth/api-keys)"
        )
        super().__init__(
            f"API key {record.key_id} is managed by the {record.managed_by.value} {how}; "
            f"the {writer.value} may not modify it"
        )
        self.record = record
        self.writer = writer


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceRef:
    """The ApiKey custom resource an operator-managed key belongs to."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyRecord:
    """What is stored for one key: never the key itself, only its hash."""

    key_id: str
    tenant: str
    name: str
    key_hash: str
    scopes: tuple[str, ...]
    managed_by: KeyWriter
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    # Rotation overlap: a replaced key stays valid until `valid_until`, then stops.
    valid_until: datetime | None = None
    replaced_by: str | None = None
    source: ResourceRef | None = None

    def unusable(self, *, now: datetime) -> Unusable | None:
        """None when the key may authenticate at `now`, else the first reason it may not."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return Unusable.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return Unusable.EXPIRED
        if self.valid_until is not None and self.valid_until <= now:
            return Unusable.ROTATED_OUT
        return None

    def check_writer(self, writer: KeyWriter) -> None:
        """Raise `ForeignKeyError` unless `writer` owns this key."""
        if self.managed_by is not writer:
            raise ForeignKeyError(self, writer)

    def replaced(self, *, by: str, valid_until: datetime) -> "ApiKeyRecord":
        """This key after rotation: still valid until the end of the overlap window."""
        end = valid_until if self.valid_until is None else min(self.valid_until, valid_until)
        return replace(self, replaced_by=by, valid_until=end)


def to_document(record: ApiKeyRecord) -> dict[str, Any]:
    """The Mongo document of a record (`_id` is the public key id)."""
    return {
        "_id": record.key_id,
        "tenant": record.tenant,
        "name": record.name,
        "keyHash": record.key_hash,
        "scopes": list(record.scopes),
        "managedBy": record.managed_by.value,
        "createdAt": record.created_at,
        "expiresAt": record.expires_at,
        "revokedAt": record.revoked_at,
        "validUntil": record.valid_until,
        "replacedBy": record.replaced_by,
        "source": None
        if record.source is None
        else {"namespace": record.source.namespace, "name": record.source.name,
              "uid": record.source.uid},
    }  # fmt: skip


def from_document(doc: Mapping[str, Any]) -> ApiKeyRecord:
    """A record from its Mongo document."""
    source = doc.get("source")
    return ApiKeyRecord(
        key_id=doc["_id"],
        tenant=doc["tenant"],
        name=doc["name"],
        key_hash=doc["keyHash"],
        scopes=tuple(doc.get("scopes", ())),
        managed_by=KeyWriter(doc["managedBy"]),
        created_at=doc["createdAt"],
        expires_at=doc.get("expiresAt"),
        revoked_at=doc.get("revokedAt"),
        valid_until=doc.get("validUntil"),
        replaced_by=doc.get("replacedBy"),
        source=None if not source else ResourceRef(**source),
    )
