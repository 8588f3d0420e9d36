"""Detached server processes tracked by pid files, and loopback port checks."""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    """A server the stack started: its pid file remembers the pid and the executable."""

    name: str
    run_dir: Path

    @property
    def pidfile(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The live pid, or None when not running (stale pid files are ignored, not trusted)."""
        try:
            pid_text, started = self.pidfile.read_text().split()[:2]
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        # The pid may have been reused by an unrelated process since we wrote the file: the
        # kernel's start time of the process tells them apart (argv[0] can be rewritten).
        return pid if _start_time(pid) == started else None

    def start(self, argv: Sequence[str], *, log: Path, env: dict[str, str] | None = None) -> int:
        """Start detached in its own session, output appended to `log`."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as sink:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        self.pidfile.write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
        return proc.pid

    def exited_early(self) -> bool:
        """True when we have a pid file but the process is gone."""
        return self.pidfile.exists() and self.pid() is None

    def stop(self, *, timeout: float = 20.0) -> bool:
        """SIGTERM the process group, SIGKILL after `timeout`; True if something was running."""
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.1)
        if self.pid() is not None:
            _signal_group(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.05)
        self.pidfile.unlink(missing_ok=True)
        return True


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, None for dead or zombie processes."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    state, start_time = fields[0], fields[19]
    return None if state == "Z" else start_time


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on (or holds) host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def port_holder(port: int) -> str:
    """Best-effort description of the process listening on `port`, for error messages."""
    if shutil.which("ss") is None:
        return "unknown process"
    out = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r'users:\(\("([^"]+)",pid=(\d+)', out)
    return f"{match.group(1)} (pid {match.group(2)})" if match else "unknown process"
