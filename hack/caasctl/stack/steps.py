"""Named steps with progress lines and failures that say which step, which command, which log."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

HEARTBEAT_SECONDS = 15.0


class StepError(RuntimeError):
    """A stack step failed; the message names the step, the command and where its log is."""

    def __init__(
        self, step: str, cause: str, *, command: Sequence[str] = (), log: Path | None = None
    ) -> None:
        parts = [f"step '{step}' failed: {cause}"]
        if command:
            parts.append(f"command: {' '.join(command)}")
        if log is not None:
            parts.append(f"log: {log}")
            parts.append(_tail(log))
        super().__init__("\n  ".join(p for p in parts if p))
        self.step = step


def _tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "last lines of the log:\n" + "\n".join(f"    | {line}" for line in text)


def say(message: str) -> None:
    """Print a progress line to stderr (stdout stays clean for `stack env`)."""
    print(message, file=sys.stderr, flush=True)


def elapsed(since: float) -> str:
    """Seconds since `since`, as `1m05s`."""
    seconds = int(time.monotonic() - since)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@contextmanager
def step(name: str) -> Iterator[None]:
    """Announce a step, and its duration when it ends."""
    started = time.monotonic()
    say(f"==> {name}")
    yield
    say(f"    {name}: done in {elapsed(started)}")


def run_logged(
    step_name: str,
    command: Sequence[str],
    *,
    log: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    progress: Callable[[str], str | None] | None = None,
) -> None:
    """Run a long command with its output in `log`, printing a heartbeat until it ends.

    `progress` sees every output line and may return a short status (e.g. `812/2154 packages`)
    that the heartbeat repeats, so a many-minute build says how far along it is.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    status: list[str] = ["started"]
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            say(f"    ... {step_name}: {status[0]} ({elapsed(started)})")

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        with log.open("w") as sink:
            proc = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.write(line)
                if progress is not None and (update := progress(line)) is not None:
                    status[0] = update
            code = proc.wait()
    except OSError as exc:
        raise StepError(step_name, str(exc), command=command, log=log) from exc
    finally:
        done.set()
    if code != 0:
        raise StepError(step_name, f"exit code {code}", command=command, log=log)
