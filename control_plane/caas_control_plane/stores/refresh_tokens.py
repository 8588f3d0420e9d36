"""Refresh families in `caas_platform.refresh_families`: one document per login, which also
holds the family's latest rotation.

A refresh token names its family (see `auth.refresh.new_refresh_token`), so every lookup on the
hot path is one read by `_id`. A login writes one document here; a refresh writes one update.

Rotation is a compare-and-set on the family: the update matches only while the presented token
is still current and the family active, so of N concurrent refreshes exactly one moves the
family on (a single-document update is atomic on MongoDB; tests/integration/core proves it
under 50 clients on the stack's server). It stores the successor, sealed to the replaced
token, as `lastRotation`; the losers re-read the family and, within the grace window, hand out
that same successor. Only the latest rotation is ever replayable (a token two rotations old is
reuse), so one embedded record replaces the separate rotation collection a stand-in without
atomic conditional updates once needed. Expired families go through a TTL index on `expiresAt`.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from caas_control_plane.auth.refresh import Family, FamilyState, PresentedToken, RevocationReason
from caas_control_plane.ports import Rotation, StoredFamily
from caas_core.adapters.outbox import GroupInserter

FAMILIES: Final = "refresh_families"
__all__ = ["FAMILIES", "RefreshTokenStore", "Rotation", "StoredFamily"]
Document = dict[str, Any]


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
    last = doc.get("lastRotation")
    rotation = None
    if last is not None:
        rotation = Rotation(
            replaced_hash=last["replacedHash"],
            family_id=doc["_id"],
            successor_hash=last["successorHash"],
            successor_sealed=last["sealed"],
            rotated_at=last["rotatedAt"],
        )
    return StoredFamily(family=family, created_at=doc["createdAt"], last_rotation=rotation)


class RefreshTokenStore:
    """Refresh families, each with its latest rotation."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._families: AsyncCollection[Document] = database[FAMILIES]
        # Logins arrive in bursts: their family inserts are group-committed.
        self._family_inserts = GroupInserter(self._families)

    async def create(self, family: Family, *, created_at: datetime) -> None:
        """Store a new family."""
        await self._family_inserts.insert(
            {"_id": family.id, **_to_document(family), "createdAt": created_at}
        )

    async def find(self, presented: PresentedToken) -> StoredFamily | None:
        """The family that issued the presented token (as current or earlier token), or None."""
        stored = await self.get(presented.family_id)
        if stored is None:
            return None
        family = stored.family
        if presented.token_hash != family.current_hash and (
            presented.token_hash not in family.previous_hashes
        ):
            return None  # another token naming this family: not one it issued (or forgotten)
        return stored

    async def get(self, family_id: str) -> StoredFamily | None:
        """A family by id."""
        doc = await self._families.find_one({"_id": family_id})
        return None if doc is None else _from_document(doc)

    async def rotate(self, *, before: Family, after: Family, rotation: Rotation) -> bool:
        """Move the family from `before` to `after` (from `auth.refresh.rotate`) unless another
        refresh did first or it was revoked; True for the one writer that did."""
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
                    "lastRotation": {
                        "replacedHash": rotation.replaced_hash,
                        "successorHash": rotation.successor_hash,
                        "sealed": rotation.successor_sealed,
                        "rotatedAt": rotation.rotated_at,
                    },
                }
            },
        )
        return result.modified_count == 1

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

    async def extend(self, family_id: str, *, expires_at: datetime) -> bool:
        """Move an active family's absolute end."""
        result = await self._families.update_one(
            {"_id": family_id, "state": FamilyState.ACTIVE.value},
            {"$set": {"expiresAt": expires_at}},
        )
        return result.modified_count == 1

    async def count_active(self, *, tenant: str, now: datetime) -> int:
        """Live (active, unexpired) families of a tenant: its active sessions."""
        return await self._families.count_documents(
            {"tenant": tenant, "state": FamilyState.ACTIVE.value, "expiresAt": {"$gt": now}}
        )
