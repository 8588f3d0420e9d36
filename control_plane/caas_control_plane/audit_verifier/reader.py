"""What the verifier reads of the stored audit logs: entries as stored, not as decoded.

`AuditLogStore.entries` decodes each entry and raises on one that is not canonical; the
verifier must instead name such an entry (MALFORMED, at its seq) and go on reporting, so it
reads the same documents itself: the position (`seq`), the canonical bytes (`e`) and the stored
leaf hash (`hash`), nothing else (the query copies of the fields can hide nothing from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from caas_control_plane.audit_verifier.core import RawEntry
from caas_core.adapters.auditlog_store import ENTRIES

Document = dict[str, Any]
_FIELDS = {"_id": 1, "log": 1, "seq": 1, "e": 1, "hash": 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class Located:
    """An event's entry: the log the store filed it under, and the entry as stored."""

    log: str
    entry: RawEntry


def _raw(doc: Document) -> RawEntry:
    e, stored_hash = doc.get("e"), doc.get("hash")
    return RawEntry(
        seq=int(doc["seq"]),
        # Anything but a string is no canonical entry: empty bytes make that MALFORMED.
        raw=e.encode() if isinstance(e, str) else b"",
        hash=stored_hash if isinstance(stored_hash, str) else "",
    )


class AuditReader:
    """Reads `security_audit_logs` for verification."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._entries: AsyncCollection[Document] = database[ENTRIES]

    async def entries(self, log: str, *, start: int, end: int) -> list[RawEntry]:
        """The documents of `log` with start ≤ seq < end, by seq (gaps stay gaps)."""
        cursor = self._entries.find({"log": log, "seq": {"$gte": start, "$lt": end}}, _FIELDS).sort(
            "seq", 1
        )
        return [_raw(doc) async for doc in cursor]

    async def locate(self, event_ids: Sequence[str]) -> dict[str, Located]:
        """The logged entries of these events (absent: not appended yet, or never)."""
        found: dict[str, Located] = {}
        cursor = self._entries.find(
            {"_id": {"$in": list(event_ids)}, "seq": {"$exists": True}}, _FIELDS
        )
        async for doc in cursor:
            found[str(doc["_id"])] = Located(log=str(doc.get("log")), entry=_raw(doc))
        return found
