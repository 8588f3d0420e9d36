"""The tamper-evident audit log in MongoDB: entries, heads, tile nodes and signed checkpoints.

Collections of `caas_platform`:

- `security_audit_logs`: one document per entry, `_id` the event id (one event, one entry),
  `log` + `seq` unique, `e` the canonical entry exactly as hashed, `hash` its leaf hash, the
  personal data it commits to under `personal` (payload and salt; an erasure removes them), and
  copies of the entry's fields for queries (`tenant`, `at`, `action`, `outcome`, `actor`,
  `target`). Readers that must be right (exports, proofs, verification) use `e` only: a changed
  query copy can hide nothing from the verifier.
- `audit_heads`: per log, its size, Merkle frontier and last leaf hash.
- `audit_nodes`: perfect-subtree nodes at levels 8, 16, … (append.TILE_HEIGHT), `_id`
  `<log>/<level>/<index>`.
- `audit_checkpoints`: signed notes per log and size.

Appends (`append`): every API instance's relay records audit messages here. One transaction per
log and batch reads the head, skips events already logged, inserts the entries and completed
nodes and moves the head with a compare-and-set on its size. Two writers that read the same head
cannot both commit (the head's CAS and the unique `log`+`seq` index each refuse the second), so
the loser plans again from the new head: sequence numbers are allocated atomically, one log at a
time, and different logs never wait for each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from bson import Binary
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from caas_core.auditlog.append import Appended, Head, Recorded, log_of, plan_append
from caas_core.auditlog.checkpoint import Checkpoint, CheckpointSigner, origin_for, split_note
from caas_core.auditlog.entry import Entry
from caas_core.auditlog.merkle import NodeReader, tree_root
from caas_core.auditlog.tiles import Position, positions_needed, run_proof, stored_beneath

ENTRIES: Final = "security_audit_logs"
HEADS: Final = "audit_heads"
NODES: Final = "audit_nodes"
CHECKPOINTS: Final = "audit_checkpoints"
_MAX_ATTEMPTS: Final = 64
_WRITE_CONFLICT: Final = 112

Document = dict[str, Any]
T = TypeVar("T")

INDEXES: Final = {
    ENTRIES: [
        # The chain's own lock: one entry per position of a log.
        # (Partial: audit documents written before the chain existed have no log.)
        IndexModel(
            [("log", ASCENDING), ("seq", ASCENDING)],
            name="log_seq",
            unique=True,
            partialFilterExpression={"seq": {"$exists": True}},
        ),
        IndexModel([("tenant", ASCENDING), ("at", ASCENDING)], name="tenant_at"),
        IndexModel(
            [("log", ASCENDING), ("action", ASCENDING), ("seq", DESCENDING)], name="log_action"
        ),
        IndexModel(
            [("log", ASCENDING), ("actor.id", ASCENDING), ("seq", DESCENDING)], name="log_actor"
        ),
        IndexModel(
            [("log", ASCENDING), ("target.id", ASCENDING), ("seq", DESCENDING)], name="log_target"
        ),
    ],
    CHECKPOINTS: [
        IndexModel([("log", ASCENDING), ("size", DESCENDING)], name="log_size", unique=True),
    ],
}


class _HeadMovedError(Exception):
    """Another writer extended the log since this one read its head."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEntry:
    """An entry as stored: its canonical bytes, the entry, and its personal data if kept."""

    raw: bytes
    entry: Entry
    hash: str
    payload: Mapping[str, Any] | None
    salt: bytes | None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _head_from(doc: Mapping[str, Any] | None, log: str) -> Head:
    if doc is None:
        return Head(log=log)
    return Head(
        log=log,
        size=int(doc["size"]),
        frontier=tuple(bytes(h) for h in doc["frontier"]),
        last=str(doc["last"]),
    )


def _entry_document(appended_entry: Recorded, tenant: str | None) -> Document:
    entry = appended_entry.entry
    doc: Document = {
        "_id": entry.id,
        "log": entry.log,
        "seq": entry.seq,
        "hash": appended_entry.hash,
        "e": entry.encode().decode(),
        "tenant": tenant,
        "at": entry.at,
        "action": entry.action,
        "outcome": entry.outcome,
        "actor": {"type": entry.actor_type, "id": entry.actor_id},
        "target": {"type": entry.target_type, "id": entry.target_id},
        "pd": entry.pd,
    }
    if appended_entry.payload is not None and appended_entry.salt is not None:
        doc["personal"] = {
            "payload": dict(appended_entry.payload),
            "salt": Binary(appended_entry.salt),
        }
    return doc


def _node_id(log: str, level: int, index: int) -> str:
    return f"{log}/{level}/{index}"


def _stored(doc: Mapping[str, Any]) -> StoredEntry:
    raw = str(doc["e"]).encode()
    personal = doc.get("personal") or {}
    salt = personal.get("salt")
    return StoredEntry(
        raw=raw,
        entry=Entry.decode(raw),
        hash=str(doc["hash"]),
        payload=personal.get("payload"),
        salt=None if salt is None else bytes(salt),
    )


class AuditLogStore:
    """Appends to and reads the stored audit logs."""

    def __init__(
        self, database: AsyncDatabase[Document], *, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self._database = database
        self._entries: AsyncCollection[Document] = database[ENTRIES]
        self._heads: AsyncCollection[Document] = database[HEADS]
        self._nodes: AsyncCollection[Document] = database[NODES]
        self._checkpoints: AsyncCollection[Document] = database[CHECKPOINTS]
        self._clock = clock
        self.retries = 0  # head conflicts met (observability and the concurrency test)

    # --- appends -----------------------------------------------------------------------------

    async def append(self, events: Sequence[Mapping[str, Any]]) -> list[Entry]:
        """Append audit events (AuditEvent.to_dict() forms) to their logs, in order per log.

        Idempotent by event id: an event already logged is skipped. Returns the new entries.
        """
        by_log: dict[str, list[Mapping[str, Any]]] = {}
        seen: set[str] = set()
        for event in events:
            if event["id"] in seen:
                continue
            seen.add(event["id"])
            by_log.setdefault(log_of(event.get("tenant")), []).append(event)
        results = await asyncio.gather(
            *(self._append_log(log, batch) for log, batch in by_log.items())
        )
        return [entry for entries in results for entry in entries]

    async def _append_log(self, log: str, events: Sequence[Mapping[str, Any]]) -> list[Entry]:
        tries = 0

        async def once(session: AsyncClientSession) -> Appended | None:
            nonlocal tries
            tries += 1
            return await self._append_once(log, events, session)

        for attempt in range(_MAX_ATTEMPTS):
            try:
                async with self._database.client.start_session() as session:
                    # with_transaction itself retries a transaction that met a write conflict
                    # (another writer moved the head first): `once` then plans again.
                    appended: Appended | None = await session.with_transaction(once)
                self.retries += tries - 1
                return [] if appended is None else [r.entry for r in appended.entries]
            except (_HeadMovedError, DuplicateKeyError) as exc:
                await self._back_off(attempt, exc)
            except OperationFailure as exc:
                if exc.code != _WRITE_CONFLICT:
                    raise
                await self._back_off(attempt, exc)
        raise RuntimeError(f"audit log {log}: no append after {_MAX_ATTEMPTS} attempts")

    async def _back_off(self, attempt: int, exc: Exception) -> None:
        if attempt + 1 == _MAX_ATTEMPTS:
            raise exc
        # Jittered so that two writers that collided do not collide again in lockstep.
        await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.2)))  # noqa: S311

    async def _append_once(
        self, log: str, events: Sequence[Mapping[str, Any]], session: AsyncClientSession
    ) -> Appended | None:
        head_doc = await self._heads.find_one({"_id": log}, session=session)
        head = _head_from(head_doc, log)
        ids = [str(event["id"]) for event in events]
        logged = {
            doc["_id"]
            async for doc in self._entries.find({"_id": {"$in": ids}}, {"_id": 1}, session=session)
        }
        fresh = [event for event in events if str(event["id"]) not in logged]
        if not fresh:
            return None
        appended = plan_append(head, fresh)
        tenant = fresh[0].get("tenant")
        await self._entries.insert_many(
            [_entry_document(r, tenant) for r in appended.entries], session=session
        )
        if appended.nodes:
            await self._nodes.insert_many(
                [
                    {"_id": _node_id(log, level, index), "hash": Binary(value)}
                    for level, index, value in appended.nodes
                ],
                session=session,
            )
        new = appended.head
        fields = {
            "size": new.size,
            "frontier": [Binary(h) for h in new.frontier],
            "last": new.last,
            "updatedAt": self._clock(),
        }
        if head_doc is None:
            await self._heads.insert_one({"_id": log, **fields}, session=session)
        else:
            moved = await self._heads.update_one(
                {"_id": log, "size": head.size}, {"$set": fields}, session=session
            )
            if moved.matched_count != 1:
                raise _HeadMovedError(log)
        return appended

    # --- reads -------------------------------------------------------------------------------

    async def head(self, log: str) -> Head:
        """Where the log ends now (an empty head for a log never written)."""
        return _head_from(await self._heads.find_one({"_id": log}), log)

    async def logs(self) -> list[str]:
        """Every log that has entries."""
        return [doc["_id"] async for doc in self._heads.find({}, {"_id": 1}).sort("_id", 1)]

    async def entries(self, log: str, *, start: int, end: int) -> list[StoredEntry]:
        """Entries start ≤ seq < end of a log, in order (what is stored: gaps stay gaps)."""
        cursor = self._entries.find({"log": log, "seq": {"$gte": start, "$lt": end}}).sort("seq", 1)
        return [_stored(doc) async for doc in cursor]

    async def entry_by_id(self, log: str, event_id: str) -> StoredEntry | None:
        """One entry of a log by its event id."""
        doc = await self._entries.find_one({"_id": event_id, "log": log})
        return None if doc is None else _stored(doc)

    async def prove(self, log: str, proof: Callable[[NodeReader], T]) -> T:
        """Run a merkle.py proof function over the log's stored tiles (two reads per level)."""
        wanted = stored_beneath(positions_needed(proof))
        return run_proof(proof, await self._stored_hashes(log, wanted))

    async def _stored_hashes(self, log: str, positions: set[Position]) -> dict[Position, bytes]:
        leaves = sorted(index for level, index in positions if level == 0)
        found: dict[Position, bytes] = {}
        if leaves:
            cursor = self._entries.find(
                {"log": log, "seq": {"$in": leaves}}, {"seq": 1, "hash": 1, "_id": 0}
            )
            async for doc in cursor:
                found[(0, int(doc["seq"]))] = bytes.fromhex(doc["hash"])
        upper = {_node_id(log, level, index): (level, index) for level, index in positions if level}
        if upper:
            async for doc in self._nodes.find({"_id": {"$in": list(upper)}}):
                found[upper[doc["_id"]]] = bytes(doc["hash"])
        missing = positions - found.keys()
        if missing:
            raise LookupError(f"audit log {log}: stored nodes missing {sorted(missing)[:4]}")
        return found

    # --- checkpoints -------------------------------------------------------------------------

    async def checkpoint(self, log: str, *, signer: CheckpointSigner) -> tuple[Checkpoint, str]:
        """Sign the log's current head (or return the stored note if it is signed already)."""
        head = await self.head(log)
        stored = await self._checkpoints.find_one({"log": log, "size": head.size})
        if stored is not None:
            note = str(stored["note"])
            return Checkpoint.parse_body(split_note(note)[0]), note
        checkpoint = Checkpoint(
            origin=origin_for(key_name=signer.verifier_key.name, log=log),
            size=head.size,
            root=head.root(),
        )
        note = signer.sign(checkpoint)
        # Another instance may have signed the same head: Ed25519 gives it the same note.
        with contextlib.suppress(DuplicateKeyError):
            await self._checkpoints.insert_one(
                {"log": log, "size": head.size, "note": note, "at": self._clock()}
            )
        return checkpoint, note

    async def sign_at(self, log: str, size: int, *, signer: CheckpointSigner) -> str:
        """A signed checkpoint of the log at an earlier `size` (stored, like every other)."""
        stored = await self._checkpoints.find_one({"log": log, "size": size})
        if stored is not None:
            return str(stored["note"])
        root = await self.prove(log, lambda nodes: tree_root(nodes=nodes, size=size))
        origin = origin_for(key_name=signer.verifier_key.name, log=log)
        note = signer.sign(Checkpoint(origin=origin, size=size, root=root))
        with contextlib.suppress(DuplicateKeyError):
            await self._checkpoints.insert_one(
                {"log": log, "size": size, "note": note, "at": self._clock()}
            )
        return note

    async def latest_checkpoint(self, log: str) -> tuple[int, str] | None:
        """(size, note) of the log's newest stored checkpoint."""
        doc = await self._checkpoints.find_one({"log": log}, sort=[("size", DESCENDING)])
        return None if doc is None else (int(doc["size"]), str(doc["note"]))

    async def checkpoints(self, log: str, *, start: int, end: int) -> list[tuple[int, str]]:
        """(size, note) of the stored checkpoints with start ≤ size ≤ end, by size."""
        cursor = self._checkpoints.find({"log": log, "size": {"$gte": start, "$lte": end}}).sort(
            "size", ASCENDING
        )
        return [(int(doc["size"]), str(doc["note"])) async for doc in cursor]
