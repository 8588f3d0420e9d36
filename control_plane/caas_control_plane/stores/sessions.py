"""Sessions in each tenant's database (`tenant_<name>.sessions`): one per SDK login."""

from datetime import datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from caas_control_plane.auth.devices import DeviceInfo
from caas_control_plane.ports import SessionRecord

__all__ = ["SessionRecord", "SessionStore"]
from caas_core.adapters.outbox import GroupInserter
from caas_core.domain.naming import database_name

Document = dict[str, Any]


def _to_document(record: SessionRecord) -> Document:
    return {
        "_id": record.session_id,
        "session_id": record.session_id,
        "user_id": record.user_id,
        "family_id": record.family_id,
        "created_at": record.created_at,
        "last_seen_at": record.last_seen_at,
        "expires_at": record.expires_at,
        "device": {
            "device_id": record.device.device_id,
            "name": record.device.name,
            "platform": record.device.platform,
            "fingerprint": record.device.fingerprint,
            "app_version": record.device.app_version,
        },
        "ip": record.ip,
        "user_agent": record.user_agent,
        "api_key_id": record.api_key_id,
        "revoked_at": record.revoked_at,
        "revoked_reason": record.revoked_reason,
    }


def _from_document(tenant: str, doc: Document) -> SessionRecord:
    device = doc.get("device") or {}
    return SessionRecord(
        session_id=doc["session_id"],
        tenant=tenant,
        user_id=doc["user_id"],
        family_id=doc["family_id"],
        created_at=doc["created_at"],
        last_seen_at=doc["last_seen_at"],
        expires_at=doc["expires_at"],
        device=DeviceInfo(**{k: device.get(k) for k in DeviceInfo.__dataclass_fields__}),
        ip=doc.get("ip"),
        user_agent=doc.get("user_agent"),
        api_key_id=doc.get("api_key_id"),
        revoked_at=doc.get("revoked_at"),
        revoked_reason=doc.get("revoked_reason"),
    )


class SessionStore:
    """Sessions, addressed by tenant (database) and session id (`_id`)."""

    def __init__(self, client: AsyncMongoClient[Document]) -> None:
        self._client = client
        self._inserts: dict[str, GroupInserter] = {}

    def _sessions(self, tenant: str) -> AsyncCollection[Document]:
        return self._client[database_name(tenant)]["sessions"]

    async def create(self, record: SessionRecord) -> None:
        """Store a new session."""
        inserter = self._inserts.get(record.tenant)
        if inserter is None:  # group commit per tenant database (a burst of logins: one write)
            inserter = self._inserts[record.tenant] = GroupInserter(self._sessions(record.tenant))
        await inserter.insert(_to_document(record))

    async def get(self, *, tenant: str, session_id: str) -> SessionRecord | None:
        """One session of a tenant."""
        doc = await self._sessions(tenant).find_one({"_id": session_id})
        return None if doc is None else _from_document(tenant, doc)

    async def list_for_user(self, *, tenant: str, user_id: str) -> list[SessionRecord]:
        """Every unrevoked session of a user, newest first (expired ones included)."""
        cursor = self._sessions(tenant).find({"user_id": user_id, "revoked_at": None})
        records = [_from_document(tenant, doc) async for doc in cursor]
        return sorted(records, key=lambda record: record.created_at, reverse=True)

    async def extend(self, *, tenant: str, session_id: str, expires_at: datetime) -> None:
        """Move a session's end (its refresh family is moved alongside)."""
        await self._sessions(tenant).update_one(
            {"_id": session_id}, {"$set": {"expires_at": expires_at}}
        )

    async def touch(self, *, tenant: str, session_id: str, now: datetime) -> None:
        """Record activity (a refresh)."""
        await self._sessions(tenant).update_one(
            {"_id": session_id}, {"$set": {"last_seen_at": now}}
        )

    async def revoke(
        self, *, tenant: str, session_ids: list[str], reason: str, now: datetime
    ) -> int:
        """Mark sessions revoked (an earlier revocation is kept)."""
        if not session_ids:
            return 0
        result = await self._sessions(tenant).update_many(
            {"_id": {"$in": session_ids}, "revoked_at": None},
            {"$set": {"revoked_at": now, "revoked_reason": reason}},
        )
        return result.modified_count

    async def revoke_user(self, *, tenant: str, user_id: str, reason: str, now: datetime) -> int:
        """Mark every live session of a user revoked."""
        result = await self._sessions(tenant).update_many(
            {"user_id": user_id, "revoked_at": None},
            {"$set": {"revoked_at": now, "revoked_reason": reason}},
        )
        return result.modified_count

    async def revoke_all(self, *, tenant: str, reason: str, now: datetime) -> int:
        """Mark every live session of a tenant revoked."""
        result = await self._sessions(tenant).update_many(
            {"revoked_at": None}, {"$set": {"revoked_at": now, "revoked_reason": reason}}
        )
        return result.modified_count
