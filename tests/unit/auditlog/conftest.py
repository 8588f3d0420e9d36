"""Shared audit logs for the tests: built once, since signing and hashing are the slow part."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from caas_core.auditlog.checkpoint import CheckpointSigner
from caas_core.auditlog.entry import Entry, chain, commit_personal_data

SIGNER = CheckpointSigner(name="audit.caas.test", seed=bytes(range(32)))
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def events(n: int, *, offset: int = 0) -> list[dict[str, object]]:
    """n varied events (unicode, nulls, personal-data commitments)."""
    return [_event(i) for i in range(offset, offset + n)]


def _event(i: int) -> dict[str, object]:
    return {
        "id": f"evt-{i:04d}",
        "at": START + timedelta(seconds=i, microseconds=i * 7),
        "action": ["auth.token.issued", "auth.login", "apikey.revoked"][i % 3],
        "outcome": ["success", "failure", "error"][i % 3],
        "actor_type": "user" if i % 4 else "system",
        "actor_id": None if i % 4 == 0 else f"usr-{i % 5}-é",
        "target_type": None if i % 6 == 0 else "api_key",
        "target_id": None if i % 6 == 0 else f'key "{i}" ✓',
        "pd": None
        if i % 2
        else commit_personal_data(payload={"ip": f"10.0.0.{i % 250}"}, salt=bytes(32)),
    }


def entries(n: int, *, log: str = "tenant:acme") -> list[Entry]:
    """A log of n entries."""
    return chain(log=log, events=events(n))
