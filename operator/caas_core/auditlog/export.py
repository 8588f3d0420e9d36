"""The NDJSON export of one log: entries in order, checkpoints at their sizes, pruned prefixes.

One JSON object per line (UTF-8, '\\n'-terminated), its kind in "type":

- `{"type":"entry","hash":"<hex leaf hash>","entry":<canonical entry>}`: one entry, its bytes
  exactly as hashed (entry.py), and its own leaf hash, so that a changed entry is caught at the
  entry itself, not only at the next one's link. Written with exactly this layout (the verifier's
  fast path reads `hash`, `prev` and `seq` at fixed offsets; anything else is parsed as JSON).
- `{"type":"checkpoint","note":"<signed note>"}`: a signed checkpoint; it stands right after the
  entry that brings the log to its size, and the export ends with one for its full size (entries
  after the last checkpoint are not signed, so their loss could not be seen).
- `{"type":"pruned","size":N,"last":"<hex>","lastProof":[...],"frontier":[...],"checkpoint":...}`:
  entries 0..N-1 were removed (retention), replaced by their signed checkpoint, the hex leaf hash
  of entry N-1 (which entry N links to) with its inclusion proof, and the tree's compact range at
  N (Merkle.Frontier, hex), both checked against the checkpoint's root. First line only. The same
  record starts an export of a later range.

Exports carry the entries' personal-data commitments, never the personal data: an auditor checks
integrity without seeing IP addresses; a reader with the right to them gets payloads and salts
from the API and checks them with entry.personal_data_matches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Final

from caas_core.auditlog.checkpoint import Checkpoint, CheckpointSigner, origin_for
from caas_core.auditlog.entry import Entry
from caas_core.auditlog.merkle import MemoryTree, frontier_at, inclusion_proof

ENTRY_PREFIX: Final = b'{"type":"entry","hash":"'
ENTRY_MIDDLE: Final = b'","entry":'
HASH_AT: Final = len(ENTRY_PREFIX)  # the hex leaf hash: line[HASH_AT:HASH_AT + 64]
BODY_AT: Final = HASH_AT + 64 + len(ENTRY_MIDDLE)  # the canonical entry: line[BODY_AT:-2]
PREV_AT: Final = BODY_AT + len(b'{"v":1,"prev":"')  # its prev: line[PREV_AT:PREV_AT + 64]
SEQ_AT: Final = PREV_AT + 64 + len(b'","seq":')  # its seq's digits, then a comma


def entry_line(entry: Entry) -> bytes:
    """An entry's export line."""
    body = entry.encode()
    return ENTRY_PREFIX + entry.hash_hex().encode() + ENTRY_MIDDLE + body + b"}\n"


def checkpoint_line(note: str) -> bytes:
    """A signed checkpoint's export line."""
    return json.dumps({"type": "checkpoint", "note": note}, ensure_ascii=False).encode() + b"\n"


def pruned_line(*, tree: MemoryTree, size: int, note: str) -> bytes:
    """The line that replaces entries 0..size-1 of `tree`, given their signed checkpoint."""
    record = {
        "type": "pruned",
        "size": size,
        "last": tree.node(level=0, index=size - 1).hex(),
        "lastProof": [h.hex() for h in inclusion_proof(nodes=tree, index=size - 1, size=size)],
        "frontier": [h.hex() for h in frontier_at(nodes=tree, size=size).hashes],
        "checkpoint": note,
    }
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


def export_lines(
    *,
    entries: Sequence[Entry],
    signer: CheckpointSigner,
    checkpoint_every: int = 1000,
    pruned: int = 0,
) -> Iterator[bytes]:
    """A complete export of a log's entries (all of one log, from seq 0): checkpoints every
    `checkpoint_every` entries and at the end; with `pruned`, entries below it are replaced by
    a pruned record. For tests, tools and the API's export."""
    if not entries:
        return
    log = entries[0].log
    origin = origin_for(key_name=signer.verifier_key.name, log=log)
    tree = MemoryTree()

    def signed(size: int) -> str:
        return signer.sign(Checkpoint(origin=origin, size=size, root=tree.root(size=size)))

    for entry in entries:
        tree.append(entry.leaf_hash())
        size = tree.size
        if size < pruned:
            continue
        if size == pruned:
            yield pruned_line(tree=tree, size=size, note=signed(size))
            continue
        yield entry_line(entry)
        if size % checkpoint_every == 0 or size == len(entries):
            yield checkpoint_line(signed(size))
