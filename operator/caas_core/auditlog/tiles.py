"""Proofs over a stored log's tiles: which stored hashes a proof needs, then the proof itself.

A stored log keeps leaf hashes and the nodes at levels 8, 16, … (append.TILE_HEIGHT). The proof
functions of merkle.py read nodes through `NodeReader`, synchronously; a store answers with I/O.
Since the positions a proof reads depend only on indices and sizes, never on hash values, a
proof is run twice: first over `RecordingNodes` (which notes the positions and returns zeros),
then, once the store fetched the stored hashes beneath those positions in one query per level,
over `TileNodes`, which computes any missing node from its tile. Two queries instead of one per
node, and no proof code duplicated for storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from caas_core.auditlog.append import TILE_HEIGHT, tile_base
from caas_core.auditlog.merkle import HASH_SIZE, NodeReader, node_hash

T = TypeVar("T")
Position = tuple[int, int]  # (level, index)
_ZERO = bytes(HASH_SIZE)


class RecordingNodes:
    """A NodeReader that remembers what was asked (the first, dry run of a proof)."""

    def __init__(self) -> None:
        self.asked: set[Position] = set()

    def node(self, *, level: int, index: int) -> bytes:
        """Note the position; the value does not matter for the dry run."""
        self.asked.add((level, index))
        return _ZERO


def positions_needed(proof: Callable[[NodeReader], object]) -> set[Position]:
    """The node positions `proof` reads."""
    recorder = RecordingNodes()
    proof(recorder)
    return recorder.asked


def stored_beneath(positions: Iterable[Position]) -> set[Position]:
    """The stored positions (levels that are multiples of the tile height) that the asked-for
    nodes are made of: each node itself if stored, else its descendants at its tile's base."""
    stored: set[Position] = set()
    for level, index in positions:
        base = tile_base(level)
        span = level - base
        first = index << span
        stored.update((base, i) for i in range(first, first + (1 << span)))
    return stored


class TileNodes:
    """A NodeReader over fetched stored hashes; other nodes computed from their tile."""

    def __init__(self, stored: Mapping[Position, bytes]) -> None:
        self._known: dict[Position, bytes] = dict(stored)

    def node(self, *, level: int, index: int) -> bytes:
        """A stored hash, or the node computed from its two children (memoised)."""
        known = self._known.get((level, index))
        if known is not None:
            return known
        if level % TILE_HEIGHT == 0:
            raise LookupError(f"stored node ({level}, {index}) was not fetched")
        value = node_hash(
            self.node(level=level - 1, index=2 * index),
            self.node(level=level - 1, index=2 * index + 1),
        )
        self._known[(level, index)] = value
        return value


def run_proof(proof: Callable[[NodeReader], T], stored: Mapping[Position, bytes]) -> T:
    """The real run of a proof, over the stored hashes fetched for its dry run."""
    return proof(TileNodes(stored))
