"""Second factors in `caas_platform.mfa_factors` (one document per tenant user) and spent codes
in `caas_platform.mfa_used_codes`.

"Never accept a code twice" is decided by inserting the spent code keyed by `_id` (TOTP: the
user and time step; backup code: the user and the code's hash): a unique `_id` insert is atomic
on MongoDB, and the standard idempotency idiom there (a conditional update would need the code
list read first). Spent codes expire through a TTL index on `expiresAt` once they could no longer
be replayed anyway.
"""

from datetime import datetime
from typing import Any, Final

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

FACTORS: Final = "mfa_factors"
USED: Final = "mfa_used_codes"
Document = dict[str, Any]


def factor_id(tenant: str, user_id: str) -> str:
    """The document id of a user's factors (user ids never contain '/')."""
    return f"{tenant}/{user_id}"


class MfaStore:
    """Reads and writes of second factors."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._factors: AsyncCollection[Document] = database[FACTORS]
        self._used: AsyncCollection[Document] = database[USED]

    async def get(self, tenant: str, user_id: str) -> Document | None:
        """The user's factors document."""
        return await self._factors.find_one({"_id": factor_id(tenant, user_id)})

    async def set_fields(self, tenant: str, user_id: str, fields: Document) -> None:
        """Set fields on the user's document (created on first write)."""
        await self._factors.update_one(
            {"_id": factor_id(tenant, user_id)},
            {"$set": {"tenant": tenant, "user": user_id, **fields}},
            upsert=True,
        )

    async def unset_fields(self, tenant: str, user_id: str, fields: list[str]) -> None:
        """Remove fields (e.g. the TOTP factor and backup codes when MFA is disabled)."""
        await self._factors.update_one(
            {"_id": factor_id(tenant, user_id)}, {"$unset": dict.fromkeys(fields, "")}
        )

    async def spend(self, code_id: str, *, at: datetime, expires_at: datetime) -> bool:
        """Record a code as used; False when it was used before (the atomic replay guard)."""
        try:
            await self._used.insert_one({"_id": code_id, "at": at, "expiresAt": expires_at})
        except DuplicateKeyError:
            return False
        return True


def to_binary(data: bytes) -> Binary:
    """bytes as BSON binary."""
    return Binary(data)
