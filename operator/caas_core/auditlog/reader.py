"""Reading an export: a line buffer with look-ahead, and strict parsing of single records.

The buffer is a list and a position, so the fast path takes a batch with one slice and the
precise path peeks a few lines ahead; both in constant memory (a batch at most).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any, Final

from caas_core.auditlog.entry import Entry

UNREADABLE: Final = (ValueError, TypeError, KeyError, AttributeError)
PROGRESS_EVERY: Final = 16384


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")  # two readers could see two different records
    return result


def parse_json(line: bytes) -> Any:
    """One record, refusing duplicate keys."""
    return json.loads(line, object_pairs_hook=_no_duplicates)


def parse_entry(line: bytes) -> tuple[str, Entry]:
    """(stored hash, entry) of an entry line; one of UNREADABLE when it is not one."""
    record = parse_json(line)
    if not isinstance(record, dict) or list(record) != ["type", "hash", "entry"]:
        raise ValueError("an entry line is type, hash, entry")
    if not isinstance(record["hash"], str):
        raise TypeError("hash is a hex string")
    return record["hash"], Entry._from_json(record["entry"])


def seq_of(line: bytes) -> int | None:
    """The seq of an entry line, None for anything else."""
    try:
        return parse_entry(line)[1].seq
    except UNREADABLE:
        return None


class LineReader:
    """Lines of the export with their 1-based numbers, byte count and progress reports."""

    def __init__(
        self, *, source: Iterator[bytes], progress: Callable[[int, int], None] | None
    ) -> None:
        self._source, self._progress = source, progress
        self._buffer: list[bytes] = []
        self._at = 0
        self.lineno = self.bytes = 0
        self._report_at = PROGRESS_EVERY

    def _fill(self, count: int) -> None:
        if len(self._buffer) - self._at < count:
            self._buffer = self._buffer[self._at :]
            self._at = 0
            self._buffer.extend(itertools.islice(self._source, count - len(self._buffer)))

    def peek(self, k: int = 1) -> bytes | None:
        """The k-th line ahead, without reading it."""
        self._fill(k)
        at = self._at + k - 1
        return self._buffer[at] if at < len(self._buffer) else None

    def ahead(self, count: int) -> list[bytes]:
        """Up to `count` lines ahead (fewer at the end), without reading them."""
        self._fill(count)
        return self._buffer[self._at : self._at + count]

    def take(self, lines: list[bytes]) -> None:
        """Mark lines returned by `ahead` as read."""
        self._at += len(lines)
        self._count(len(lines), sum(map(len, lines)))

    def next(self) -> bytes | None:
        """Read one line."""
        line = self.peek()
        if line is not None:
            self._at += 1
            self._count(1, len(line))
        return line

    def rest(self) -> Iterator[bytes]:
        """Everything not read yet (the failure path reads on to tell a move from a loss)."""
        return itertools.chain(self._buffer[self._at :], self._source)

    def _count(self, lines: int, size: int) -> None:
        self.lineno += lines
        self.bytes += size
        if self._progress is not None and self.lineno >= self._report_at:
            self._report_at = self.lineno + PROGRESS_EVERY
            self._progress(self.lineno, self.bytes)

    def done(self) -> None:
        """The final progress report."""
        if self._progress is not None:
            self._progress(self.lineno, self.bytes)
