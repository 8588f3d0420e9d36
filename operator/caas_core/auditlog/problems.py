"""What verification reports: the first problem's kind, where it is, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """Why verification failed."""

    MALFORMED = "malformed"  # not an export record, or an entry that is not a v1 entry
    MODIFIED = "modified"  # an entry's content does not match its own hash
    DELETED = "deleted"  # an entry is missing (a seq gap, or fewer entries than signed)
    REORDERED = "reordered"  # the missing entry comes later
    INSERTED = "inserted"  # an entry that is not part of the log (a copy, or a forgery)
    BROKEN_LINK = "broken-link"  # an entry's prev is not its predecessor's hash
    WRONG_LOG = "wrong-log"  # an entry or checkpoint of another log
    BAD_SIGNATURE = "bad-signature"  # a checkpoint not signed by the key, or altered
    ROOT_MISMATCH = "root-mismatch"  # signed, but over other entries than these
    INCONSISTENT = "inconsistent-checkpoints"  # disagrees with a checkpoint seen before
    BAD_PRUNED = "bad-pruned"  # a pruned record that does not match its checkpoint
    UNSIGNED_TAIL = "unsigned-tail"  # entries after the last checkpoint (could be cut unseen)


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
    entries: int  # entry lines verified (a pruned prefix is not counted)
    checkpoints: int

    @property
    def ok(self) -> bool:
        """Whether the whole export verified."""
        return self.problem is None


class FailedError(Exception):
    """Raised inside the verifier at the first problem; verify_export turns it into a Report."""

    def __init__(self, kind: Kind, line: int, seq: int | None, detail: str) -> None:
        super().__init__(detail)
        self.problem = Problem(kind=kind, line=line, seq=seq, detail=detail)
