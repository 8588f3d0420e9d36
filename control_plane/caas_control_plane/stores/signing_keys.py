"""Signing keys sealed at rest in `caas_platform.signing_keys`, one document per generation."""

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from caas_control_plane.auth.key_lifecycle import KeyRecord, describe
from caas_control_plane.auth.sealing import (
    SealedKey,
    reseal_private_key,
    seal_private_key,
    unseal_private_key,
)
from caas_control_plane.auth.signing import SigningKey

logger = logging.getLogger(__name__)

COLLECTION: Final = "signing_keys"
__all__ = ["COLLECTION", "SigningKeyStore", "describe"]
Document = dict[str, Any]


class SigningKeyStore:
    """Reads, creates (race-safe by generation `_id`) and deletes sealed signing keys."""

    def __init__(
        self, database: AsyncDatabase[Document], *, kek_id: str, keks: Mapping[str, bytes]
    ) -> None:
        if kek_id not in keks:
            raise ValueError("the current KEK must be among the available KEKs")
        self._keys: AsyncCollection[Document] = database[COLLECTION]
        self._kek_id = kek_id
        self._keks = dict(keks)
        self._opened: dict[str, SigningKey] = {}  # kid -> key: unseal each key once per process
        # Highest generation stored by anyone, also by deployments under other KEKs: new keys
        # must take a generation above it, or their insert would collide forever.
        self.max_generation = -1
        self.foreign = 0

    async def load(self) -> list[KeyRecord]:
        """Every key sealed under a KEK we hold, unsealed; older-KEK keys are resealed.

        Keys sealed under KEKs this instance does not hold belong to another deployment sharing
        the database (e.g. a developer's second stack user): they are ignored, never an error.
        """
        records = []
        self.foreign = 0
        async for doc in self._keys.find({}).sort("_id", 1):
            self.max_generation = max(self.max_generation, int(doc["_id"]))
            sealed = SealedKey.decode(doc["sealed"])
            if sealed.kek_id not in self._keks:
                self.foreign += 1
                continue
            key = self._opened.get(sealed.kid)
            if key is None:
                key = SigningKey(unseal_private_key(sealed, keks=self._keks))
                self._opened[sealed.kid] = key
            if sealed.kek_id != self._kek_id:
                await self._reseal(doc["_id"], sealed)
            records.append(
                KeyRecord(
                    generation=int(doc["_id"]),
                    key=key,
                    activates_at=doc["activatesAt"],
                    created_at=doc["createdAt"],
                )
            )
        return records

    async def insert(self, record: KeyRecord) -> bool:
        """Store a new generation; False when another instance stored that generation first."""
        sealed = seal_private_key(
            record.key.private_key, kek_id=self._kek_id, kek=self._keks[self._kek_id]
        )
        try:
            await self._keys.insert_one(
                {
                    "_id": record.generation,
                    "kid": record.key.kid,
                    "kek": sealed.kek_id,
                    "sealed": sealed.encode(),
                    "activatesAt": record.activates_at,
                    "createdAt": record.created_at,
                }
            )
        except DuplicateKeyError:
            return False
        self._opened[record.key.kid] = record.key
        logger.info(
            "signing key stored",
            extra={"generation": record.generation, "kid": record.key.kid},
        )
        return True

    async def delete(self, generations: Sequence[int]) -> int:
        """Remove retired generations; returns how many were deleted."""
        if not generations:
            return 0
        result = await self._keys.delete_many({"_id": {"$in": list(generations)}})
        return result.deleted_count

    async def _reseal(self, generation: int, sealed: SealedKey) -> None:
        fresh = reseal_private_key(
            sealed, keks=self._keks, kek_id=self._kek_id, kek=self._keks[self._kek_id]
        )
        # Compare-and-set on the old text: a concurrent reseal by another instance wins cleanly.
        await self._keys.update_one(
            {"_id": generation, "sealed": sealed.encode()},
            {"$set": {"sealed": fresh.encode(), "kek": fresh.kek_id}},
        )
        logger.info("signing key resealed under the current KEK", extra={"kid": sealed.kid})
