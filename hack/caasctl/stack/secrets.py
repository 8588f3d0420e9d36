"""Secrets the stack generates once and keeps (owner-only) in its home: server passwords, the
development API key."""

from __future__ import annotations

import secrets

from caasctl.stack import probes
from caasctl.stack.config import StackConfig


def generated_secret(conf: StackConfig, name: str, *, nbytes: int = 24) -> str:
    """A random secret made on first use and kept (owner-only) in the stack home."""
    path = conf.home / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(nbytes))
    return probes.read_secret(path)
