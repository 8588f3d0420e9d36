"""Verify an export with the public key only, and name the first problem and why.

Streaming: memory is the O(log n) frontier and one batch of lines, whatever the log's size.
For each entry line: its stored hash must be the hash of its content (else the entry was
MODIFIED), its seq the next one (a jump is a DELETED entry, or REORDERED when the missing one
comes later; a seq already used is an INSERTED entry), its prev the previous entry's hash
(BROKEN_LINK). Each checkpoint must be signed by the key (BAD_SIGNATURE), stand at its size
(before it: entries DELETED; after: INSERTED) and sign the root recomputed from the entries
(ROOT_MISMATCH); checkpoints the caller trusts must agree with the export (INCONSISTENT). The
export must end signed (UNSIGNED_TAIL), else its last entries could be cut unseen.

Runs of entries go through fastpath.py in batches; a batch it is not sure of is read again here
entry by entry, which names the problem. When an entry that is intact by itself takes another's
place (same seq, same prev), a look-ahead decides which is extra: the next entry links to the
genuine one, or, at the end, the next checkpoint's root includes it. The last entry's leaf waits
(`pending`) until that cannot happen, so the frontier never holds a disputed leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from caas_core.auditlog import fastpath
from caas_core.auditlog.anchors import open_pruned, open_signed
from caas_core.auditlog.checkpoint import Checkpoint, VerifierKey
from caas_core.auditlog.entry import GENESIS, Entry
from caas_core.auditlog.export import ENTRY_PREFIX, PREV_AT
from caas_core.auditlog.merkle import Frontier
from caas_core.auditlog.problems import FailedError, Kind, Problem, Report
from caas_core.auditlog.reader import UNREADABLE, LineReader, parse_entry, parse_json, seq_of

BATCH = 2048

__all__ = ["Kind", "Problem", "Report", "verify_export"]


def verify_export(
    *,
    lines: Iterable[bytes],
    key: VerifierKey,
    log: str | None = None,
    trusted: Sequence[Checkpoint] = (),
    strict: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Verify an NDJSON export (export.py); `progress(lines, bytes)` is called now and then.

    `strict` (the default) also checks that every entry is a well-formed version 1 entry;
    `strict=False` checks hashes, links, seq and log only (an entry's other fields are still
    covered by its hash, so any change to them is caught; what is skipped is checking that
    what the platform signed is well-formed)."""
    verifier = _Verifier(key=key, log=log, trusted=trusted, strict=strict)
    return verifier.run(LineReader(source=iter(lines), progress=progress))


class _Verifier:
    def __init__(
        self, *, key: VerifierKey, log: str | None, trusted: Sequence[Checkpoint], strict: bool
    ) -> None:
        self.key, self.log, self.strict = key, log, strict
        self.trusted = {c.size: c.root for c in trusted}
        self.frontier = Frontier()
        self.seq, self.prev = 0, GENESIS  # what the next entry must have
        self.pending: bytes | None = None  # the last entry's leaf, not yet in the frontier
        self.pending_prev, self.pending_line = "", 0
        self.signed = 0  # size of the last checkpoint
        self.first_unsigned_line = 0  # line of entry seq == signed
        self.entries = self.checkpoints = self.precise_until = 0
        self.reach = BATCH  # lines to look ahead for the next run of entries
        self.lines = LineReader(source=iter(()), progress=None)

    def run(self, lines: LineReader) -> Report:
        self.lines = lines
        problem = None
        try:
            self._loop()
            self._finish()
        except FailedError as failed:
            problem = failed.problem
        lines.done()
        frontier = self.frontier.copy()
        if self.pending is not None:
            frontier.append(self.pending)
        return Report(
            problem=problem,
            log=self.log,
            size=frontier.size,
            root=frontier.root(),
            entries=self.entries,
            checkpoints=self.checkpoints,
        )

    def _loop(self) -> None:
        lines = self.lines
        while True:
            if self.log is not None and lines.lineno >= self.precise_until and self._batch():
                continue
            line = lines.next()
            if line is None:
                return
            if line.startswith(ENTRY_PREFIX):
                self._entry(line)
                continue
            try:
                record = parse_json(line)
                kind = record.get("type") if isinstance(record, dict) else None
            except ValueError:
                kind = None
            if kind == "checkpoint":
                self._checkpoint(record)
            elif kind == "pruned":
                pruned = open_pruned(record=record, key=self.key, log=self.log, lineno=lines.lineno)
                self.log, self.frontier, self.prev = pruned.log, pruned.frontier, pruned.last
                self.seq = self.signed = pruned.frontier.size
                self.checkpoints += 1
            elif kind == "entry":
                self._entry(line)
            else:
                raise FailedError(Kind.MALFORMED, lines.lineno, None, "not an export record")

    def _batch(self) -> bool:
        """Verify the run of entry lines ahead on the fast path; False to go entry by entry."""
        ahead = self.lines.ahead(self.reach)
        if not ahead or not ahead[0].startswith(ENTRY_PREFIX):
            return False
        stop = min((s for s in self.trusted if s > self.frontier.size), default=None)
        # Trusted sizes are compared in _flush, on the precise path: a run stops short of them.
        limit = len(ahead) if stop is None else stop - self.seq
        run, checked = fastpath.check_run(
            ahead,
            limit=limit,
            seq=self.seq,
            prev=self.prev.encode(),
            template=fastpath.seq_template(self.log or ""),
            frontier=self.frontier,
            pending=self.pending,
        )
        # Look ahead as far as the last run went (checkpoints come at regular sizes), so that
        # the lines after a checkpoint are not read ahead twice; a run that fills the
        # look-ahead looks further next time.
        self.reach = run + 1 if run < len(ahead) else BATCH
        batch = ahead[: min(run, limit)]
        if len(batch) < 2:
            return False
        if checked is None or (self.strict and not fastpath.well_formed(batch)):
            self.precise_until = self.lines.lineno + len(batch)
            return False
        first = self.lines.lineno + 1
        self.lines.take(batch)
        if self.seq <= self.signed < self.seq + len(batch):
            self.first_unsigned_line = first + self.signed - self.seq
        self.frontier, self.pending = checked
        self.pending_line = self.lines.lineno
        self.pending_prev = batch[-1][PREV_AT : PREV_AT + 64].decode()
        self.seq += len(batch)
        self.prev = self.pending.hex()
        self.entries += len(batch)
        return True

    def _flush(self) -> None:
        if self.pending is None:
            return
        self.frontier.append(self.pending)
        self.pending = None
        size = self.frontier.size
        root = self.trusted.get(size)
        if root is not None and root != self.frontier.root():
            raise FailedError(
                Kind.INCONSISTENT,
                self.pending_line,
                size - 1,
                f"the log up to seq {size - 1} differs from a trusted checkpoint of that size",
            )

    def _entry(self, line: bytes) -> None:
        lineno = self.lines.lineno
        try:
            stored, entry = parse_entry(line)
            computed = entry.hash_hex()
        except UNREADABLE as exc:
            raise FailedError(Kind.MALFORMED, lineno, self.seq, f"not an entry: {exc}") from exc
        if stored != computed:
            raise FailedError(
                Kind.MODIFIED, lineno, entry.seq, "the content does not match its hash"
            )
        self.log = self.log or entry.log
        if entry.log != self.log:
            raise FailedError(Kind.WRONG_LOG, lineno, entry.seq, f"entry of log {entry.log!r}")
        if entry.seq > self.seq:
            self._gap(entry.seq, lineno)
        if entry.seq < self.seq:
            self._duplicate(entry, computed, lineno)
        if entry.prev != self.prev:
            if self._claims(self.lines.peek(), seq=entry.seq, prev=self.prev):
                raise FailedError(Kind.INSERTED, lineno, entry.seq, "the next line has this seq")
            raise FailedError(
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

    @staticmethod
    def _claims(line: bytes | None, *, seq: int, prev: str) -> bool:
        try:
            _, entry = parse_entry(line or b"")
        except UNREADABLE:
            return False
        return entry.seq == seq and entry.prev == prev

    def _read_on(self, *seqs: int) -> set[int]:
        """Which of `seqs` come later (failure path: reads to the end, in constant memory)."""
        return {s for s in map(seq_of, self.lines.rest()) if s in seqs}

    def _gap(self, seq: int, lineno: int) -> None:
        missing = self.seq
        found = self._read_on(missing, seq)
        if seq in found:
            raise FailedError(Kind.INSERTED, lineno, seq, f"a copy of seq {seq}, which comes later")
        if missing in found:
            raise FailedError(Kind.REORDERED, lineno, seq, f"seq {missing} comes later")
        span = f"entries {missing}..{seq - 1} are" if seq - 1 > missing else f"entry {missing} is"
        raise FailedError(Kind.DELETED, lineno, missing, f"{span} missing before seq {seq}")

    def _duplicate(self, entry: Entry, computed: str, lineno: int) -> None:
        leaf = bytes.fromhex(computed)
        same_place = entry.seq == self.seq - 1 and entry.prev == self.pending_prev
        if self.pending is not None and same_place and leaf != self.pending:
            # Two intact entries claim one place: the genuine one is the one the log goes on
            # from (the next entry's prev) or, at the end, the one the next checkpoint signs.
            nxt = self.lines.peek()
            if nxt is not None and nxt.startswith(ENTRY_PREFIX):
                earlier_is_extra = self._claims(nxt, seq=entry.seq + 1, prev=computed)
            else:
                earlier_is_extra = nxt is not None and self._signs_with(nxt, leaf)
            if earlier_is_extra:
                raise FailedError(
                    Kind.INSERTED,
                    self.pending_line,
                    entry.seq,
                    f"the log goes on from line {lineno}'s entry of the same seq",
                )
        raise FailedError(Kind.INSERTED, lineno, entry.seq, f"seq {entry.seq} is already taken")

    def _signs_with(self, line: bytes, leaf: bytes) -> bool:
        try:
            note = parse_json(line)["note"]
            checkpoint, _ = open_signed(note=note, key=self.key, log=self.log, lineno=0)
        except (*UNREADABLE, FailedError):
            return False
        frontier = self.frontier.copy()
        frontier.append(leaf)
        return checkpoint.size == frontier.size and checkpoint.root == frontier.root()

    def _checkpoint(self, record: dict[str, Any]) -> None:
        lineno = self.lines.lineno
        checkpoint, self.log = open_signed(
            note=record.get("note"), key=self.key, log=self.log, lineno=lineno
        )
        self._flush()
        size, have = checkpoint.size, self.frontier.size
        if size > have and self._read_on(have):
            raise FailedError(
                Kind.REORDERED, lineno, have, f"seq {have} comes after its checkpoint"
            )
        if size > have:
            raise FailedError(
                Kind.DELETED, lineno, have, f"signs {size} entries, {have} precede it"
            )
        if size < self.signed:
            raise FailedError(Kind.INCONSISTENT, lineno, None, f"size {size} after {self.signed}")
        if size < have:
            line = self.first_unsigned_line + (size - self.signed)
            raise FailedError(Kind.INSERTED, line, size, f"line {lineno} signs only {size} entries")
        if checkpoint.root != self.frontier.root():
            raise FailedError(
                Kind.ROOT_MISMATCH,
                lineno,
                None,
                f"the {size} entries do not hash to the signed root: entries were rewritten",
            )
        self.signed = size
        self.checkpoints += 1

    def _finish(self) -> None:
        self._flush()
        size, lineno = self.frontier.size, self.lines.lineno
        if size > self.signed:
            raise FailedError(
                Kind.UNSIGNED_TAIL,
                self.first_unsigned_line,
                self.signed,
                f"entries {self.signed}..{size - 1} are not covered by a checkpoint",
            )
        beyond = [s for s in self.trusted if s > size]
        if beyond:
            raise FailedError(Kind.DELETED, lineno, size, f"a trusted checkpoint has {max(beyond)}")
        if size == 0 and self.checkpoints == 0:
            raise FailedError(Kind.MALFORMED, lineno, None, "no entries and no checkpoint")
