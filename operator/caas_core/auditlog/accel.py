"""The verifier's fast path in compiled code (accel.c), when it was built: same answers, fewer µs.

`fastpath.check_entries` and `merkle.Frontier.extend` define what a batch of entry lines must be
and how leaves fold into the tree; this module gives the same results from three C calls per
batch (find the run of entry lines, check it, fold its leaves), so per-entry work is two SHA-256
calls and a few `memcmp`s, with no Python object per entry (the pure path's slicing, hexlify and
list compares cost about twice the hashing itself). tests/unit/auditlog/test_accel.py checks both
paths against each other on generated exports, valid, tampered and forged: leaf hashes, "not
sure" decisions, frontiers and final reports.

Hand-written, because speed is its only reason to exist and no maintained library does this
job: RFC 9162 code elsewhere either verifies one inclusion or consistency proof at a time
(sigstore-python's Rekor checks) or is a Go log server over its own storage (Trillian, Tessera),
and none checks a streamed export of hash-linked entries and signed checkpoints. Built by
hack/build_audit_accelerator.py (cffi in API mode, OpenSSL's libcrypto); without it `AVAILABLE`
is False and the verifier takes the pure path.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Final

from caas_core.auditlog.merkle import HASH_SIZE, Frontier

try:
    from caas_core.auditlog._accel import ffi, lib
except ImportError:  # not built (no compiler where this runs): fastpath stays pure Python
    AVAILABLE = False
else:
    AVAILABLE = True

_MAX_SEQ: Final = 1 << 62  # seqs and sizes stay far from the C code's uint64_t limits


def _suffix(template: bytes) -> bytes | None:
    """What follows the seq's digits in every line (template % seq minus the digits), or None
    when the template is not fastpath.seq_template's `%d…` form with a newline-free rest."""
    if not template.startswith(b"%d"):
        return None
    suffix = template[2:].replace(b"%%", b"%")
    try:
        if template % 0 != b"0" + suffix or b"\n" in suffix:
            return None
    except (TypeError, ValueError):
        return None
    return suffix


class _Joined:
    """Lines as the C code reads them: one buffer and each line's length."""

    __slots__ = ("buf", "count", "lens")

    def __init__(self, lines: Sequence[bytes]) -> None:
        if not AVAILABLE:
            raise LookupError("not built")
        self.buf = b"".join(lines)
        self.count = len(lines)
        self.lens = ffi.from_buffer("int64_t[]", array("q", map(len, lines)))

    def entry_run(self) -> int:
        """How many lines from the first start with export.ENTRY_PREFIX."""
        return int(lib.caas_entry_run(self.buf, self.lens, self.count))

    def leaf_hashes(self, n: int, *, seq: int, prev: bytes, template: bytes) -> bytes | None:
        """fastpath.check_entries of the first n lines, the leaves end to end (LookupError
        outside what the C code handles: the caller takes the pure path)."""
        suffix = _suffix(template)
        if suffix is None or not 0 < n <= self.count or not 0 <= seq <= _MAX_SEQ - n:
            raise LookupError("not for the accelerator")
        leaves = bytearray(HASH_SIZE * n)
        ok = lib.caas_check_entries(
            self.buf,
            self.lens,
            n,
            seq,
            prev,
            len(prev),
            suffix,
            len(suffix),
            ffi.from_buffer(leaves),
        )
        return bytes(leaves) if ok else None


def leaf_hashes(lines: Sequence[bytes], *, seq: int, prev: bytes, template: bytes) -> bytes | None:
    """fastpath.check_entries' answer as one buffer: the leaf hashes end to end, or None (not
    sure). Raises LookupError if this call is outside what the C code handles (the caller
    takes the pure path)."""
    return _Joined(lines).leaf_hashes(len(lines), seq=seq, prev=prev, template=template)


def check_run(
    lines: Sequence[bytes],
    *,
    limit: int,
    seq: int,
    prev: bytes,
    template: bytes,
    frontier: Frontier,
    pending: bytes | None,
) -> tuple[int, tuple[Frontier, bytes] | None]:
    """fastpath.check_run in C: the lines joined once for finding the run and checking it."""
    joined = _Joined(lines)
    run = joined.entry_run()
    n = min(run, limit)
    if n < 2:
        return run, None
    leaves = joined.leaf_hashes(n, seq=seq, prev=prev, template=template)
    if leaves is None:
        return run, None
    return run, (extended(frontier, (pending or b"") + leaves[:-HASH_SIZE]), leaves[-HASH_SIZE:])


def check_entries(
    lines: Sequence[bytes], *, seq: int, prev: bytes, template: bytes
) -> list[bytes] | None:
    """fastpath.check_entries, in C (LookupError outside what the C code handles)."""
    leaves = leaf_hashes(lines, seq=seq, prev=prev, template=template)
    if leaves is None:
        return None
    return [leaves[i : i + HASH_SIZE] for i in range(0, len(leaves), HASH_SIZE)]


def extended(frontier: Frontier, leaves: bytes) -> Frontier:
    """A copy of `frontier` after Frontier.extend of `leaves` (32-byte hashes end to end)."""
    if not AVAILABLE or frontier.size > _MAX_SEQ or len(leaves) % HASH_SIZE:
        raise LookupError("not for the accelerator")
    hashes = bytearray(HASH_SIZE * 64)
    at = HASH_SIZE * len(frontier.hashes)
    hashes[:at] = b"".join(frontier.hashes)
    size = ffi.new("uint64_t *", frontier.size)
    count = int(lib.caas_frontier_extend(ffi.from_buffer(hashes), size, leaves, len(leaves) // 32))
    return Frontier(
        size=int(size[0]),
        hashes=[bytes(hashes[i : i + HASH_SIZE]) for i in range(0, HASH_SIZE * count, HASH_SIZE)],
    )
