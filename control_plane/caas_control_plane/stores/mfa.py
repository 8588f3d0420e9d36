"""Second factors in `caas_platform.mfa_factors` (one document per tenant user) and spent codes
in `caas_platform.mfa_used_codes`.

The documents and their dotted-path updates stay here: services see `MfaFactors` values and
call one method per change.

"Never accept a code twice" is decided by inserting the spent code keyed by `_id` (TOTP: the
user and time step; backup code: the user and the code's hash): a unique `_id` insert is atomic
on MongoDB, and the standard idempotency idiom there (a conditional update would need the code
list read first). Spent codes expire through a TTL index on `expiresAt` once they could no longer
be replayed anyway.
"""

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from caas_control_plane.auth.backup_codes import BackupCodes, ScryptCost
from caas_control_plane.ports import MfaFactors, TotpFactor, factor_id

FACTORS: Final = "mfa_factors"
USED: Final = "mfa_used_codes"
Document = dict[str, Any]
__all__ = ["FACTORS", "USED", "MfaStore", "factor_id"]


class MfaStore:
    """Reads and writes of second factors."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._factors: AsyncCollection[Document] = database[FACTORS]
        self._used: AsyncCollection[Document] = database[USED]

    async def get(self, tenant: str, user_id: str) -> MfaFactors:
        """The user's factors (empty when none were ever stored)."""
        doc = await self._factors.find_one({"_id": factor_id(tenant, user_id)}) or {}
        totp = doc.get("totp")
        return MfaFactors(
            totp=None
            if not totp
            else TotpFactor(
                sealed=totp["sealed"],
                confirmed=bool(totp.get("confirmed")),
                last_step=totp.get("lastStep"),
            ),
            backup=_backup_codes(doc.get("backup")),
            trusted={
                entry["deviceId"]: _aware(entry["until"])
                for entry in (doc.get("trusted") or {}).values()
            },
        )

    async def start_totp(self, tenant: str, user_id: str, *, sealed: str, at: datetime) -> None:
        """A new pending TOTP secret (replacing any pending one)."""
        await self._set(
            tenant, user_id, {"totp": {"sealed": sealed, "confirmed": False, "enrolledAt": at}}
        )

    async def confirm_totp(
        self, tenant: str, user_id: str, *, step: int, backup: BackupCodes, at: datetime
    ) -> None:
        """The pending secret enabled by its first code, with the first set of backup codes."""
        await self._set(
            tenant,
            user_id,
            {
                "totp.confirmed": True,
                "totp.confirmedAt": at,
                "totp.lastStep": step,
                "backup": _backup_document(backup, now=at),
            },
        )

    async def record_totp_step(self, tenant: str, user_id: str, *, step: int) -> None:
        """The latest accepted time step (codes of earlier steps are refused)."""
        await self._set(tenant, user_id, {"totp.lastStep": step})

    async def replace_backup_codes(
        self, tenant: str, user_id: str, *, codes: BackupCodes, at: datetime
    ) -> None:
        """A new set of backup codes; the old set stops matching (new salt and hashes)."""
        await self._set(tenant, user_id, {"backup": _backup_document(codes, now=at)})

    async def keep_backup_hashes(
        self, tenant: str, user_id: str, *, hashes: Sequence[bytes]
    ) -> None:
        """The hashes of the backup codes still unused."""
        await self._set(tenant, user_id, {"backup.hashes": [Binary(h) for h in hashes]})

    async def trust_device(
        self, tenant: str, user_id: str, *, device_id: str, until: datetime
    ) -> None:
        """Trust a device (a step-up without a code) until `until`."""
        await self._set(
            tenant,
            user_id,
            {f"trusted.{_field(device_id)}": {"deviceId": device_id, "until": until}},
        )

    async def forget_device(self, tenant: str, user_id: str, *, device_id: str) -> None:
        """Stop trusting one device."""
        await self._unset(tenant, user_id, [f"trusted.{_field(device_id)}"])

    async def remove_all(self, tenant: str, user_id: str) -> None:
        """Remove TOTP, backup codes and trusted devices (MFA disabled)."""
        await self._unset(tenant, user_id, ["totp", "backup", "trusted"])

    async def spend(self, code_id: str, *, at: datetime, expires_at: datetime) -> bool:
        """Record a code as used; False when it was used before (the atomic replay guard)."""
        try:
            await self._used.insert_one({"_id": code_id, "at": at, "expiresAt": expires_at})
        except DuplicateKeyError:
            return False
        return True

    async def _set(self, tenant: str, user_id: str, fields: Document) -> None:
        # Created on first write.
        await self._factors.update_one(
            {"_id": factor_id(tenant, user_id)},
            {"$set": {"tenant": tenant, "user": user_id, **fields}},
            upsert=True,
        )

    async def _unset(self, tenant: str, user_id: str, fields: list[str]) -> None:
        await self._factors.update_one(
            {"_id": factor_id(tenant, user_id)}, {"$unset": dict.fromkeys(fields, "")}
        )


def _backup_document(codes: BackupCodes, *, now: datetime) -> Document:
    return {
        "salt": Binary(codes.salt),
        "hashes": [Binary(h) for h in codes.hashes],
        "cost": {"n": codes.cost.n, "r": codes.cost.r, "p": codes.cost.p},
        "generatedAt": now,
    }


def _backup_codes(doc: Mapping[str, Any] | None) -> BackupCodes | None:
    if not doc or not doc.get("hashes"):
        return None
    cost = doc.get("cost") or {}
    return BackupCodes(
        salt=bytes(doc["salt"]),
        hashes=tuple(bytes(h) for h in doc["hashes"]),
        cost=ScryptCost(n=cost.get("n", 2**14), r=cost.get("r", 8), p=cost.get("p", 1)),
    )


def _field(device_id: str) -> str:
    """A device id as a document field name (no dots or dollars)."""
    return base64.urlsafe_b64encode(device_id.encode()).decode().rstrip("=")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
