"""The verifier's shell: read a log from its verified size to its head, check, remember, raise.

Everything that decides is in core.py and witness.py; this module reads MongoDB, keeps one
state per log (in memory and in `audit_verified`), and acts on problems: an error log line, the
`caas_audit_integrity_failures_total{log}` counter, and a `security.audit.integrity` audit event
on the platform's log through the audit writer (an outbox message: it is logged and published on
`platform.audit` like every audit event, and reaches webhook subscribers once webhooks consume
that topic). Each problem is raised once per log, seq and kind (`core.settle`).

Who calls what: the Kafka consumer (`on_messages`) for each batch of `platform.audit` messages,
and `run`, which passes over every log periodically (entries appended while Kafka was down are
verified then, Kafka up or not), signs checkpoints over verified prefixes, verifies every log
again from 0 now and then (an old entry changed later), and settles messages whose entry had not
been appended when they arrived. One lock per log: the two never verify a log at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from caas_control_plane.audit_verifier.core import (
    Inconsistency,
    LogState,
    Problem,
    advance,
    check_checkpoint,
    check_head,
    check_prefix,
    pruned_origin,
    settle,
)
from caas_control_plane.audit_verifier.metrics import VerifierMetrics
from caas_control_plane.audit_verifier.reader import AuditReader, Located
from caas_control_plane.audit_verifier.states import VerifiedStates
from caas_control_plane.audit_verifier.witness import check_witness
from caas_core.adapters.auditlog_store import AuditLogStore
from caas_core.auditlog.append import log_of
from caas_core.auditlog.checkpoint import CheckpointSigner
from caas_core.auditlog.entry import Entry, EntryFormatError
from caas_core.domain.audit import Actor, AuditEvent, AuditWriter, Outcome

logger = logging.getLogger(__name__)

INTEGRITY_ACTION: Final = "security.audit.integrity"
ACTOR_ID: Final = "caas-audit-verifier"
_MAX_PENDING: Final = 100_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """How often the periodic work runs, and how long a message may wait for its entry."""

    scan: float = 15.0  # seconds between passes over every log
    checkpoint: float = 60.0  # seconds between checkpoint rounds
    reverify: float = 3600.0  # seconds between verifications from 0 (0: never)
    append_wait: float = 10.0  # how long a batch waits for the relay to append its entries
    unlogged_after: timedelta = timedelta(minutes=5)  # then a message's entry is missing
    batch: int = 2000  # entries read per query


def integrity_event(problem: Problem, *, at: datetime) -> AuditEvent:
    """The `security.audit.integrity` event of a problem; its id is fixed by log, seq and kind,
    so two verifiers (or a restart) raising the same problem log it once."""
    digest = hashlib.sha256(f"{problem.log}\n{problem.seq}\n{problem.kind}".encode()).hexdigest()
    return AuditEvent(
        id=f"integrity-{digest[:32]}",
        at=at,
        action=INTEGRITY_ACTION,
        outcome=Outcome.FAILURE,
        actor=Actor(type="system", id=ACTOR_ID),
        target_type="audit_log",
        target_id=problem.log,
        details={
            "log": problem.log,
            "seq": problem.seq,
            "kind": problem.kind.value,
            "detail": problem.detail,
        },
    )


class AuditVerifier:
    """Verifies the stored audit logs incrementally and raises their first inconsistency."""

    def __init__(
        self,
        *,
        store: AuditLogStore,
        reader: AuditReader,
        states: VerifiedStates,
        audit: AuditWriter,
        signer: CheckpointSigner,
        metrics: VerifierMetrics,
        timing: Timing = Timing(),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._reader = reader
        self._states_store = states
        self._audit = audit
        self._signer = signer
        self._key = signer.verifier_key
        self.metrics = metrics
        self.timing = timing
        self._clock = clock
        self._states: dict[str, LogState] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Messages whose entry was not appended yet: event id -> (message, first seen).
        self._pending: dict[str, tuple[Mapping[str, Any], datetime]] = {}
        self.last_pass: float | None = None  # monotonic time of the last full pass
        self.last_activity: float | None = None  # ... or of the last progress within a pass

    async def load(self) -> None:
        """Resume from the persisted states (call once, before anything else)."""
        self._states = await self._states_store.load()
        for state in self._states.values():
            self._publish(state)

    def state(self, log: str) -> LogState:
        """What is verified of `log` now."""
        return self._states.get(log) or LogState(log=log)

    # --- verification -----------------------------------------------------------------------

    async def verify(self, log: str) -> LogState:
        """Verify `log` from its verified size to its stored head."""
        async with self._locks[log]:
            return await self._verify_locked(log)

    async def _verify_locked(self, log: str) -> LogState:
        state = self.state(log)
        head = await self._store.head(log)
        problem: Problem | None = None
        origin = await self._origin(log)
        if isinstance(origin, Problem):
            problem = origin
        elif origin is not None and origin.size > state.size:
            # Retention pruned entries this verifier had not reached: their signed checkpoint
            # vouches for them, verification goes on from there.
            state = replace(origin, signed=max(origin.signed, state.signed))
        while True:
            end = min(state.size + self.timing.batch, head.size)
            chunk = await self._reader.entries(log, start=state.size, end=end)
            notes = dict(await self._store.checkpoints(log, start=state.size, end=end))
            if state.size < head.size and not chunk:
                # The head counts entries the log no longer has (its tail was deleted).
                found = Problem(
                    log=log,
                    seq=state.size,
                    kind=Inconsistency.DELETED,
                    detail=f"the head counts {head.size} entries, the log ends at {state.size}",
                )
                problem = problem or found
                break
            before = state.size
            state, found_in_chunk = advance(state, chunk, checkpoints=notes, key=self._key)
            problem = problem or found_in_chunk
            if state.size == before or state.size >= head.size:
                break
            await self._progress(state)
        problem = problem or check_head(state, head)
        self.metrics.lag.labels(log).set(max(head.size - state.size, 0))
        return await self._settle(state, problem)

    async def _progress(self, state: LogState) -> None:
        """Store the progress of a long verification (millions of entries after a first start
        take minutes): a restart meanwhile resumes there, and /healthz sees the verifier work."""
        await self._states_store.save(state)
        self._states[state.log] = state
        self._publish(state)
        self.last_activity = time.monotonic()

    async def _settle(
        self, state: LogState, problem: Problem | None, *, recurs: bool = True
    ) -> LogState:
        """Remember the state and raise the problem if it is new; persisted before returning."""
        settled, raised = settle(state, problem, recurs=recurs)
        if raised is not None:
            # Raised before the state is saved: if the event cannot be stored, the next pass
            # finds the problem again and retries.
            await self._raise(raised)
        if settled != self._states.get(state.log):
            await self._states_store.save(settled)
            self._states[state.log] = settled
        self._publish(settled)
        return settled

    async def _raise(self, problem: Problem) -> None:
        logger.error(
            "audit log inconsistent",
            extra={
                "log": problem.log,
                "seq": problem.seq,
                "kind": problem.kind.value,
                "detail": problem.detail,
            },
        )
        await self._audit.emit(integrity_event(problem, at=self._clock()))
        self.metrics.failures.labels(problem.log).inc()

    def _publish(self, state: LogState) -> None:
        self.metrics.verified.labels(state.log).set(state.size)
        self.metrics.open_problems.labels(state.log).set(0 if state.consistent else 1)

    # --- Kafka: the second witness ----------------------------------------------------------

    async def on_messages(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Check a batch of `platform.audit` messages against their entries, then verify their
        logs to the head. Returns once done (the consumer commits the offsets only then)."""
        by_id = {str(m["id"]): m for m in messages if isinstance(m.get("id"), str)}
        located = await self._wait_for_entries(list(by_id))
        logs: set[str] = set()
        for event_id, message in by_id.items():
            where = located.get(event_id)
            if where is None:
                if len(self._pending) < _MAX_PENDING:
                    self._pending.setdefault(event_id, (message, self._clock()))
                continue
            logs.add(where.log)
            await self._witness(message, where)
        for log in sorted(logs):
            await self.verify(log)

    async def _wait_for_entries(self, event_ids: list[str]) -> dict[str, Located]:
        """The relay publishes and appends at the same time: an entry may lag its message."""
        found: dict[str, Located] = {}
        deadline = time.monotonic() + self.timing.append_wait
        delay = 0.05
        while True:
            missing = [i for i in event_ids if i not in found]
            if missing:
                found.update(await self._reader.locate(missing))
            if len(found) == len(event_ids) or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _witness(self, message: Mapping[str, Any], where: Located) -> None:
        try:
            entry = Entry.decode(where.entry.raw)
        except EntryFormatError:
            return  # verifying the log names this entry MALFORMED, at its seq
        self.metrics.witnessed.labels(where.log).inc()
        problem = check_witness(message, entry)
        if problem is not None:
            async with self._locks[where.log]:
                await self._settle(self.state(where.log), replace(problem, log=where.log))

    async def settle_pending(self) -> None:
        """Messages whose entry was not there: check those logged since; raise those that are
        still missing after `unlogged_after` (appended by no relay: the event was lost)."""
        if not self._pending:
            return
        located = await self._reader.locate(list(self._pending))
        now = self._clock()
        for event_id, (message, seen) in list(self._pending.items()):
            where = located.get(event_id)
            if where is not None:
                del self._pending[event_id]
                await self._witness(message, where)
            elif now - seen >= self.timing.unlogged_after:
                del self._pending[event_id]
                tenant = message.get("tenant")
                log = log_of(None if tenant is None else str(tenant))
                problem = Problem(
                    log=log,
                    seq=None,
                    kind=Inconsistency.UNLOGGED,
                    detail=f"event {event_id} was published on platform.audit at "
                    f"{message.get('at')} and is not in the log",
                )
                async with self._locks[log]:
                    await self._settle(self.state(log), problem)

    # --- periodic work ----------------------------------------------------------------------

    async def verify_all(self) -> None:
        """One pass over every stored log (what arrived while Kafka was down included)."""
        for log in await self._store.logs():
            await self.verify(log)
        self.last_pass = self.last_activity = time.monotonic()
        self.metrics.last_pass.set(time.time())

    async def sign_checkpoints(self) -> None:
        """Sign a checkpoint of every log that grew, over its verified prefix only."""
        for log in await self._store.logs():
            async with self._locks[log]:
                state = await self._verify_locked(log)
                if state.consistent and state.size > state.signed:
                    await self._sign(state)

    async def _sign(self, state: LogState) -> None:
        log = state.log
        head = await self._store.head(log)
        if head.size == state.size:
            signed, note = await self._store.checkpoint(log, signer=self._signer)
            if signed.size != state.size:
                return  # appended between the two reads: checked when the prefix reaches it
        else:  # appended since the verification: sign the verified size, not the head
            note = await self._store.sign_at(log, state.size, signer=self._signer)
        problem = check_checkpoint(
            log=log, size=state.size, note=note, key=self._key, root=state.root()
        )
        if problem is None:
            self.metrics.signed.labels(log).inc()
            state = replace(state, signed=state.size)
        await self._settle(state, problem)

    async def _origin(self, log: str) -> LogState | Problem | None:
        """The state a pruned log's record vouches for (None: never pruned)."""
        record = await self._store.pruned(log)
        return pruned_origin(log=log, record=record, key=self._key)

    async def reverify_all(self) -> None:
        """Verify every log again from 0 up to its verified size: an old entry changed in place
        after it was verified, or a prefix rewritten consistently, is found here."""
        for log in await self._store.logs():
            await self.reverify(log)

    async def reverify(self, log: str) -> None:
        """Verify `log` again from 0 to the size verified before, and compare."""
        verified = self.state(log)
        origin = await self._origin(log)
        fresh, problem = LogState(log=log), None
        if isinstance(origin, Problem):
            problem = origin
        elif origin is not None:
            fresh = origin  # a pruned log: from its pruned record, not from entry 0
            if fresh.size > verified.size:
                return
        while fresh.size < verified.size and problem is None:
            end = min(fresh.size + self.timing.batch, verified.size)
            chunk = await self._reader.entries(log, start=fresh.size, end=end)
            before = fresh.size
            fresh, problem = advance(fresh, chunk)
            if problem is None and fresh.size == before:
                problem = Problem(
                    log=log,
                    seq=fresh.size,
                    kind=Inconsistency.DELETED,
                    detail=f"entries from seq {fresh.size} on, verified before, are missing",
                )
        if problem is None:
            problem = check_prefix(verified, fresh)
        if problem is not None:
            async with self._locks[log]:
                # Found from 0, below the verified size: the incremental passes would not find
                # it again, so it stays flagged (recurs=False) until an operator clears it.
                await self._settle(self.state(log), problem, recurs=False)

    async def run(self) -> None:
        """The periodic work, until cancelled; failures (MongoDB away) are logged and retried."""
        loop = asyncio.get_running_loop()
        next_checkpoint = loop.time() + self.timing.checkpoint
        next_reverify = loop.time() + self.timing.reverify
        while True:
            try:
                await self.verify_all()
                await self.settle_pending()
                if loop.time() >= next_checkpoint:
                    next_checkpoint = loop.time() + self.timing.checkpoint
                    await self.sign_checkpoints()
                if self.timing.reverify and loop.time() >= next_reverify:
                    next_reverify = loop.time() + self.timing.reverify
                    await self.reverify_all()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("audit verification pass failed; retrying")
            await asyncio.sleep(self.timing.scan)
