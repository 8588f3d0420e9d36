"""Incremental verification of one audit log: the verified prefix and the next stored entries.

The state of a log is what the verifier has proven so far: how many entries (`size`), the Merkle
frontier over them (O(log n) hashes, enough for the root at that size) and the last entry's leaf
hash (what the next entry's `prev` must be). `advance` checks the stored entries that follow and
returns the state moved past every entry that verified, and the first problem: so a restart, or
the next pass, goes on from the last proven entry and never re-reads the log from 0.

Each stored entry must sit at the next seq (a jump: entries DELETED), decode as a canonical
version 1 entry (MALFORMED), carry its own seq (REORDERED: moved to another position) and log
(WRONG_LOG), hash to its stored leaf hash (MODIFIED), and link to its predecessor (BROKEN_LINK).
Stored checkpoints met on the way must be signed by the platform key (BAD_SIGNATURE) over the
root of exactly the entries verified (ROOT_MISMATCH); the stored head of the log must end where
the verified entries end (HEAD_MISMATCH: the head or the last entry was rewritten).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from caas_core.auditlog.anchors import open_pruned
from caas_core.auditlog.append import Head
from caas_core.auditlog.checkpoint import (
    Checkpoint,
    CheckpointError,
    VerifierKey,
    open_checkpoint,
    origin_for,
    split_note,
)
from caas_core.auditlog.entry import GENESIS, Entry, EntryFormatError
from caas_core.auditlog.merkle import Frontier, leaf_hash
from caas_core.auditlog.problems import FailedError


class Inconsistency(StrEnum):
    """Why a log does not verify (the `kind` of a `security.audit.integrity` event)."""

    MALFORMED = "malformed"  # stored bytes that are not a canonical entry
    MODIFIED = "modified"  # an entry's content does not match its stored hash
    DELETED = "deleted"  # an entry is missing (a seq gap)
    REORDERED = "reordered"  # an entry stored at another position than its own seq
    BROKEN_LINK = "broken-link"  # prev is not the previous entry's hash
    WRONG_LOG = "wrong-log"  # an entry or checkpoint of another log
    BAD_SIGNATURE = "bad-signature"  # a stored checkpoint not signed by the platform key
    BAD_CHECKPOINT = "bad-checkpoint"  # a signed checkpoint of another log or size
    ROOT_MISMATCH = "root-mismatch"  # a checkpoint signs another root than the verified one
    HEAD_MISMATCH = "head-mismatch"  # the stored head disagrees with the verified entries
    REWRITTEN = "rewritten"  # the log no longer holds the prefix verified before
    WITNESS_MISMATCH = "witness-mismatch"  # the entry differs from its message on Kafka
    UNLOGGED = "unlogged"  # a message on Kafka whose entry never reached its log


# Kinds that every pass finds again while the cause is there (see `settle`).
RECHECKED = frozenset(
    {
        Inconsistency.MALFORMED,
        Inconsistency.MODIFIED,
        Inconsistency.DELETED,
        Inconsistency.REORDERED,
        Inconsistency.BROKEN_LINK,
        Inconsistency.WRONG_LOG,
        Inconsistency.HEAD_MISMATCH,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """The first inconsistency of a log: where (seq, when known), what kind, and why."""

    log: str
    seq: int | None
    kind: Inconsistency
    detail: str

    def __str__(self) -> str:
        at = "" if self.seq is None else f" at seq {self.seq}"
        return f"audit log {self.log}: {self.kind.value}{at}: {self.detail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RawEntry:
    """An entry as stored: the position the store gives it, its bytes and its stored hash."""

    seq: int
    raw: bytes
    hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LogState:
    """What is proven of one log: its first `size` entries, and the problem raised, if any."""

    log: str
    size: int = 0
    frontier: tuple[bytes, ...] = ()
    last: str = GENESIS
    signed: int = 0  # the largest size this verifier signed (or found signed) and checked
    problem: Problem | None = None  # an entry/head problem raised (found again every pass)
    flagged: Problem | None = None  # a problem that cannot recur, raised once (see `settle`)

    def __post_init__(self) -> None:
        Frontier(size=self.size, hashes=self.frontier)  # refuses a frontier of the wrong shape
        if (self.size == 0) != (self.last == GENESIS):
            raise ValueError("only an empty prefix ends at GENESIS")

    def root(self) -> bytes:
        """The RFC 9162 root of the verified prefix."""
        return Frontier(size=self.size, hashes=self.frontier).root()

    @property
    def consistent(self) -> bool:
        """No problem open: the only state a checkpoint may be signed in."""
        return self.problem is None and self.flagged is None


def advance(
    state: LogState,
    entries: Sequence[RawEntry],
    *,
    checkpoints: Mapping[int, str] | None = None,
    key: VerifierKey | None = None,
) -> tuple[LogState, Problem | None]:
    """Verify `entries` (stored seq order, from `state.size` on) and the `checkpoints` (size →
    signed note) whose size they reach; the state after the last good entry and the first
    problem. Checkpoints are checked only when `key` is given."""
    notes = {} if checkpoints is None or key is None else checkpoints
    frontier = Frontier(size=state.size, hashes=state.frontier)
    last, log = state.last, state.log

    def at_size() -> Problem | None:
        note = notes.get(frontier.size)
        if note is None or key is None:
            return None
        return check_checkpoint(
            log=log, size=frontier.size, note=note, key=key, root=frontier.root()
        )

    # A bad checkpoint is reported but does not stop the entries (they may be fine); the first
    # entry that does not verify stops them: nothing after it can be proven.
    problem = at_size()
    for stored in entries:
        broken = _check_entry(log, stored, expected=frontier.size, prev=last)
        if broken is not None:
            problem = problem or broken
            break
        frontier.append(bytes.fromhex(stored.hash))
        last = stored.hash
        problem = problem or at_size()
    moved = replace(state, size=frontier.size, frontier=frontier.hashes, last=last)
    return moved, problem


def _check_entry(log: str, stored: RawEntry, *, expected: int, prev: str) -> Problem | None:
    if stored.seq != expected:
        return _misplaced(log, seq=stored.seq, expected=expected)
    try:
        entry = Entry.decode(stored.raw)
    except EntryFormatError as exc:
        return Problem(log=log, seq=expected, kind=Inconsistency.MALFORMED, detail=str(exc))
    # In this order: a changed entry is MODIFIED, whatever field the change touched.
    failures = (
        (
            leaf_hash(stored.raw).hex() != stored.hash,
            Inconsistency.MODIFIED,
            "the stored entry does not match its stored hash",
        ),
        (
            entry.seq != expected,
            Inconsistency.REORDERED,
            f"the entry stored at seq {expected} is entry {entry.seq}",
        ),
        (entry.log != log, Inconsistency.WRONG_LOG, f"the entry belongs to log {entry.log!r}"),
        (
            entry.prev != prev,
            Inconsistency.BROKEN_LINK,
            f"prev is not the hash of entry {expected - 1}: one of the two was rewritten",
        ),
    )
    for failed, kind, detail in failures:
        if failed:
            return Problem(log=log, seq=expected, kind=kind, detail=detail)
    return None


def _misplaced(log: str, *, seq: int, expected: int) -> Problem:
    if seq > expected:
        many = seq - 1 > expected
        span = f"entries {expected}..{seq - 1} are" if many else f"entry {expected} is"
        return Problem(
            log=log,
            seq=expected,
            kind=Inconsistency.DELETED,
            detail=f"{span} missing before seq {seq}",
        )
    return Problem(
        log=log,
        seq=seq,
        kind=Inconsistency.REORDERED,
        detail=f"read at seq {seq} after seq {expected - 1}",
    )


def check_checkpoint(
    *, log: str, size: int, note: str, key: VerifierKey, root: bytes
) -> Problem | None:
    """Whether the note stored for `log` at `size` is the platform's signature over `root`.

    A note that carries no signature line of `key` is not checked (C2SP signed notes: verifiers
    ignore keys they do not know): one signed before a key rotation, or in a development stack
    by another secret. One of `key` whose signature fails was altered (BAD_SIGNATURE).
    """
    opened = _open(log=log, note=note, key=key)
    if not isinstance(opened, Checkpoint):
        return opened
    failures = (
        (
            opened.origin != origin_for(key_name=key.name, log=log),
            Inconsistency.BAD_CHECKPOINT,
            f"the checkpoint stored at size {size} is of {opened.origin!r}",
        ),
        (
            opened.size != size,
            Inconsistency.BAD_CHECKPOINT,
            f"the checkpoint stored at size {size} signs size {opened.size}",
        ),
        (
            opened.root != root,
            Inconsistency.ROOT_MISMATCH,
            f"the checkpoint of size {size} signs another root than the verified entries",
        ),
    )
    for failed, kind, detail in failures:
        if failed:
            seq = size - 1 if kind == Inconsistency.ROOT_MISMATCH and size else None
            return Problem(log=log, seq=seq, kind=kind, detail=detail)
    return None


def _open(*, log: str, note: str, key: VerifierKey) -> Checkpoint | Problem | None:
    """The checkpoint `key` signed, a problem, or None when `key` did not sign the note."""
    try:
        _, signatures = split_note(note)
    except CheckpointError as exc:
        return Problem(log=log, seq=None, kind=Inconsistency.BAD_CHECKPOINT, detail=str(exc))
    if not any(name == key.name and raw[:4] == key.key_id for name, raw in signatures):
        return None
    try:
        return open_checkpoint(note=note, key=key)
    except CheckpointError as exc:  # BadSignatureError: the text or the signature changed
        return Problem(log=log, seq=None, kind=Inconsistency.BAD_SIGNATURE, detail=str(exc))


def check_head(state: LogState, head: Head) -> Problem | None:
    """Whether the stored head, read before the entries up to its size, ends where they end."""
    if head.size != state.size:
        return None  # not caught up with this head (or it moved on): nothing to compare yet
    if head.last != state.last or head.frontier != state.frontier:
        return Problem(
            log=state.log,
            seq=state.size - 1 if state.size else None,
            kind=Inconsistency.HEAD_MISMATCH,
            detail=f"the stored head at size {head.size} is not the end of the stored entries",
        )
    return None


def check_prefix(verified: LogState, fresh: LogState) -> Problem | None:
    """Whether a log verified again from 0 (`fresh`, at the same size) still holds the prefix
    verified before: a chain rewritten consistently from some entry on is caught here."""
    if fresh.size != verified.size:
        raise ValueError("compare states of the same size")
    if fresh.frontier != verified.frontier or fresh.last != verified.last:
        return Problem(
            log=verified.log,
            seq=verified.size - 1 if verified.size else None,
            kind=Inconsistency.REWRITTEN,
            detail=f"the first {verified.size} entries are no longer those verified before",
        )
    return None


def pruned_origin(
    *, log: str, record: Mapping[str, Any] | None, key: VerifierKey
) -> LogState | Problem | None:
    """Where verification of a pruned log starts: the state its pruned record vouches for
    (entries 0..N-1 removed by retention, replaced by their signed checkpoint, the frontier at
    N and the last leaf hash with its proof, all checked against the signature). None when the
    log was never pruned; a Problem when the record is not what the platform's key signed."""
    if record is None:
        return None
    try:
        pruned = open_pruned(record=dict(record), key=key, log=log, lineno=1)
    except FailedError as exc:
        detail = f"the pruned record does not verify: {exc.problem.detail}"
        return Problem(log=log, seq=None, kind=Inconsistency.BAD_CHECKPOINT, detail=detail)
    size = pruned.frontier.size
    return LogState(
        log=log, size=size, frontier=pruned.frontier.hashes, last=pruned.last, signed=size
    )


def settle(
    state: LogState, problem: Problem | None, *, recurs: bool = True
) -> tuple[LogState, Problem | None]:
    """Remember a log's problem; return it to raise only when it is new (another seq or kind
    than the one of its class raised before). `recurs=False`: the problem was found where the
    incremental passes do not look (below the verified size), so it cannot recur either.

    Problems of the entries and the head (`RECHECKED`) are found again by every pass until the
    log is repaired (an entry restored from a backup), so a pass that verifies forgets them.
    The others cannot be observed twice (a checkpoint passed, a Kafka message consumed, a prefix
    compared): they stay in `flagged` until an operator clears the log's verified state, and no
    checkpoint is signed over the log meanwhile."""
    if problem is None:
        return (state if state.problem is None else replace(state, problem=None)), None
    if recurs and problem.kind in RECHECKED:
        if _same(state.problem, problem):
            return state, None
        return replace(state, problem=problem), problem
    if _same(state.flagged, problem):
        return state, None
    return replace(state, flagged=problem), problem


def _same(raised: Problem | None, problem: Problem) -> bool:
    return raised is not None and (raised.seq, raised.kind) == (problem.seq, problem.kind)
