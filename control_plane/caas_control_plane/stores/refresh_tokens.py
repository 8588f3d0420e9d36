"""Refresh families in `caas_platform.refresh_families`; one pointer per token hash in
`caas_platform.refresh_tokens`; one rotation record per replaced token in
`caas_platform.refresh_rotations`.

Every lookup on the hot path is by `_id` (the token hash, then the family id): that is an index
hit on MongoDB and the one indexed access FerretDB serves without a collection scan.

Rotation is decided by *inserting* the rotation record keyed by the replaced token's hash: a
unique `_id` insert is atomic on MongoDB and on FerretDB alike (a conditional `update_one` is not
on FerretDB 1.24, which reads and writes without isolation: two concurrent compare-and-sets both
won in our tests). Exactly one concurrent refresh inserts it; the others read it back and hand
out the same sealed successor. Applying a rotation to the family afterwards is idempotent (every
writer computes the same values from the record), so a loser may complete a winner that died.
"""

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from caas_control_plane.auth.refresh import Family, FamilyState, RevocationReason
from caas_core.adapters.outbox import GroupInserter

FAMILIES: Final = "refresh_families"
TOKENS: Final = "refresh_tokens"
ROTATIONS: Final = "refresh_rotations"
Document = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFamily:
    """A family as stored, and when it started."""

    family: Family
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Rotation:
    """The one successor of a replaced token: its hash and the sealed token itself."""

    replaced_hash: str
    family_id: str
    successor_hash: str
    successor_sealed: str
    rotated_at: datetime


def _to_document(family: Family) -> Document:
    return {
        "tenant": family.tenant_id,
        "user": family.user_id,
        "session": family.session_id,
        "currentHash": family.current_hash,
        "previousHashes": list(family.previous_hashes),
        "rotatedAt": family.rotated_at,
        "expiresAt": family.expires_at,
        "state": family.state.value,
        "reason": None if family.reason is None else family.reason.value,
        "revokedAt": family.revoked_at,
    }


def _from_document(doc: Mapping[str, Any]) -> StoredFamily:
    family = Family(
        id=doc["_id"],
        tenant_id=doc["tenant"],
        user_id=doc["user"],
        session_id=doc["session"],
        current_hash=doc["currentHash"],
        previous_hashes=tuple(doc.get("previousHashes") or ()),
        rotated_at=doc.get("rotatedAt"),
        expires_at=doc["expiresAt"],
        state=FamilyState(doc["state"]),
        reason=None if doc.get("reason") is None else RevocationReason(doc["reason"]),
        revoked_at=doc.get("revokedAt"),
    )
    return StoredFamily(family=family, created_at=doc["createdAt"])


class RefreshTokenStore:
    """Families and token-hash pointers."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._families: AsyncCollection[Document] = database[FAMILIES]
        self._tokens: AsyncCollection[Document] = database[TOKENS]
        self._rotations: AsyncCollection[Document] = database[ROTATIONS]
        # Logins arrive in bursts: their family and pointer inserts are group-committed.
        self._family_inserts = GroupInserter(self._families)
        self._pointer_inserts = GroupInserter(self._tokens)

    async def create(self, family: Family, *, created_at: datetime) -> None:
        """Store a new family and its first token's pointer."""
        await asyncio.gather(
            self._family_inserts.insert(
                {"_id": family.id, **_to_document(family), "createdAt": created_at}
            ),
            self._add_pointer(family.current_hash, family=family, now=created_at),
        )

    async def find_by_hash(self, token_hash: str) -> StoredFamily | None:
        """The family a token hash belongs to (current or earlier), or None."""
        pointer = await self._tokens.find_one({"_id": token_hash})
        if pointer is None:
            return None
        return await self.get(pointer["family"])

    async def get(self, family_id: str) -> StoredFamily | None:
        """A family by id."""
        doc = await self._families.find_one({"_id": family_id})
        return None if doc is None else _from_document(doc)

    async def claim_rotation(self, rotation: Rotation, *, expires_at: datetime) -> Rotation:
        """Record `rotation` unless one exists for that token; returns the one that counts."""
        try:
            await self._rotations.insert_one(
                {
                    "_id": rotation.replaced_hash,
                    "family": rotation.family_id,
                    "successorHash": rotation.successor_hash,
                    "sealed": rotation.successor_sealed,
                    "rotatedAt": rotation.rotated_at,
                    "expiresAt": expires_at,
                }
            )
        except DuplicateKeyError:
            existing = await self.rotation(rotation.replaced_hash)
            if existing is None:  # deleted by a sweep in between: the family has expired
                raise
            return existing
        return rotation

    async def rotation(self, replaced_hash: str) -> Rotation | None:
        """The rotation that replaced a token, if any."""
        doc = await self._rotations.find_one({"_id": replaced_hash})
        if doc is None:
            return None
        return Rotation(
            replaced_hash=doc["_id"],
            family_id=doc["family"],
            successor_hash=doc["successorHash"],
            successor_sealed=doc["sealed"],
            rotated_at=doc["rotatedAt"],
        )

    async def apply_rotation(self, *, before: Family, after: Family, now: datetime) -> None:
        """Make the family reflect a claimed rotation (idempotent; same values from any writer)."""
        await self._add_pointer(after.current_hash, family=after, now=now)
        await self._families.update_one(
            {
                "_id": before.id,
                "currentHash": before.current_hash,
                "state": FamilyState.ACTIVE.value,
            },
            {
                "$set": {
                    "currentHash": after.current_hash,
                    "previousHashes": list(after.previous_hashes),
                    "rotatedAt": after.rotated_at,
                }
            },
        )

    async def revoke(self, family: Family) -> bool:
        """Persist a revoked family (from `auth.refresh.revoke`); False if it was revoked before."""
        result = await self._families.update_one(
            {"_id": family.id, "state": FamilyState.ACTIVE.value},
            {
                "$set": {
                    "state": FamilyState.REVOKED.value,
                    "reason": None if family.reason is None else family.reason.value,
                    "revokedAt": family.revoked_at,
                },
            },
        )
        return result.modified_count == 1

    async def revoke_session(
        self, *, tenant: str, session_id: str, reason: RevocationReason, now: datetime
    ) -> int:
        """Revoke the family of a session."""
        return await self._revoke_where({"tenant": tenant, "session": session_id}, reason, now)

    async def revoke_user(
        self, *, tenant: str, user_id: str, reason: RevocationReason, now: datetime
    ) -> list[str]:
        """Revoke every active family of a user; returns their session ids."""
        query = {"tenant": tenant, "user": user_id, "state": FamilyState.ACTIVE.value}
        sessions = [doc["session"] async for doc in self._families.find(query, {"session": 1})]
        await self._revoke_where({"tenant": tenant, "user": user_id}, reason, now)
        return sessions

    async def revoke_tenant(self, *, tenant: str, reason: RevocationReason, now: datetime) -> int:
        """Revoke every active family of a tenant."""
        return await self._revoke_where({"tenant": tenant}, reason, now)

    async def _revoke_where(self, query: Document, reason: RevocationReason, now: datetime) -> int:
        result = await self._families.update_many(
            {**query, "state": FamilyState.ACTIVE.value},
            {
                "$set": {
                    "state": FamilyState.REVOKED.value,
                    "reason": reason.value,
                    "revokedAt": now,
                },
            },
        )
        return result.modified_count

    async def _add_pointer(self, token_hash: str, *, family: Family, now: datetime) -> None:
        # A duplicate hash would need a SHA-256 collision of fresh 256-bit tokens: never.
        with contextlib.suppress(DuplicateKeyError):
            await self._pointer_inserts.insert(
                {
                    "_id": token_hash,
                    "family": family.id,
                    "tenant": family.tenant_id,
                    "createdAt": now,
                    "expiresAt": family.expires_at,
                }
            )

    async def extend(self, family_id: str, *, expires_at: datetime) -> bool:
        """Move an active family's absolute end, and its pointers' (kept until then)."""
        result = await self._families.update_one(
            {"_id": family_id, "state": FamilyState.ACTIVE.value},
            {"$set": {"expiresAt": expires_at}},
        )
        await self._tokens.update_many({"family": family_id}, {"$set": {"expiresAt": expires_at}})
        return result.modified_count == 1

    async def count_active(self, *, tenant: str, now: datetime) -> int:
        """Live (active, unexpired) families of a tenant: its active sessions."""
        return await self._families.count_documents(
            {"tenant": tenant, "state": FamilyState.ACTIVE.value, "expiresAt": {"$gt": now}}
        )

    async def sweep(self, *, now: datetime) -> int:
        """Delete expired families and pointers (no TTL indexes on FerretDB)."""
        families = await self._families.delete_many({"expiresAt": {"$lt": now}})
        await self._tokens.delete_many({"expiresAt": {"$lt": now}})
        await self._rotations.delete_many({"expiresAt": {"$lt": now}})
        return families.deleted_count
