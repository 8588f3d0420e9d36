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

Appends (`append`): every API instance's relay records audit messages here, through one
`AuditLogWriter` per process (auditlog_writer.py: call order kept, bursts of all logs grouped in
one transaction, each head moved by compare-and-set with its entries, so concurrent instances
re-plan instead of forking a chain, and a conflict on one log re-plans that log alone).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from caas_core.adapters.auditlog_writer import AuditLogWriter, Collections, head_from, node_id
from caas_core.auditlog.append import Head, Recorded
from caas_core.auditlog.checkpoint import Checkpoint, CheckpointSigner, origin_for, split_note
from caas_core.auditlog.entry import Entry
from caas_core.auditlog.merkle import NodeReader, frontier_at, inclusion_proof, tree_root
from caas_core.auditlog.prune import prune_point, tile_boundary
from caas_core.auditlog.tiles import Position, positions_needed, run_proof, stored_beneath

ENTRIES: Final = "security_audit_logs"
HEADS: Final = "audit_heads"
NODES: Final = "audit_nodes"
CHECKPOINTS: Final = "audit_checkpoints"

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


def _entry_document(appended_entry: Recorded, tenant: str | None) -> Document:
    entry = appended_entry.entry
    doc: Document = {
        "_id": entry.id,
        "log": entry.log,
        "seq": entry.seq,
        "hash": appended_entry.hash,
        "e": appended_entry.raw.decode(),
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
            "salt": appended_entry.salt,
        }
    return doc


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
        self._where = Collections(
            client=database.client,
            entries=self._entries,
            heads=self._heads,
            nodes=self._nodes,
        )
        self._writer = AuditLogWriter(
            where=self._where, to_document=_entry_document, clock=self._clock
        )

    # --- appends -----------------------------------------------------------------------------

    async def append(self, events: Sequence[Mapping[str, Any]]) -> list[Entry]:
        """Append audit events (AuditEvent.to_dict() forms) to their logs, in order per log.

        Idempotent by event id: an event already logged is skipped. Returns the new entries.
        """
        return await self._writer.append(events)

    @property
    def retries(self) -> int:
        """Appends re-planned after another writer moved a head (the concurrency test's proof
        that writers met, and a number worth watching)."""
        return self._writer.retries

    # --- reads -------------------------------------------------------------------------------

    async def head(self, log: str) -> Head:
        """Where the log ends now (an empty head for a log never written)."""
        return head_from(await self._heads.find_one({"_id": log}), log)

    async def logs(self) -> list[str]:
        """Every log that has entries."""
        return [doc["_id"] async for doc in self._heads.find({}, {"_id": 1}).sort("_id", 1)]

    async def entries(self, log: str, *, start: int, end: int) -> list[StoredEntry]:
        """Entries start ≤ seq < end of a log, in order (what is stored: gaps stay gaps)."""
        cursor = self._entries.find({"log": log, "seq": {"$gte": start, "$lt": end}}).sort("seq", 1)
        return [_stored(doc) async for doc in cursor]

    async def search(
        self,
        log: str,
        *,
        before: int | None,
        limit: int,
        action: str | None = None,
        outcome: str | None = None,
        actor_id: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[StoredEntry]:
        """Up to `limit` entries of a log with seq < before, newest first, whose query copies
        match every given filter (`since` ≤ at < `until`). The query copies only select: a
        caller that must be right re-checks the decoded entry (a changed copy could hide an
        entry from a filter, never alter what is shown)."""
        # The seq condition keeps every query on the partial log_seq index (or log_action,
        # log_actor, log_target, which end in seq) and gives the newest-first order for free.
        query: Document = {"log": log, "seq": {"$gte": 0} if before is None else {"$lt": before}}
        for name, value in (
            ("action", action),
            ("outcome", outcome),
            ("actor.id", actor_id),
            ("target.type", target_type),
            ("target.id", target_id),
        ):
            if value is not None:
                query[name] = value
        if since is not None or until is not None:
            query["at"] = {
                **({} if since is None else {"$gte": since}),
                **({} if until is None else {"$lt": until}),
            }
        cursor = self._entries.find(query).sort("seq", DESCENDING).limit(limit)
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
        upper = {node_id(log, level, index): (level, index) for level, index in positions if level}
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
        boundary = tile_boundary(head.size)
        if boundary and boundary != head.size:
            # Retention can prune only up to a signed tile boundary (prune.py): keep one there.
            await self.sign_at(log, boundary, signer=signer)
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

    # --- erasure -----------------------------------------------------------------------------

    async def erase_personal_data(self, log: str, *, subject: str) -> int:
        """Remove the personal data (payload and salt) of every entry of the log whose actor or
        target is `subject` (a GDPR erasure); the entries, and so every hash, link, checkpoint
        and proof, stay as they are. Returns how many entries were redacted."""
        result = await self._entries.update_many(
            {
                "log": log,
                "personal": {"$exists": True},
                "$or": [{"actor.id": subject}, {"target.id": subject}],
            },
            {"$unset": {"personal": ""}},
        )
        return result.modified_count

    # --- retention ---------------------------------------------------------------------------

    async def pruned(self, log: str) -> dict[str, Any] | None:
        """The record that replaced the log's pruned prefix (export.py's pruned line), if any."""
        doc = await self._heads.find_one({"_id": log}, {"pruned": 1})
        record = None if doc is None else doc.get("pruned")
        return None if record is None else dict(record)

    async def prune(self, log: str, *, before: datetime, dry_run: bool = False) -> int:
        """Remove the log's entries older than `before` as a verifiable prefix (prune.py);
        returns how many entries were (or, in a dry run, would be) removed."""
        record = await self.pruned(log)
        pruned = 0 if record is None else int(record["size"])
        head = await self.head(log)
        young = await self._entries.find_one(
            {"log": log, "seq": {"$gte": pruned}, "at": {"$gte": before}},
            {"seq": 1},
            sort=[("seq", ASCENDING)],
        )
        first_young = head.size if young is None else int(young["seq"])
        signed = [
            size for size, _ in await self.checkpoints(log, start=pruned + 1, end=first_young)
        ]
        size = prune_point(first_young=first_young, checkpoints=signed, pruned=pruned)
        if size is None:
            return 0
        if dry_run:
            return await self._entries.count_documents({"log": log, "seq": {"$lt": size}})
        if record is None or int(record["size"]) < size:
            record = await self._pruned_record(log, size)
            # The record first, then the deletion: a prune cut short is finished by the next.
            await self._heads.update_one(
                {"_id": log, "$or": [{"pruned": None}, {"pruned.size": {"$lt": size}}]},
                {"$set": {"pruned": record}},
            )
        deleted = await self._entries.delete_many({"log": log, "seq": {"$lt": size}})
        return deleted.deleted_count

    async def _pruned_record(self, log: str, size: int) -> dict[str, Any]:
        stored = await self._checkpoints.find_one({"log": log, "size": size})
        if stored is None:
            raise LookupError(f"audit log {log}: no signed checkpoint at {size}")
        proof = await self.prove(
            log, lambda nodes: inclusion_proof(nodes=nodes, index=size - 1, size=size)
        )
        frontier = await self.prove(log, lambda nodes: frontier_at(nodes=nodes, size=size))
        last = await self.prove(log, lambda nodes: nodes.node(level=0, index=size - 1))
        return {
            "type": "pruned",
            "size": size,
            "last": last.hex(),
            "lastProof": [h.hex() for h in proof],
            "frontier": [h.hex() for h in frontier.hashes],
            "checkpoint": str(stored["note"]),
        }

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
