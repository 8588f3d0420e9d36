"""The verifier's progress per log, persisted in `caas_platform.audit_verified`: a restart
resumes from the last verified entry of each log instead of from 0.

One document per log (`_id` the log): size, frontier, last hash, the size last signed or
checked, and the problems raised (so that a restart does not raise them again). Saves never move
a log backwards: of two verifiers (a rollout, or two replicas), the one further along wins.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from caas_control_plane.audit_verifier.core import Inconsistency, LogState, Problem

COLLECTION: Final = "audit_verified"

Document = dict[str, Any]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _problem_doc(problem: Problem | None) -> Document | None:
    if problem is None:
        return None
    return {"seq": problem.seq, "kind": problem.kind.value, "detail": problem.detail}


def _problem(log: str, doc: Mapping[str, Any] | None) -> Problem | None:
    if not doc:
        return None
    seq = doc.get("seq")
    return Problem(
        log=log,
        seq=None if seq is None else int(seq),
        kind=Inconsistency(doc["kind"]),
        detail=str(doc.get("detail", "")),
    )


def to_document(state: LogState, *, now: datetime) -> Document:
    """The stored form of a state (without its `_id`)."""
    return {
        "size": state.size,
        "frontier": [Binary(h) for h in state.frontier],
        "last": state.last,
        "signed": state.signed,
        "problem": _problem_doc(state.problem),
        "flagged": _problem_doc(state.flagged),
        "updatedAt": now,
    }


def from_document(doc: Mapping[str, Any]) -> LogState:
    """A stored state."""
    log = str(doc["_id"])
    return LogState(
        log=log,
        size=int(doc["size"]),
        frontier=tuple(bytes(h) for h in doc["frontier"]),
        last=str(doc["last"]),
        signed=int(doc.get("signed", 0)),
        problem=_problem(log, doc.get("problem")),
        flagged=_problem(log, doc.get("flagged")),
    )


class VerifiedStates:
    """Loads and saves the verified state of every log."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        collection: str = COLLECTION,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._states: AsyncCollection[Document] = database[collection]
        self._clock = clock

    async def load(self) -> dict[str, LogState]:
        """Every log's stored state."""
        return {str(doc["_id"]): from_document(doc) async for doc in self._states.find({})}

    async def save(self, state: LogState) -> None:
        """Store a state unless a verifier further along stored one already."""
        # Upsert guarded by size: a stored state further along does not match, the upsert then
        # collides with it on _id, and that duplicate key is the "further along" answer.
        with contextlib.suppress(DuplicateKeyError):
            await self._states.update_one(
                {"_id": state.log, "size": {"$lte": state.size}},
                {"$set": to_document(state, now=self._clock())},
                upsert=True,
            )
