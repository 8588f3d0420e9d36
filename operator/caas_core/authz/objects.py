"""Stored authorization objects, the changes writers make, and the owner rule (pure).

Shared by the store (`caas_core.adapters.authz_store`), the control plane's services (which may
not import adapters) and the operator's AccessPolicy reconciler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from caas_core.authz.documents import Assembled, Kind
from caas_core.domain.api_key_records import ResourceRef


class Writer(StrEnum):
    """Who wrote an object, and therefore who alone may change or delete it."""

    API = "api"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredObject:
    """One stored object: its JSON document and who owns it."""

    kind: Kind
    key: str
    document: Mapping[str, Any]
    owner: Writer
    source: ResourceRef | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Put:
    """Create or replace an object."""

    kind: Kind
    key: str
    document: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove an object (a missing one is not an error inside a change)."""

    kind: Kind
    key: str


Operation = Put | Delete


@dataclass(frozen=True, slots=True)
class Committed:
    """A change stored: the new version and the set it compiled to."""

    version: str
    assembled: Assembled
    changed: tuple[Operation, ...]


class ObjectNotFoundError(LookupError):
    """No such object for that tenant."""

    def __init__(self, kind: Kind, key: str) -> None:
        super().__init__(f"no {kind.value} {key!r}")
        self.kind, self.key = kind, key


class ForeignObjectError(PermissionError):
    """A writer tried to change an object the other writer owns."""

    def __init__(self, stored: StoredObject, writer: Writer) -> None:
        how = (
            f"through the AccessPolicy resource {stored.source.namespace}/{stored.source.name}; "
            "change it with kubectl"
            if stored.owner is Writer.OPERATOR and stored.source is not None
            else "through the REST API (/v1/security)"
        )
        super().__init__(
            f"{stored.kind.value} {stored.key!r} is managed by the {stored.owner.value} {how}; "
            f"the {writer.value} may not modify it"
        )
        self.stored, self.writer = stored, writer


def may_write(stored: StoredObject, writer: Writer, source: ResourceRef | None) -> bool:
    """Whether `writer` (for `source`, if the operator) may change or delete `stored`."""
    if stored.owner is not writer:
        return False
    # Two AccessPolicy resources may not overwrite each other's objects either.
    if writer is Writer.OPERATOR and stored.source is not None and source is not None:
        return stored.source.uid == source.uid
    return True
