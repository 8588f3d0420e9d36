"""`caasctl audit verify EXPORT.ndjson --key VERIFIER_KEY`: check an audit export offline.

The progress bar is one line rewritten on stderr (percent of bytes, entries/s): no dependency for
a line of text, and stdout stays the verdict alone. Shown only when stderr is a terminal.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from caas_core.auditlog.checkpoint import CheckpointError, VerifierKey
from caas_core.auditlog.verify import verify_export


class _Progress:
    """A single self-rewriting stderr line: bytes read of the total, lines per second."""

    def __init__(self, *, total: int, stream: TextIO) -> None:
        self._total, self._stream, self._start = max(total, 1), stream, time.monotonic()

    def __call__(self, lines: int, done: int) -> None:
        rate = lines / max(time.monotonic() - self._start, 1e-9)
        percent = 100 * done / self._total
        bar = "#" * int(percent // 4)
        self._stream.write(f"\r[{bar:<25}] {percent:5.1f}%  {lines:,} lines  {rate:,.0f}/s")
        self._stream.flush()

    def close(self) -> None:
        self._stream.write("\n")


def verify(*, export: Path, key: str, log: str | None = None, fast: bool = False) -> int:
    """Exit status: 0 when the whole export verifies, 1 with the first problem printed."""
    try:
        verifier_key = VerifierKey.parse(key)
    except CheckpointError as exc:
        print(f"caasctl audit verify: bad --key: {exc}", file=sys.stderr)
        return 2
    progress = _Progress(total=export.stat().st_size, stream=sys.stderr)
    show = sys.stderr.isatty()
    with export.open("rb") as lines:
        report = verify_export(
            lines=lines,
            key=verifier_key,
            log=log,
            strict=not fast,
            progress=progress if show else None,
        )
    if show:
        progress.close()
    if report.problem is not None:
        print(f"INVALID {export}: {report.problem}")
        return 1
    print(
        f"OK {report.log}: {report.size} entries ({report.entries} in the export), "
        f"{report.checkpoints} checkpoints, root {report.root.hex()}"
    )
    return 0
