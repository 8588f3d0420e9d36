"""Refresh families in `caas_platform.refresh_families`; one pointer per token hash in
`caas_platform.refresh_tokens`.

Every lookup on the hot path is by `_id` (the token hash, then the family id): that is an index
hit on MongoDB and the one indexed access FerretDB serves without a collection scan. Rotation is
a compare-and-set on the family's `currentHash` and `state`, so of concurrent refreshes exactly
one wins; the winner stores the sealed successor in the same write, so losers find it at once.
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

FAMILIES: Final = "refresh_families"
TOKENS: Final = "refresh_tokens"
Document = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFamily:
    """A family as stored: its state, when it started, and the sealed grace successor if any."""

    family: Family
    created_at: datetime
    successor_for: str | None = None  # the replaced hash the sealed successor belongs to
    successor_sealed: str | None = None


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
    successor = doc.get("successor") or {}
    return StoredFamily(
        family=family,
        created_at=doc["createdAt"],
        successor_for=successor.get("for"),
        successor_sealed=successor.get("sealed"),
    )


class RefreshTokenStore:
    """Families and token-hash pointers."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._families: AsyncCollection[Document] = database[FAMILIES]
        self._tokens: AsyncCollection[Document] = database[TOKENS]

    async def create(self, family: Family, *, created_at: datetime) -> None:
        """Store a new family and its first token's pointer."""
        await asyncio.gather(
            self._families.insert_one(
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

    async def rotate(
        self, *, before: Family, after: Family, successor_sealed: str, now: datetime
    ) -> bool:
        """Compare-and-set `before` -> `after`; False when another refresh (or a revocation) won."""
        # The pointer goes first: once the CAS succeeds the new token must already resolve.
        await self._add_pointer(after.current_hash, family=after, now=now)
        result = await self._families.update_one(
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
                    "successor": {"for": before.current_hash, "sealed": successor_sealed},
                }
            },
        )
        if result.modified_count == 1:
            return True
        # Lost the race: the orphan pointer would resolve to a family that never knew the hash
        # (classified FOREIGN); remove it anyway.
        await self._tokens.delete_one({"_id": after.current_hash})
        return False

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
                "$unset": {"successor": ""},
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
                "$unset": {"successor": ""},
            },
        )
        return result.modified_count

    async def _add_pointer(self, token_hash: str, *, family: Family, now: datetime) -> None:
        # A duplicate hash would need a SHA-256 collision of fresh 256-bit tokens: never.
        with contextlib.suppress(DuplicateKeyError):
            await self._tokens.insert_one(
                {
                    "_id": token_hash,
                    "family": family.id,
                    "tenant": family.tenant_id,
                    "createdAt": now,
                    "expiresAt": family.expires_at,
                }
            )

    async def sweep(self, *, now: datetime) -> int:
        """Delete expired families and pointers (no TTL indexes on FerretDB)."""
        families = await self._families.delete_many({"expiresAt": {"$lt": now}})
        await self._tokens.delete_many({"expiresAt": {"$lt": now}})
        return families.deleted_count
