"""A stored log's NDJSON export (auditlog/export.py's format), streamed from MongoDB.

Entry lines carry the stored canonical bytes and the stored hash, not recomputed ones: an entry
changed in the database then fails its own hash check in the verifier, which names that entry
instead of only the next link. Stored checkpoints stand after the entry that brings the log to
their size; the export ends with a checkpoint of its last size (signed now if none is stored);
an export that starts after entry 0 opens with a pruned record for its start (export.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Final

from caas_core.adapters.auditlog_store import AuditLogStore
from caas_core.auditlog.checkpoint import CheckpointSigner
from caas_core.auditlog.export import ENTRY_MIDDLE, ENTRY_PREFIX, checkpoint_line
from caas_core.auditlog.merkle import frontier_at, inclusion_proof

BATCH: Final = 1000


async def export_log(
    store: AuditLogStore,
    log: str,
    *,
    signer: CheckpointSigner,
    start: int = 0,
    end: int | None = None,
) -> AsyncIterator[bytes]:
    """Lines of the export of entries start ≤ seq < end (end: the log's size now)."""
    head = await store.head(log)
    stop = head.size if end is None else min(end, head.size)
    record = await store.pruned(log)
    if record is not None and start <= int(record["size"]):
        # Entries below the pruned size are gone: the export starts with their record.
        start = int(record["size"])
        if start < stop:
            yield json.dumps(record, ensure_ascii=False).encode() + b"\n"
    elif start > 0 and start < stop:
        yield await _pruned_line(store, log, size=start, signer=signer)
    if not 0 <= start < stop:
        return
    notes = dict(await store.checkpoints(log, start=start + 1, end=stop))
    if stop not in notes:
        notes[stop] = await store.sign_at(log, stop, signer=signer)
    for first in range(start, stop, BATCH):
        for stored in await store.entries(log, start=first, end=min(first + BATCH, stop)):
            yield ENTRY_PREFIX + stored.hash.encode() + ENTRY_MIDDLE + stored.raw + b"}\n"
            note = notes.get(stored.entry.seq + 1)
            if note is not None:
                yield checkpoint_line(note)


async def _pruned_line(
    store: AuditLogStore, log: str, *, size: int, signer: CheckpointSigner
) -> bytes:
    """The record that stands for entries 0..size-1 (a later range's export starts with it)."""
    note = await store.sign_at(log, size, signer=signer)
    proof = await store.prove(
        log, lambda nodes: inclusion_proof(nodes=nodes, index=size - 1, size=size)
    )
    frontier = await store.prove(log, lambda nodes: frontier_at(nodes=nodes, size=size))
    last = await store.prove(log, lambda nodes: nodes.node(level=0, index=size - 1))
    record = {
        "type": "pruned",
        "size": size,
        "last": last.hex(),
        "lastProof": [h.hex() for h in proof],
        "frontier": [h.hex() for h in frontier.hashes],
        "checkpoint": note,
    }
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"
