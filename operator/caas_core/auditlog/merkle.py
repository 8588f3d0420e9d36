"""RFC 9162 §2.1 Merkle trees: the tree hash, a compact frontier, inclusion and consistency proofs.

Why a Merkle tree and not only the hash chain: a chain proves order, but showing one entry, or
that today's log extends last month's, costs the whole chain. The tree gives logarithmic proofs
for both (RFC 9162 §2.1.3, §2.1.4), and its root is what a checkpoint signs.

Hashes are SHA-256 with RFC 9162's domain separation: a leaf is SHA-256(0x00 || entry), an
interior node SHA-256(0x01 || left || right), so no leaf can pass for a node.

Three pieces, so every caller pays only for what it needs:

- `Frontier` (a "compact range" [0, size)): the roots of the perfect subtrees that make up the
  tree, one per set bit of the size. Appending is O(1) amortised, O(log n) at worst, and the root
  of the current size costs O(log n) hashes, so a streaming verifier (or a writer that restarts)
  holds O(log n) hashes, never the leaves.
- `NodeReader`: where proofs read perfect-subtree hashes from. `MemoryTree` keeps every level (2n
  hashes) for tests, exports and the writer; a stored log keeps the same nodes (like Tessera's
  tiles) and implements the protocol over its own storage.
- Pure proof functions: generation over a `NodeReader`, verification over hashes only.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence
from typing import Final, Protocol

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()  # MTH({}) per RFC 9162 §2.1.1

_sha256 = hashlib.sha256
_digest = operator.methodcaller("digest")
_NODE: Final = b"\x01"
_MIN_RUN_LEVEL: Final = 3  # runs of 8 leaves or more are hashed as one subtree


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || entry)."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two strictly smaller than `size` (size ≥ 2): where MTH splits."""
    return 1 << ((size - 1).bit_length() - 1)


def _perfect_pieces(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) as (level, index) perfect subtrees, largest first (RFC 9162's right edge)."""
    pieces: list[tuple[int, int]] = []
    while start < end:
        level = (end - start).bit_length() - 1
        # A subtree node of the tree is aligned: start is a multiple of its own size.
        while start & ((1 << level) - 1):
            level -= 1
        pieces.append((level, start >> level))
        start += 1 << level
    return pieces


class Frontier:
    """The compact range [0, size): one perfect-subtree root per set bit of size, largest first."""

    __slots__ = ("_hashes", "_size")

    def __init__(self, *, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} hashes")
        if any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError("frontier hashes are 32 bytes")
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        """Number of leaves covered."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect-subtree roots, largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash: merge equal-sized subtrees as binary addition carries."""
        hashes = self._hashes
        size = self._size
        while size & 1:
            leaf = _sha256(b"\x01" + hashes.pop() + leaf).digest()
            size >>= 1
        hashes.append(leaf)
        self._size += 1

    def append_keeping(self, leaf: bytes, *, stride: int) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash and return (level, index, hash) of the perfect subtrees it completes
        at levels that are positive multiples of `stride`: the nodes a stored log keeps (tiles of
        2**stride leaves) so that any proof reads at most 2**stride hashes per tile it crosses."""
        hashes = self._hashes
        size = self._size
        index = size
        level = 0
        kept: list[tuple[int, int, bytes]] = []
        while size & 1:
            leaf = _sha256(b"\x01" + hashes.pop() + leaf).digest()
            size >>= 1
            index >>= 1
            level += 1
            if level % stride == 0:
                kept.append((level, index, leaf))
        hashes.append(leaf)
        self._size += 1
        return kept

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Append many leaf hashes: as perfect subtrees as large as the current size's alignment
        and the count allow, each hashed level by level with C-level map pipelines (the
        verifier's fast path); single leaves only where no subtree of 8 fits."""
        i, n = 0, len(leaves)
        while i < n:
            size = self._size
            aligned = (size & -size).bit_length() - 1 if size else n.bit_length()
            level = min(aligned, (n - i).bit_length() - 1)
            if level < _MIN_RUN_LEVEL:
                self.append(leaves[i])
                i += 1
                continue
            run = list(leaves[i : i + (1 << level)])
            while len(run) > 1:
                pairs = map(bytes.__add__, map(_NODE.__add__, run[0::2]), run[1::2])
                run = list(map(_digest, map(_sha256, pairs)))
            self._append_subtree(run[0], level)
            i += 1 << level

    def _append_subtree(self, subtree: bytes, level: int) -> None:
        hashes = self._hashes
        size = self._size >> level
        while size & 1:
            subtree = _sha256(b"\x01" + hashes.pop() + subtree).digest()
            size >>= 1
        hashes.append(subtree)
        self._size += 1 << level

    def root(self) -> bytes:
        """MTH of the covered leaves: fold the subtree roots from the right (O(log n))."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        acc = hashes[-1]
        for h in reversed(hashes[:-1]):
            acc = _sha256(b"\x01" + h + acc).digest()
        return acc

    def copy(self) -> Frontier:
        """An independent frontier of the same range."""
        return Frontier(size=self._size, hashes=self._hashes)


class NodeReader(Protocol):
    """Reads the hash of the perfect subtree of 2**level leaves starting at index * 2**level."""

    def node(self, *, level: int, index: int) -> bytes:
        """The subtree's hash; only called for subtrees inside the tree size asked about."""


class MemoryTree:
    """Every perfect-subtree hash, level by level: O(1) amortised append, O(1) node reads."""

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]

    @classmethod
    def from_leaves(cls, leaves: Sequence[bytes]) -> MemoryTree:
        """A tree over stored leaf hashes (O(n) hashing once, then O(log n) proofs)."""
        tree = cls()
        for leaf in leaves:
            tree.append(leaf)
        return tree

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash and complete the subtrees it closes."""
        levels = self._levels
        levels[0].append(leaf)
        level = 0
        while len(levels[level]) % 2 == 0:
            row = levels[level]
            parent = node_hash(row[-2], row[-1])
            if level + 1 == len(levels):
                levels.append([])
            levels[level + 1].append(parent)
            level += 1

    def node(self, *, level: int, index: int) -> bytes:
        """A stored perfect-subtree hash."""
        return self._levels[level][index]

    def root(self, *, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (default: all)."""
        return tree_root(nodes=self, size=self.size if size is None else size)


def subtree_root(*, nodes: NodeReader, start: int, end: int) -> bytes:
    """Hash of the tree node covering [start, end): a perfect subtree, or a right edge folded."""
    pieces = _perfect_pieces(start, end)
    level, index = pieces[-1]
    acc = nodes.node(level=level, index=index)
    for level, index in reversed(pieces[:-1]):
        acc = node_hash(nodes.node(level=level, index=index), acc)
    return acc


def tree_root(*, nodes: NodeReader, size: int) -> bytes:
    """MTH(D[0:size])."""
    return EMPTY_ROOT if size == 0 else subtree_root(nodes=nodes, start=0, end=size)


def frontier_at(*, nodes: NodeReader, size: int) -> Frontier:
    """The compact range [0, size): what a pruned prefix or a restarted writer carries on with."""
    pieces = _perfect_pieces(0, size)
    return Frontier(size=size, hashes=[nodes.node(level=lv, index=ix) for lv, ix in pieces])


def inclusion_proof(*, nodes: NodeReader, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(subtree_root(nodes=nodes, start=start + k, end=end))
            end = start + k
        else:
            path.append(subtree_root(nodes=nodes, start=start, end=start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(*, nodes: NodeReader, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1 (empty when a size is 0 or equal)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    m, start, end, complete = old_size, 0, new_size, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append(subtree_root(nodes=nodes, start=start + k, end=end))
            end = start + k
        else:
            proof.append(subtree_root(nodes=nodes, start=start, end=start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(subtree_root(nodes=nodes, start=start, end=end))
    proof.reverse()
    return proof


def root_from_inclusion(
    *, leaf: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root that `proof` implies for `leaf` at `index` (RFC 9162 §2.1.3.2), or None if the
    proof has the wrong shape for that index and size."""
    if not 0 <= index < size:
        return None
    fn, sn, acc = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            acc = node_hash(p, acc)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            acc = node_hash(acc, p)
        fn >>= 1
        sn >>= 1
    return acc if sn == 0 else None


def verify_inclusion(
    *, leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `leaf` is the leaf hash at `index` of the tree of `size` with `root`."""
    return root_from_inclusion(leaf=leaf, index=index, size=size, proof=proof) == root


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether the tree (new_size, new_root) extends (old_size, old_root) (RFC 9162 §2.1.4.2)."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
