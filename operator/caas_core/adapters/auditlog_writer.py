"""The audit log's writer: one per process, appending in call order, committing bursts together.

Why one writer per process: the relay of an API instance records several batches at once (its
deliveries overlap), and each batch holds events of many tenants. Appended separately, batches
of the same log from the same process would collide with each other and could commit in either
order, and a transaction per log and batch costs more than the entries it writes. Here every
append queues behind the previous ones (so a process's events keep their order in each chain),
and whatever queued up while a transaction was running goes into the next one: one transaction
per burst, for every log in it (group commit).

The transaction (append.py's plan for each log, then its entries, tile nodes and the head's
compare-and-set):

- fast path, the usual case: the writer knows the heads it left behind, so it plans from them
  and writes at once; a head's compare-and-set (and the unique log+seq and event-id indexes)
  refuse the whole transaction if another instance moved one of the heads or logged one of
  these events;
- slow path, after such a refusal or for a log this writer has not written yet: per log, read
  the head and which events are logged inside the transaction, plan the rest, write; a write
  conflict (two instances at the same moment) is retried with jittered backoff. The loser
  re-plans from the winner's head, so sequence numbers stay gap-free and each log has exactly
  one writer at a time; logs are never locked together (instances append to any logs in
  parallel, and a conflict on one log re-plans that log alone);
- pipelined: while one transaction is in flight, the next burst is planned from the heads it
  will leave (hashing overlaps the database's work); if the transaction fails, that plan is
  dropped and made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from bson import encode
from bson.raw_bson import RawBSONDocument
from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from caas_core.auditlog.append import Appended, Head, log_of, plan_append, tenant_of
from caas_core.auditlog.entry import Entry

MAX_GROUP: Final = 2000  # events per transaction: bounded so one burst cannot stall the log
_PLAN_SLICE: Final = 64  # events planned between two yields to the event loop
_MAX_ATTEMPTS: Final = 64

Document = dict[str, Any]
Event = Mapping[str, Any]
ToDocument = Callable[[Any, str | None], Document]


class HeadMovedError(Exception):
    """Another writer extended the log since this one read its head."""


@dataclass(slots=True)
class _Pending:
    events: Sequence[Event]
    done: asyncio.Future[list[Entry]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    """One log's share of a transaction: the planned append and its entry documents, already
    BSON-encoded while the previous transaction was committing (off the critical path)."""

    appended: Appended
    documents: list[RawBSONDocument]

    def then(self, later: _Plan) -> _Plan:
        """This plan followed by one made from its head."""
        return _Plan(
            Appended(
                head=later.appended.head,
                entries=self.appended.entries + later.appended.entries,
                nodes=self.appended.nodes + later.appended.nodes,
            ),
            self.documents + later.documents,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Collections:
    """Where a log is written."""

    client: AsyncMongoClient[Document]
    entries: AsyncCollection[Document]
    heads: AsyncCollection[Document]
    nodes: AsyncCollection[Document]


def head_fields(head: Head, now: datetime) -> Document:
    """The head document's fields."""
    return {
        "size": head.size,
        "frontier": list(head.frontier),
        "last": head.last,
        "updatedAt": now,
    }


def head_from(doc: Mapping[str, Any] | None, log: str) -> Head:
    """A head document read back (an empty head when the log was never written)."""
    if doc is None:
        return Head(log=log)
    return Head(
        log=log,
        size=int(doc["size"]),
        frontier=tuple(bytes(h) for h in doc["frontier"]),
        last=str(doc["last"]),
    )


def node_id(log: str, level: int, index: int) -> str:
    """A tile node's `_id`."""
    return f"{log}/{level}/{index}"


def _retryable(exc: BaseException) -> bool:
    """Someone else got there first, or the outcome is unknown: re-plan from the stored head
    (the slow path reads which events are logged, so a retry never logs one twice)."""
    if isinstance(exc, HeadMovedError | DuplicateKeyError | ConnectionFailure):
        return True
    return isinstance(exc, PyMongoError) and (
        exc.has_error_label("TransientTransactionError")
        or exc.has_error_label("UnknownTransactionCommitResult")
    )


class AuditLogWriter:
    """The writer of every log in this process."""

    def __init__(
        self, *, where: Collections, to_document: ToDocument, clock: Callable[[], datetime]
    ) -> None:
        self._where = where
        self._to_document = to_document
        self._clock = clock
        self._queue: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None
        self._heads: dict[str, Head] = {}  # heads this writer left, while nobody moved them
        self._arrived = asyncio.Event()  # set by append: the pipelined planner has work
        self.retries = 0

    async def append(self, events: Sequence[Event]) -> list[Entry]:
        """Append events after everything queued before them; the entries that are new."""
        pending = _Pending(events)
        self._queue.append(pending)
        self._arrived.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return await pending.done

    def _take(self, room: int = MAX_GROUP) -> list[_Pending]:
        group: list[_Pending] = []
        count = 0
        while self._queue and (not group or count + len(self._queue[0].events) <= room):
            pending = self._queue.pop(0)
            group.append(pending)
            count += len(pending.events)
        return group

    async def _run(self) -> None:
        group = self._take()
        plans = await self._plan(group, self._heads)
        while group:
            write = asyncio.get_running_loop().create_task(self._write_fast(plans))
            following, planned = await self._plan_while(write, plans)
            ahead: dict[str, _Plan | None] | None = planned
            appended: list[Appended] = []
            try:
                appended = await write
            except asyncio.CancelledError:
                write.cancel()
                _fail(group + following, asyncio.CancelledError())
                raise
            except Exception as exc:
                for log in plans:
                    self._heads.pop(log, None)
                ahead = None  # planned from heads the logs may not have
                if isinstance(exc, PyMongoError | HeadMovedError):
                    self.retries += 1
                    plans = dict.fromkeys(plans)  # every log of the group: the slow path
                else:
                    _fail(group, exc)
                    plans = {}
            slow = [log for log, plan in plans.items() if plan is None]
            if slow:
                appended += await self._write_slow_logs(group, slow)
            _resolve(group, appended)  # the callers not failed above
            group = [pending for pending in following if not pending.done.done()]
            plans = ahead if ahead is not None else await self._plan(group, self._heads)

    async def _plan_while(
        self, write: asyncio.Task[list[Appended]], plans: Mapping[str, _Plan | None]
    ) -> tuple[list[_Pending], dict[str, _Plan | None]]:
        """While `write` is in flight, take what queues up and plan it from the heads the write
        will leave (the next transaction's work, done while the database does this one's)."""
        after = {**self._heads, **{log: p.appended.head for log, p in plans.items() if p}}
        following: list[_Pending] = []
        ahead: dict[str, _Plan | None] = {}
        room = MAX_GROUP
        while not write.done():
            fresh = self._take(room) if room > 0 else []
            if not fresh:
                self._arrived.clear()
                arrival = asyncio.ensure_future(self._arrived.wait())
                await asyncio.wait({write, arrival}, return_when=asyncio.FIRST_COMPLETED)
                arrival.cancel()
                continue
            following += fresh
            room -= sum(len(p.events) for p in fresh)
            for log, plan in (await self._plan(fresh, after, yielding=True)).items():
                if log not in ahead:
                    ahead[log] = plan
                else:
                    earlier = ahead[log]  # a log without a known head stays on the slow path
                    ahead[log] = None if earlier is None or plan is None else earlier.then(plan)
                if plan is not None:
                    after[log] = plan.appended.head
        return following, ahead

    async def _plan(
        self, group: list[_Pending], heads: Mapping[str, Head], *, yielding: bool = False
    ) -> dict[str, _Plan | None]:
        """Each log of the group planned from its known head (None: the slow path reads it).
        Events that cannot become entries fail their callers only; the logs go on.

        `yielding`: plan in slices, handing the event loop back between them, so that the
        transaction in flight gets its commands sent and the database works meanwhile (hashing
        a burst takes milliseconds of CPU; without the yields it would run before the write
        even reached the socket)."""
        plans: dict[str, _Plan | None] = {}
        for log, events in _by_log(group).items():
            head = heads.get(log)
            if head is None:
                plans[log] = None
                continue
            try:
                parts: list[_Plan] = []
                for first in range(0, len(events), _PLAN_SLICE):
                    parts.append(
                        self._prepare(plan_append(head, events[first : first + _PLAN_SLICE]))
                    )
                    head = parts[-1].appended.head
                    if yielding:
                        await asyncio.sleep(0)
            except (ValueError, TypeError, KeyError) as exc:
                _fail(
                    [p for p in group if any(log_of(e.get("tenant")) == log for e in p.events)], exc
                )
                continue
            plan = parts[0]
            for part in parts[1:]:
                plan = plan.then(part)
            plans[log] = plan
        return plans

    def _prepare(self, appended: Appended) -> _Plan:
        tenant = tenant_of(appended.head.log)
        return _Plan(
            appended,
            [RawBSONDocument(encode(self._to_document(r, tenant))) for r in appended.entries],
        )

    async def _write_fast(self, plans: Mapping[str, _Plan | None]) -> list[Appended]:
        known = [plan for plan in plans.values() if plan is not None]
        if not known:
            return []
        async with (
            self._where.client.start_session() as session,
            await session.start_transaction(),
        ):
            await self._write(known, expected=self._heads, session=session)
        for plan in known:
            self._heads[plan.appended.head.log] = plan.appended.head
        return [plan.appended for plan in known]

    async def _write_slow_logs(self, group: list[_Pending], logs: list[str]) -> list[Appended]:
        by_log = _by_log(group)
        results = await asyncio.gather(
            *(self._write_slow(log, by_log[log]) for log in logs), return_exceptions=True
        )
        appended: list[Appended] = []
        for log, result in zip(logs, results, strict=True):
            if isinstance(result, BaseException):
                _fail(
                    [p for p in group if any(log_of(e.get("tenant")) == log for e in p.events)],
                    result,
                )
            elif result is not None:
                appended.append(result)
        return appended

    async def _write_slow(self, log: str, events: Sequence[Event]) -> Appended | None:
        for attempt in range(_MAX_ATTEMPTS):
            try:
                async with (
                    self._where.client.start_session() as session,
                    await session.start_transaction(),
                ):
                    appended, head = await self._plan_reading(log, events, session)
            except Exception as exc:
                if not _retryable(exc) or attempt + 1 == _MAX_ATTEMPTS:
                    raise
                self.retries += 1
                # Jittered, so two writers that collided do not collide again in lockstep.
                await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.2)))  # noqa: S311
            else:
                self._heads[log] = head if appended is None else appended.head
                return appended
        raise RuntimeError("unreachable")

    async def _plan_reading(
        self, log: str, events: Sequence[Event], session: AsyncClientSession
    ) -> tuple[Appended | None, Head]:
        where = self._where
        head_doc = await where.heads.find_one({"_id": log}, session=session)
        head = head_from(head_doc, log)
        ids = [str(event["id"]) for event in events]
        logged = {
            doc["_id"]
            async for doc in where.entries.find({"_id": {"$in": ids}}, {"_id": 1}, session=session)
        }
        fresh = [event for event in events if str(event["id"]) not in logged]
        if not fresh:
            return None, head
        appended = plan_append(head, fresh)
        expected = {} if head_doc is None else {log: head}
        await self._write([self._prepare(appended)], expected=expected, session=session)
        return appended, head

    async def _write(
        self,
        plans: Sequence[_Plan],
        *,
        expected: Mapping[str, Head],
        session: AsyncClientSession,
    ) -> None:
        """Entries, nodes and heads of the plans, in the session's transaction."""
        where = self._where
        documents = [document for plan in plans for document in plan.documents]
        await where.entries.insert_many(documents, session=session)
        nodes = [
            {"_id": node_id(plan.appended.head.log, level, index), "hash": value}
            for plan in plans
            for level, index, value in plan.appended.nodes
        ]
        if nodes:
            await where.nodes.insert_many(nodes, session=session)
        now = self._clock()
        moves: list[InsertOne[Document] | UpdateOne] = []
        for plan in plans:
            head = plan.appended.head
            fields = head_fields(head, now)
            before = expected.get(head.log)
            if before is None:
                moves.append(InsertOne({"_id": head.log, **fields}))
            else:
                moves.append(UpdateOne({"_id": head.log, "size": before.size}, {"$set": fields}))
        result = await where.heads.bulk_write(moves, ordered=False, session=session)
        updates = sum(1 for move in moves if isinstance(move, UpdateOne))
        if result.matched_count != updates:
            raise HeadMovedError(", ".join(plan.appended.head.log for plan in plans))


def _by_log(group: list[_Pending]) -> dict[str, list[Event]]:
    by_log: dict[str, list[Event]] = {}
    for event in _events_of(group):
        by_log.setdefault(log_of(event.get("tenant")), []).append(event)
    return by_log


def _events_of(group: list[_Pending]) -> list[Event]:
    seen: set[str] = set()
    events: list[Event] = []
    for pending in group:
        for event in pending.events:
            if event["id"] not in seen:
                seen.add(event["id"])
                events.append(event)
    return events


def _resolve(group: list[_Pending], appended: Sequence[Appended]) -> None:
    by_id = {r.entry.id: r.entry for plan in appended for r in plan.entries}
    for pending in group:
        if not pending.done.done():
            pending.done.set_result([by_id[e["id"]] for e in pending.events if e["id"] in by_id])


def _fail(group: list[_Pending], exc: BaseException) -> None:
    for pending in group:
        if not pending.done.done():
            pending.done.set_exception(exc)
        with contextlib.suppress(BaseException):
            pending.done.exception()  # retrieved: no "never retrieved" warning if abandoned
