"""Pruning a log by age without losing verifiability: which prefix may go, and what replaces it.

Retention removes a log's oldest entries as a prefix 0..N-1 and replaces them by a pruned
record (export.py): the signed checkpoint at size N, the last pruned entry's leaf hash with its
inclusion proof, and the tree's frontier at N, so entry N still links to something checkable and
every later checkpoint still proves consistent with the pruned one.

N is chosen so that nothing kept needs a pruned leaf:

- a multiple of the tile width (2**TILE_HEIGHT): every proof node inside [0, N) is then a
  perfect subtree of 256 leaves or more, kept as a tile node after its leaves are gone;
- a size with a signed checkpoint (the pruned record stands on it; the writer of the prune,
  the operator, holds no signing key — the audit verifier signs checkpoints at tile boundaries);
- no larger than the first entry still young enough to keep (entries are ordered by seq, their
  times only roughly: instances' clocks differ, so the prefix stops at the first young one).
"""

from __future__ import annotations

from collections.abc import Iterable

from caas_core.auditlog.append import TILE_HEIGHT

TILE_WIDTH = 1 << TILE_HEIGHT


def tile_boundary(size: int) -> int:
    """The largest multiple of the tile width not above `size`."""
    return size - size % TILE_WIDTH


def prune_point(*, first_young: int, checkpoints: Iterable[int], pruned: int) -> int | None:
    """The new pruned size: the largest signed tile boundary in (pruned, first_young], or None
    when nothing more may be pruned."""
    candidates = [
        size
        for size in checkpoints
        if size % TILE_WIDTH == 0 and pruned < size <= first_young and size > 0
    ]
    return max(candidates, default=None)
