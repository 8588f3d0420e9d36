"""Verify an export with the public key only, and name the first problem and why.

Streaming: memory is the O(log n) frontier and a few lines of look-ahead, whatever the log's size.
For each entry line: its stored hash must be the hash of its content (else the entry was
MODIFIED), its seq the next one (a jump is a DELETED entry, or REORDERED when the missing one
comes later; a seq already used is an INSERTED entry), its prev the previous entry's hash
(BROKEN_LINK). Each checkpoint must be signed by the key (BAD_SIGNATURE), stand at its size
(before it: entries DELETED; after: INSERTED) and sign the root recomputed from the entries
(ROOT_MISMATCH); checkpoints the caller trusts must agree with the export (INCONSISTENT). The
export must end signed (UNSIGNED_TAIL), else its last entries could be cut unseen.

Which entry: when an entry that is intact by itself takes another's place (same seq, same prev),
one look-ahead decides: the next entry links to the genuine one, or, at the end, the checkpoint's
root includes it. The look-ahead is only taken on that failure path.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from caas_core.auditlog import fastpath
from caas_core.auditlog.checkpoint import (
    BadSignatureError,
    Checkpoint,
    CheckpointError,
    VerifierKey,
    open_checkpoint,
    origin_for,
)
from caas_core.auditlog.entry import GENESIS, Entry
from caas_core.auditlog.export import ENTRY_PREFIX, PREV_AT
from caas_core.auditlog.merkle import EMPTY_ROOT, Frontier, verify_inclusion

_UNREADABLE = (ValueError, TypeError, KeyError)
BATCH = 1024
PROGRESS_EVERY = 16384


class Kind(StrEnum):
    """Why verification failed."""

    MALFORMED = "malformed"
    MODIFIED = "modified"
    DELETED = "deleted"
    REORDERED = "reordered"
    INSERTED = "inserted"
    BROKEN_LINK = "broken-link"
    WRONG_LOG = "wrong-log"
    BAD_SIGNATURE = "bad-signature"
    ROOT_MISMATCH = "root-mismatch"
    INCONSISTENT = "inconsistent-checkpoints"
    BAD_PRUNED = "bad-pruned"
    UNSIGNED_TAIL = "unsigned-tail"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """The first problem: its kind, the export line (1-based) and entry seq it is at, and why."""

    kind: Kind
    line: int
    seq: int | None
    detail: str

    def __str__(self) -> str:
        at = f"line {self.line}" + ("" if self.seq is None else f", seq {self.seq}")
        return f"{self.kind.value} at {at}: {self.detail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """What was verified: the log, its size and root, and the first problem if any."""

    problem: Problem | None
    log: str | None
    size: int
    root: bytes
    entries: int
    checkpoints: int

    @property
    def ok(self) -> bool:
        """Whether the whole export verified."""
        return self.problem is None


class _FailedError(Exception):
    def __init__(self, kind: Kind, line: int, seq: int | None, detail: str) -> None:
        super().__init__(detail)
        self.problem = Problem(kind=kind, line=line, seq=seq, detail=detail)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _json(line: bytes) -> Any:
    return json.loads(line, object_pairs_hook=_no_duplicates)


def _parse_entry(line: bytes) -> tuple[str, Entry]:
    """(stored hash, entry) of an entry line; ValueError when it is not one."""
    record = _json(line)
    if not isinstance(record, dict) or set(record) != {"type", "hash", "entry"}:
        raise ValueError("an entry line has type, hash and entry")
    if not isinstance(record["hash"], str):
        raise TypeError("hash is a hex string")
    return record["hash"], Entry._from_json(record["entry"])


def verify_export(
    *,
    lines: Iterable[bytes],
    key: VerifierKey,
    log: str | None = None,
    trusted: Sequence[Checkpoint] = (),
    strict: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Verify an NDJSON export (export.py) line by line; `progress(lines, bytes)` is called now
    and then. `strict=False` checks runs of well-formed entries on the fast path (hashes, links,
    seq and log, without parsing the other fields), about 4x faster; on any doubt it falls back
    to the precise path, so problems are still named the same way."""
    state = _Verifier(key=key, log=log, trusted=trusted, strict=strict, progress=progress)
    return state.run(iter(lines))


class _Verifier:
    def __init__(
        self,
        *,
        key: VerifierKey,
        log: str | None,
        trusted: Sequence[Checkpoint],
        strict: bool,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.key, self.log, self.strict, self.progress = key, log, strict, progress
        self.trusted = {c.size: c.root for c in trusted}
        self.frontier = Frontier()
        self.seq = 0  # the next entry's seq
        self.prev = GENESIS  # the next entry's prev
        self.pending: bytes | None = None  # the last entry's leaf, added once it is not disputed
        self.pending_prev, self.pending_line = "", 0
        self.signed = 0  # size of the last checkpoint
        self.first_unsigned_line = 0
        self.entries = self.checkpoints = self.lineno = self.bytes = self.precise_until = 0
        self.ahead: deque[bytes] = deque()
        self.source: Iterator[bytes] = iter(())

    def run(self, source: Iterator[bytes]) -> Report:
        self.source = source
        problem = None
        try:
            self._loop()
            self._finish()
        except _FailedError as failed:
            problem = failed.problem
        self._flush()
        if self.progress is not None:
            self.progress(self.lineno, self.bytes)
        return Report(
            problem=problem,
            log=self.log,
            size=self.frontier.size,
            root=self.frontier.root(),
            entries=self.entries,
            checkpoints=self.checkpoints,
        )

    def _next(self) -> bytes | None:
        line = self.ahead.popleft() if self.ahead else next(self.source, None)
        if line is not None:
            self.lineno += 1
            self.bytes += len(line)
            if self.progress is not None and self.lineno % PROGRESS_EVERY == 0:
                self.progress(self.lineno, self.bytes)
        return line

    def _peek(self, k: int) -> bytes | None:
        while len(self.ahead) < k:
            line = next(self.source, None)
            if line is None:
                return None
            self.ahead.append(line)
        return self.ahead[k - 1]

    def _loop(self) -> None:
        while True:
            fast = not self.strict and self.log is not None and self.lineno >= self.precise_until
            if fast and self._fast_batch():
                continue
            line = self._next()
            if line is None:
                return
            if line.startswith(ENTRY_PREFIX):
                self._entry(line)
                continue
            try:
                record = _json(line)
                kind = record["type"] if isinstance(record, dict) else None
            except (ValueError, KeyError):
                kind = None
            if kind == "checkpoint":
                self._checkpoint(record, self.lineno)
            elif kind == "pruned":
                self._pruned(record, self.lineno)
            elif kind == "entry":
                self._entry(line)
            elif line.strip():
                raise _FailedError(Kind.MALFORMED, self.lineno, None, "not an export record")

    def _fast_batch(self) -> bool:
        batch: list[bytes] = []
        while len(batch) < BATCH:
            line = self._peek(len(batch) + 1)
            if line is None or not line.startswith(ENTRY_PREFIX):
                break
            batch.append(line)
        stop = min((s for s in self.trusted if s > self.frontier.size), default=None)
        if stop is not None:  # trusted sizes are checked on the precise path, in _flush
            batch = batch[: stop - self.seq]
        if len(batch) < 2:
            return False
        template = fastpath.seq_template(self.log or "")
        leaves = fastpath.check_entries(
            batch, seq=self.seq, prev=self.prev.encode(), template=template
        )
        if leaves is None:
            self.precise_until = self.lineno + len(batch)
            return False
        for _ in batch:
            self._next()
        if self.seq <= self.signed < self.seq + len(batch):
            self.first_unsigned_line = self.lineno - len(batch) + 1 + self.signed - self.seq
        self._extend([self.pending, *leaves[:-1]] if self.pending else leaves[:-1])
        self.pending = leaves[-1]
        self.pending_prev = batch[-1][PREV_AT : PREV_AT + 64].decode()
        self.pending_line = self.lineno
        self.seq += len(batch)
        self.prev = self.pending.hex()
        self.entries += len(batch)
        return True

    def _extend(self, leaves: Sequence[bytes]) -> None:
        self.frontier.extend(leaves)

    def _flush(self) -> None:
        if self.pending is not None:
            self.frontier.append(self.pending)
            self.pending = None
            root = self.trusted.get(self.frontier.size)
            if root is not None and root != self.frontier.root():
                raise _FailedError(
                    Kind.INCONSISTENT,
                    self.pending_line,
                    self.frontier.size - 1,
                    f"the log up to seq {self.frontier.size - 1} differs from a trusted "
                    "checkpoint of that size: history was rewritten",
                )

    def _entry(self, line: bytes) -> None:
        lineno = self.lineno
        try:
            stored, entry = _parse_entry(line)
            computed = entry.hash_hex()
        except _UNREADABLE as exc:
            raise _FailedError(
                Kind.MALFORMED, lineno, self.seq, f"unreadable entry: {exc}"
            ) from exc
        if stored != computed:
            raise _FailedError(
                Kind.MODIFIED, lineno, entry.seq, "the entry's content does not match its hash"
            )
        if self.log is None:
            self.log = entry.log
        if entry.log != self.log:
            raise _FailedError(Kind.WRONG_LOG, lineno, entry.seq, f"entry of log {entry.log!r}")
        if entry.seq > self.seq:
            self._gap(entry.seq, lineno)
        if entry.seq < self.seq:
            self._duplicate(entry, computed, lineno)
        if entry.prev != self.prev:
            nxt = self._peek(1)
            if nxt is not None and self._claims(nxt, seq=entry.seq, prev=self.prev):
                raise _FailedError(
                    Kind.INSERTED, lineno, entry.seq, "an extra entry: the next is seq's"
                )
            raise _FailedError(
                Kind.BROKEN_LINK,
                lineno,
                entry.seq,
                f"prev is not the hash of entry {entry.seq - 1}: one of the two was rewritten",
            )
        self._flush()
        if entry.seq == self.signed:
            self.first_unsigned_line = lineno
        self.pending, self.pending_prev, self.pending_line = (
            bytes.fromhex(computed),
            entry.prev,
            lineno,
        )
        self.seq, self.prev = entry.seq + 1, computed
        self.entries += 1

    def _claims(self, line: bytes, *, seq: int, prev: str) -> bool:
        try:
            _, entry = _parse_entry(line)
        except _UNREADABLE:
            return False
        return entry.seq == seq and entry.prev == prev

    def _read_on(self, *seqs: int) -> set[int]:
        """Which of `seqs` come later (failure path: reads on, in constant memory)."""
        found: set[int] = set()
        for line in itertools.chain(self.ahead, self.source):
            later = self._seq_of(line)
            if later in seqs:
                found.add(later)
        return found

    def _gap(self, seq: int, lineno: int) -> None:
        missing = self.seq
        found = self._read_on(missing, seq)
        if seq in found:
            raise _FailedError(
                Kind.INSERTED, lineno, seq, f"a copy of seq {seq}, which comes later"
            )
        if missing in found:
            raise _FailedError(
                Kind.REORDERED, lineno, seq, f"seq {missing} comes later, after seq {seq}"
            )
        last = f"s {missing}..{seq - 1} are" if seq - 1 > missing else f" {missing} is"
        raise _FailedError(Kind.DELETED, lineno, missing, f"entry{last} missing before seq {seq}")

    @staticmethod
    def _seq_of(line: bytes) -> int | None:
        try:
            _, later = _parse_entry(line)
        except _UNREADABLE:
            return None
        return later.seq

    def _duplicate(self, entry: Entry, computed: str, lineno: int) -> None:
        if (
            self.pending is not None
            and entry.seq == self.seq - 1
            and entry.prev == self.pending_prev
        ):
            # Two intact entries claim the same place: the genuine one is the one the log goes on
            # from (the next entry's prev), or, at the end, the one the next checkpoint signs.
            nxt = self._peek(1)
            extra_is_earlier = False
            if bytes.fromhex(computed) == self.pending:  # the same entry twice: the copy is extra
                nxt = None
            if nxt is not None and nxt.startswith(ENTRY_PREFIX):
                extra_is_earlier = self._claims(nxt, seq=entry.seq + 1, prev=computed)
            elif nxt is not None:
                extra_is_earlier = self._signs_with(nxt, bytes.fromhex(computed))
            if extra_is_earlier:
                raise _FailedError(
                    Kind.INSERTED,
                    self.pending_line,
                    entry.seq,
                    "an extra entry: the log goes "
                    f"on from the next line's entry with seq {entry.seq}",
                )
        raise _FailedError(Kind.INSERTED, lineno, entry.seq, f"seq {entry.seq} is already taken")

    def _signs_with(self, line: bytes, leaf: bytes) -> bool:
        try:
            checkpoint = open_checkpoint(note=_json(line)["note"], key=self.key)
        except (ValueError, KeyError, TypeError):
            return False
        frontier = self.frontier.copy()
        frontier.append(leaf)
        return checkpoint.size == frontier.size and checkpoint.root == frontier.root()

    def _open(self, note: Any, lineno: int) -> Checkpoint:
        if not isinstance(note, str):
            raise _FailedError(Kind.MALFORMED, lineno, None, "a checkpoint's note is a string")
        try:
            checkpoint = open_checkpoint(note=note, key=self.key)
        except BadSignatureError as exc:
            raise _FailedError(Kind.BAD_SIGNATURE, lineno, None, str(exc)) from exc
        except CheckpointError as exc:
            raise _FailedError(Kind.BAD_SIGNATURE, lineno, None, f"unverifiable: {exc}") from exc
        prefix = self.key.name + "/"
        if self.log is None and checkpoint.origin.startswith(prefix):
            self.log = checkpoint.origin.removeprefix(prefix)
        if self.log is None or checkpoint.origin != origin_for(
            key_name=self.key.name, log=self.log
        ):
            raise _FailedError(Kind.WRONG_LOG, lineno, None, f"checkpoint of {checkpoint.origin!r}")
        return checkpoint

    def _checkpoint(self, record: dict[str, Any], lineno: int) -> None:
        checkpoint = self._open(record.get("note"), lineno)
        self._flush()
        size, have = checkpoint.size, self.frontier.size
        if size > have and self._read_on(have):
            raise _FailedError(
                Kind.REORDERED, lineno, have, f"seq {have} comes after the checkpoint that signs it"
            )
        if size > have:
            raise _FailedError(
                Kind.DELETED,
                lineno,
                have,
                f"the checkpoint signs {size} entries, {have} precede it",
            )
        if size < self.signed:
            raise _FailedError(
                Kind.INCONSISTENT, lineno, None, f"checkpoint of size {size} after {self.signed}"
            )
        if size < have:
            line = self.first_unsigned_line + (size - self.signed)
            raise _FailedError(
                Kind.INSERTED, line, size, f"the checkpoint at line {lineno} signs {size}"
            )
        if checkpoint.root != self.frontier.root():
            raise _FailedError(
                Kind.ROOT_MISMATCH,
                lineno,
                None,
                f"the {size} entries do not hash to the signed root: entries were rewritten",
            )
        self.signed = size
        self.checkpoints += 1

    def _pruned(self, record: dict[str, Any], lineno: int) -> None:
        if lineno != 1:
            raise _FailedError(
                Kind.BAD_PRUNED, lineno, None, "a pruned record is the first line only"
            )
        checkpoint = self._open(record.get("checkpoint"), lineno)
        try:
            size, last = record["size"], bytes.fromhex(record["last"])
            frontier = Frontier(size=size, hashes=[bytes.fromhex(h) for h in record["frontier"]])
            proof = [bytes.fromhex(h) for h in record["lastProof"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise _FailedError(Kind.BAD_PRUNED, lineno, None, f"unreadable: {exc}") from exc
        if (
            checkpoint.size != size
            or frontier.root() != checkpoint.root
            or not verify_inclusion(
                leaf=last, index=size - 1, size=size, proof=proof, root=checkpoint.root
            )
        ):
            raise _FailedError(
                Kind.BAD_PRUNED, lineno, None, "does not match its signed checkpoint"
            )
        self.frontier, self.seq, self.prev, self.signed = frontier, size, last.hex(), size
        self.checkpoints += 1

    def _finish(self) -> None:
        self._flush()
        size = self.frontier.size
        if size > self.signed:
            raise _FailedError(
                Kind.UNSIGNED_TAIL,
                self.first_unsigned_line,
                self.signed,
                f"entries {self.signed}..{size - 1} are not covered by a checkpoint",
            )
        beyond = [s for s in self.trusted if s > size]
        if beyond:
            raise _FailedError(
                Kind.DELETED, self.lineno, size, f"a trusted checkpoint has {max(beyond)} entries"
            )
        if size == 0 and self.checkpoints == 0:
            raise _FailedError(Kind.MALFORMED, self.lineno, None, "no entries and no checkpoint")


__all__ = ["EMPTY_ROOT", "Kind", "Problem", "Report", "verify_export"]
