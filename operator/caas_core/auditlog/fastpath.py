"""The verifier's fast path: a run of entry lines checked without parsing JSON per entry.

Verification is bounded by SHA-256 (one leaf hash and, amortised, one node hash per entry), so
per-entry Python work must stay a small fraction of a hash. This module checks a batch of entry
lines with C-level `map` pipelines over the fixed layout of export.py: each line's own hash, its
`prev` against the line before, its `seq` and `log` against what the log expects. It answers only
"all good" (the leaf hashes) or "not sure" (None); on "not sure" the precise path re-reads the
batch entry by entry and names the first problem. It does not parse the rest of each entry
(time, action, …): that is the strict mode's job (verify.py), which is the default.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Sequence
from itertools import repeat
from operator import itemgetter, methodcaller
from typing import Final

from caas_core.auditlog.export import BODY_AT, ENTRY_MIDDLE, HASH_AT, PREV_AT, SEQ_AT

_V1: Final = ENTRY_MIDDLE + b'{"v":1,"prev":"'
_SEQ: Final = b'","seq":'
_digest = methodcaller("digest")
_hashes = itemgetter(slice(HASH_AT, HASH_AT + 64))
_prevs = itemgetter(slice(PREV_AT, PREV_AT + 64))
_bodies = itemgetter(slice(BODY_AT, -2))


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
    expected = map(template.__mod__, range(seq, seq + n))
    if not (
        all(map(bytes.startswith, lines, repeat(_V1), repeat(HASH_AT + 64)))
        and all(map(bytes.endswith, lines, repeat(b"}}\n")))
        and all(map(bytes.startswith, lines, repeat(_SEQ), repeat(PREV_AT + 64)))
        and all(map(bytes.startswith, lines, expected, repeat(SEQ_AT)))
    ):
        return None
    stored = list(map(_hashes, lines))
    prevs = list(map(_prevs, lines))
    if prevs[0] != prev or prevs[1:] != stored[:-1]:
        return None
    leaves = list(map(_digest, map(hashlib.sha256, map(b"\x00".__add__, map(_bodies, lines)))))
    if list(map(binascii.hexlify, leaves)) != stored:
        return None
    return leaves
