"""The verifier's fast path: a run of entry lines checked without parsing JSON per entry.

Verification is bounded by SHA-256 (one leaf hash and, amortised, one node hash per entry), so
per-entry Python work must stay a small fraction of a hash. This module checks a batch of entry
lines with C-level `map` pipelines over the fixed layout of export.py: each line's own hash, its
`prev` against the line before, its `seq` and `log` against what the log expects. It answers only
"all good" (the leaf hashes) or "not sure" (None); on "not sure" the precise path re-reads the
batch entry by entry and names the first problem. The strict mode (the default) adds `well_formed`:
every entry parsed and re-encoded in one C-level pass per batch, then its fields checked.

`check_run` and `check_and_extend` use the compiled accelerator (accel.py) when it was built; it
gives the same answers as `check_entries` and `Frontier.extend` here, which define them.
"""

from __future__ import annotations

import binascii
import gc
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from itertools import repeat
from operator import itemgetter, methodcaller
from typing import Final

from caas_core.auditlog import accel
from caas_core.auditlog.entry import FIELDS, HEX64_PATTERN, TIME_PATTERN
from caas_core.auditlog.export import (
    BODY_AT,
    ENTRY_MIDDLE,
    ENTRY_PREFIX,
    HASH_AT,
    PREV_AT,
    SEQ_AT,
)
from caas_core.auditlog.merkle import HASH_SIZE, Frontier

_V1: Final = ENTRY_MIDDLE + b'{"v":1,"prev":"'
_SEQ: Final = b'","seq":'
_digest = methodcaller("digest")
_hashes = itemgetter(slice(HASH_AT, HASH_AT + 64))
_prevs = itemgetter(slice(PREV_AT, PREV_AT + 64))
_bodies = itemgetter(slice(BODY_AT, -2))
_v1_part = itemgetter(slice(HASH_AT + 64, HASH_AT + 64 + len(_V1)))
_seq_part = itemgetter(slice(PREV_AT + 64, SEQ_AT))
_end_part = itemgetter(slice(-3, None))
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_PAIR: Final = ("type", "id")

# Whether check_and_extend uses the compiled accelerator (tests set it to compare both paths).
accelerated: bool = accel.AVAILABLE


def seq_template(log: str) -> bytes:
    """`%d,"log":<log>,"id":` as a bytes %-template: what follows `"seq":` in each entry."""
    log_json = json.dumps(log, ensure_ascii=False).encode().replace(b"%", b"%%")
    return b'%d,"log":' + log_json + b',"id":'


def check_entries(
    lines: Sequence[bytes], *, seq: int, prev: bytes, template: bytes
) -> list[bytes] | None:
    """The leaf hashes of entry lines seq, seq+1, … if each one is intact and linked from `prev`
    (hex bytes), else None."""
    n = len(lines)
    # Fixed parts compared as slices against one list (C-level list equality): much cheaper
    # than bytes.startswith with an offset, per line.
    if (
        list(map(_v1_part, lines)) != [_V1] * n
        or list(map(_seq_part, lines)) != [_SEQ] * n
        or list(map(_end_part, lines)) != [b"}}\n"] * n
    ):
        return None
    expected = list(map(template.__mod__, range(seq, seq + n)))
    width = len(expected[0])
    if len(expected[-1]) == width:  # one digit count for the whole batch: slices again
        if list(map(itemgetter(slice(SEQ_AT, SEQ_AT + width)), lines)) != expected:
            return None
    elif not all(map(bytes.startswith, lines, expected, repeat(SEQ_AT))):
        return None
    stored = list(map(_hashes, lines))
    prevs = list(map(_prevs, lines))
    if prevs[0] != prev or prevs[1:] != stored[:-1]:
        return None
    leaves = list(map(_digest, map(hashlib.sha256, map(b"\x00".__add__, map(_bodies, lines)))))
    if list(map(binascii.hexlify, leaves)) != stored:
        return None
    return leaves


def check_and_extend(
    lines: Sequence[bytes],
    *,
    seq: int,
    prev: bytes,
    template: bytes,
    frontier: Frontier,
    pending: bytes | None,
) -> tuple[Frontier, bytes] | None:
    """`check_entries`, then a copy of `frontier` extended with `pending` (if any) and every
    leaf but the last: (that copy, the last leaf), or None when not sure."""
    if accelerated:
        try:
            blob = accel.leaf_hashes(lines, seq=seq, prev=prev, template=template)
            if blob is None:
                return None
            return accel.extended(frontier, (pending or b"") + blob[:-HASH_SIZE]), blob[-HASH_SIZE:]
        except LookupError:
            pass  # outside what the C code handles (e.g. a seq beyond 2**62): the pure path
    leaves = check_entries(lines, seq=seq, prev=prev, template=template)
    if leaves is None:
        return None
    after = frontier.copy()
    after.extend([pending, *leaves[:-1]] if pending else leaves[:-1])
    return after, leaves[-1]


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
    """How many of `lines` from the first are entry lines, and `check_and_extend`'s answer for
    the first `limit` of those (None too when that is fewer than 2)."""
    if accelerated:
        try:
            return accel.check_run(
                lines,
                limit=limit,
                seq=seq,
                prev=prev,
                template=template,
                frontier=frontier,
                pending=pending,
            )
        except LookupError:
            pass  # outside what the C code handles: the pure path
    flags = list(map(bytes.startswith, lines, [ENTRY_PREFIX] * len(lines)))
    run = flags.index(False) if False in flags else len(lines)
    n = min(run, limit)
    if n < 2:
        return run, None
    checked = check_and_extend(
        lines[:n], seq=seq, prev=prev, template=template, frontier=frontier, pending=pending
    )
    return run, checked


def well_formed(lines: Sequence[bytes]) -> bool:
    """Whether every entry line's body is a canonical version 1 entry (the strict mode's check):
    one C-level JSON parse and re-encoding of the whole batch (equal bytes: canonical, no
    duplicate keys), then the fields' order and types, field by field over the batch."""
    joined = b"[" + b",".join(map(_bodies, lines)) + b"]"
    collecting = gc.isenabled()
    gc.disable()  # thousands of fresh dicts, no cycles: a collection would only walk the heap
    try:
        parsed = json.loads(joined)
        if _encode(parsed).encode() != joined:
            return False
        if not all(map(FIELDS.__eq__, map(tuple, parsed))):
            return False
        actors = list(map(itemgetter("actor"), parsed))
        targets = list(map(itemgetter("target"), parsed))
        if not all(map(_PAIR.__eq__, map(tuple, actors + targets))):
            return False
        required = [*map(itemgetter("id", "action", "outcome", "at"), parsed)]
        required_strings = [s for row in required for s in row]
        required_strings += map(itemgetter("type"), actors)
        optional = [*map(itemgetter("id"), actors), *map(itemgetter("type"), targets)]
        optional += map(itemgetter("id"), targets)
        optional_strings = [s for s in optional if s is not None]
        pds = [pd for pd in map(itemgetter("pd"), parsed) if pd is not None]
        return (
            all(map(isinstance, required_strings, repeat(str)))
            and all(required_strings)
            and all(map(isinstance, optional_strings, repeat(str)))
            and all(map(TIME_PATTERN.fullmatch, map(itemgetter("at"), parsed)))
            and all(map(HEX64_PATTERN.fullmatch, pds))
            and all(map(datetime.fromisoformat, map(itemgetter("at"), parsed)))
        )
    except (ValueError, TypeError, KeyError):
        return False
    finally:
        if collecting:
            gc.enable()
