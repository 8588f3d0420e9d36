"""Transactional outbox in MongoDB and its relay to Kafka: at-least-once, stable ids.

(Over 400 lines on purpose: the store's claims and leases, the group commit and the relay's
delivery tracking are one protocol whose invariants are stated once, below.)

Writers insert a message document in the same step as the state change it announces: with
`enqueue_with`, the state write and the message in one MongoDB transaction (both or neither —
revocations use it); on the login hot path, where a transaction per request would defeat group
commit, the state is written first and its audit message right after (`enqueue`). A relay
publishes messages and deletes them once Kafka acknowledged them; nothing is lost while Kafka is
down:

- fast path: a message enqueued by this process is handed to its relay at once, published within
  milliseconds; the document is inserted *claimed* by this process for `lease`, so other relays
  leave it alone meanwhile;
- safety net: every relay periodically claims every unclaimed or lease-expired message (one
  `update_many` stamping a claim token, then a `find` by that token) and publishes them; failures
  are released with exponential backoff.

A message may be published twice (a relay dies after Kafka acknowledged but before the delete):
consumers deduplicate by the message id, carried in the `id` header and the payload.

Per-key order: messages of one key (a tenant, for audit events) reach Kafka in the order they
were enqueued, Kafka outage or not. A relay hands its batches to the producer one at a time (the
idempotent producer keeps that order per partition), and before producing, a batch's messages
whose key has an older message waiting for a retry (a failed publication in backoff, or one held
back itself) are held back too, until that one is due (`waiting_before`, `hold`): per-message
backoffs would otherwise let newer messages overtake older ones after an outage. What is not
ordered: messages of one key enqueued by different API instances at the same moment (no order
exists between them), and a dead instance's messages still under its lease (up to `lease`).

A message may also name a *journal*: a collection of the outbox's database where the relay
records it (`_id` the message id, `at` its creation time, then the payload) before publishing,
whether or not Kafka is up. The audit log is one: an audited action writes one document (the
message), not two, and the relay records a burst of them in one `insert_many`.
"""

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from confluent_kafka import KafkaError, Message, Producer
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

logger = logging.getLogger(__name__)

COLLECTION: Final = "outbox"
ID_HEADER: Final = "id"
_DUPLICATE_KEY: Final = 11000
_MAX_BACKOFF: Final = 60.0
_RELEASE_TIMEOUT: Final = 2.0
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

Document = dict[str, Any]
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


_last_order = 0


def _aware(at: datetime) -> datetime:
    """A stored time as UTC-aware (clients may or may not be opened tz-aware)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _next_order() -> int:
    """Wall-clock nanoseconds, strictly increasing within the process (so a process's messages
    keep their enqueue order even within one clock tick)."""
    global _last_order  # noqa: PLW0603 - one counter per process, by design
    _last_order = max(time.time_ns(), _last_order + 1)
    return _last_order


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    """One event to publish: topic, partitioning key and a JSON payload, with a stable id."""

    id: str
    topic: str
    key: str | None
    payload: Mapping[str, Any]
    created_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)
    attempts: int = 0
    journal: str | None = None  # a collection where the relay also records the message
    # Enqueue order (process-monotonic nanoseconds): the relay publishes a key's messages in it.
    order: int = 0

    @classmethod
    def new(
        cls,
        *,
        topic: str,
        payload: Mapping[str, Any],
        key: str | None = None,
        id: str | None = None,
        now: datetime | None = None,
        journal: str | None = None,
    ) -> "OutboxMessage":
        """A message with a fresh id (unless given) created at `now`."""
        return cls(
            id=id or uuid.uuid4().hex,
            topic=topic,
            key=key,
            payload=payload,
            created_at=now or _utcnow(),
            journal=journal,
            order=_next_order(),
        )

    def journal_entry(self) -> Document:
        """The document recorded in the message's journal."""
        return {**self.payload, "_id": self.id, "at": self.created_at}

    def value(self) -> bytes:
        """The Kafka record value: the payload as JSON, with the message id."""
        return json.dumps(
            {**self.payload, "id": self.id}, separators=(",", ":"), default=str
        ).encode()


def _to_document(message: OutboxMessage, *, claim_until: datetime) -> Document:
    return {
        "_id": message.id,
        "topic": message.topic,
        "key": message.key,
        "payload": dict(message.payload),
        "headers": dict(message.headers),
        "createdAt": message.created_at,
        "claimUntil": claim_until,
        "attempts": message.attempts,
        "journal": message.journal,
        "order": message.order,
    }


def _from_document(doc: Mapping[str, Any]) -> OutboxMessage:
    return OutboxMessage(
        id=doc["_id"],
        topic=doc["topic"],
        key=doc.get("key"),
        payload=doc.get("payload") or {},
        created_at=doc["createdAt"],
        headers=doc.get("headers") or {},
        attempts=int(doc.get("attempts", 0)),
        journal=doc.get("journal"),
        order=int(doc.get("order", 0)),
    )


Listener = Callable[[Sequence[OutboxMessage]], None]
JournalWriter = Callable[[Sequence[OutboxMessage]], Awaitable[None]]


class GroupInserter:
    """Group commit for one collection: concurrent inserts share one `insert_many` round trip.

    A writer's `insert` returns once its document is stored (durability is unchanged). While one
    batch is being written, the documents that arrive queue up and go together in the next one,
    so under load N concurrent requests cost one write per collection instead of N: with durable
    commits (an fsync each) the batch shares one log flush.
    A duplicate `_id` raises `DuplicateKeyError` to that writer only, as `insert_one` would.
    """

    def __init__(self, collection: AsyncCollection[Document], *, max_batch: int = 500) -> None:
        self._collection = collection
        self._max_batch = max_batch
        self._pending: list[tuple[Document, asyncio.Future[None]]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None

    async def insert(self, doc: Document) -> None:
        """Store `doc` (batched with whatever else is being inserted right now)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((doc, future))
        if not self._flushing:
            self._flushing = True
            # Keep a reference: the event loop holds tasks only weakly.
            self._task = asyncio.get_running_loop().create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._write(batch)
        finally:
            self._flushing = False

    async def _write(self, batch: list[tuple[Document, "asyncio.Future[None]"]]) -> None:
        errors: dict[int, BaseException] = {}
        try:
            await self._collection.insert_many([doc for doc, _ in batch], ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                index = int(error.get("index", -1))
                if error.get("code") == _DUPLICATE_KEY:
                    errors[index] = DuplicateKeyError(error.get("errmsg", "duplicate key"))
                else:
                    errors[index] = exc
        except BaseException as exc:  # every writer of the batch learns the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for index, (_, future) in enumerate(batch):
            if future.done():
                continue
            if index in errors:
                future.set_exception(errors[index])
            else:
                future.set_result(None)


class OutboxStore:
    """The `outbox` collection: enqueue, claim due messages, mark them delivered or retry later."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        collection: str = COLLECTION,
        lease: timedelta = timedelta(seconds=30),
        clock: Clock = _utcnow,
    ) -> None:
        self._database = database
        self._messages: AsyncCollection[Document] = database[collection]
        self._lease = lease
        self._clock = clock
        self._listeners: list[Listener] = []
        self._inserter = GroupInserter(self._messages)
        self._journal_writers: dict[str, JournalWriter] = {}

    async def _insert(self, doc: Document) -> None:
        with contextlib.suppress(DuplicateKeyError):  # an id stored before is kept as it is
            await self._inserter.insert(doc)

    async def enqueue_with(
        self,
        write: Callable[[AsyncClientSession], Awaitable[bool]],
        messages: Sequence[OutboxMessage],
    ) -> bool:
        """Run `write` (a state change, passed the session) and store `messages` in one
        transaction; the messages only when `write` returns True. Returns what `write` did."""
        claim_until = self._clock() + (self._lease if self._listeners else timedelta(0))
        docs = [_to_document(message, claim_until=claim_until) for message in messages]

        async def transaction(session: AsyncClientSession) -> bool:
            if not await write(session):
                return False
            if docs:
                await self._messages.insert_many(docs, session=session)
            return True

        async with self._database.client.start_session() as session:
            wrote: bool = await session.with_transaction(transaction)
        if wrote:
            for listener in self._listeners:
                listener(messages)
        return wrote

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with every message this process enqueues (the relay's fast path)."""
        self._listeners.append(listener)

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        """Store messages durably; an id stored before is kept as it is (idempotent)."""
        if not messages:
            return
        # Claimed by this process for one lease when a local relay will publish them right away.
        claim_until = self._clock() + (self._lease if self._listeners else timedelta(0))
        docs = [_to_document(message, claim_until=claim_until) for message in messages]
        # Group-committed with every other enqueue in flight (one write for a burst of logins).
        await asyncio.gather(*(self._insert(doc) for doc in docs))
        for listener in self._listeners:
            listener(messages)

    async def claim_due(self, *, limit: int = 500) -> list[OutboxMessage]:
        """Claim up to `limit` messages that nobody holds (or whose lease ran out), in enqueue
        order. Only what is returned is claimed: the rest stays due for the next call."""
        now = self._clock()
        due = self._messages.find({"claimUntil": {"$lte": now}}, {"_id": 1})
        ids = [doc["_id"] async for doc in due.sort("claimUntil", 1).limit(limit)]
        if not ids:
            return []
        token = uuid.uuid4().hex
        # Another relay may claim some of them first: the lease condition keeps exactly one.
        await self._messages.update_many(
            {"_id": {"$in": ids}, "claimUntil": {"$lte": now}},
            {"$set": {"claimUntil": now + self._lease, "claim": token}},
        )
        cursor = self._messages.find({"claim": token})
        claimed = [_from_document(doc) async for doc in cursor]
        return sorted(claimed, key=lambda m: (m.order, m.created_at))

    async def waiting_before(self, messages: Sequence[OutboxMessage]) -> dict[str, datetime]:
        """For each key of `messages` (fresh or just claimed) that has an older message waiting
        for a retry (failed or held back), when that retry is due: such a key's newer messages
        must wait too, or Kafka would get them out of order."""
        keyed = [m for m in messages if m.key is not None]
        if not keyed:
            return {}
        newest = max(m.order for m in keyed)
        waiting = self._messages.find(
            {
                "key": {"$in": sorted({m.key for m in keyed if m.key is not None})},
                "attempts": {"$gt": 0},  # the partial index `key_waiting` holds only these
                "order": {"$lt": newest},
                # Not the candidates themselves: fresh ones have no attempts, claimed ones a
                # claim (so no list of their ids is sent with every batch).
                "claim": {"$exists": False},
            },
            {"key": 1, "order": 1, "claimUntil": 1},
        )
        oldest: dict[str, tuple[int, datetime]] = {}
        async for doc in waiting:
            key, order, due = doc["key"], int(doc["order"]), _aware(doc["claimUntil"])
            first, until = oldest.get(key, (order, due))
            oldest[key] = (min(first, order), max(until, due))
        return {
            m.id: oldest[m.key][1] for m in keyed if m.key in oldest and m.order > oldest[m.key][0]
        }

    async def hold(self, held: Mapping[str, datetime]) -> None:
        """Put messages back until the older message they wait for is due (marked as waiting
        themselves, so that newer messages of their key wait behind them in turn)."""
        now = self._clock()
        by_time: dict[datetime, list[str]] = {}
        for message_id, until in held.items():
            by_time.setdefault(max(until, now), []).append(message_id)
        for until, ids in by_time.items():
            await self._messages.update_many(
                {"_id": {"$in": ids}},
                {"$set": {"claimUntil": until}, "$max": {"attempts": 1}, "$unset": {"claim": ""}},
            )

    def journal_with(self, journal: str, writer: JournalWriter) -> None:
        """Record `journal`'s messages with `writer` instead of plain inserts (the audit log
        appends them to its hash chain); the writer must be idempotent by message id."""
        self._journal_writers[journal] = writer

    async def record(self, messages: Sequence[OutboxMessage]) -> None:
        """Record messages in their journals (idempotent: an entry recorded before is kept)."""
        by_journal: dict[str, list[OutboxMessage]] = {}
        for message in messages:
            if message.journal is not None:
                by_journal.setdefault(message.journal, []).append(message)
        entries: dict[str, list[Document]] = {}
        for journal, journaled in by_journal.items():
            writer = self._journal_writers.get(journal)
            if writer is not None:
                await writer(journaled)
            else:
                entries[journal] = [message.journal_entry() for message in journaled]
        for journal, docs in entries.items():
            try:
                await self._database[journal].insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != _DUPLICATE_KEY for e in exc.details["writeErrors"]):
                    raise

    async def delivered(self, ids: Sequence[str]) -> None:
        """Forget messages Kafka acknowledged."""
        if ids:
            await self._messages.delete_many({"_id": {"$in": list(ids)}})

    async def retry_later(self, messages: Sequence[OutboxMessage]) -> None:
        """Release failed messages with exponential backoff per message."""
        now = self._clock()
        for message in messages:
            delay = min(2.0 ** min(message.attempts, 16), _MAX_BACKOFF)
            await self._messages.update_one(
                {"_id": message.id},
                {
                    "$set": {"claimUntil": now + timedelta(seconds=delay)},
                    "$inc": {"attempts": 1},
                    "$unset": {"claim": ""},
                },
            )

    async def pending(self) -> int:
        """How many messages wait for delivery."""
        return await self._messages.count_documents({})

    async def get(self, message_id: str) -> OutboxMessage | None:
        """One waiting message by id (None once delivered)."""
        doc = await self._messages.find_one({"_id": message_id})
        return None if doc is None else _from_document(doc)


class KafkaPublisher:
    """An idempotent Kafka producer whose deliveries are awaitable; a thread serves callbacks."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "caas-outbox",
        delivery_timeout: float = 5.0,
        linger_ms: int = 1,
    ) -> None:
        millis = int(delivery_timeout * 1000)
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": client_id,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": linger_ms,
                "message.timeout.ms": millis,
                "socket.connection.setup.timeout.ms": millis,
                "reconnect.backoff.ms": 500,
                "reconnect.backoff.max.ms": 5000,
                # An unreachable broker is an expected state (the outbox keeps messages), so
                # librdkafka's own error lines add nothing but noise.
                "log_level": 2,
            }
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"{client_id}-poll", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def produce(self, messages: Sequence[OutboxMessage]) -> "asyncio.Future[list[str | None]]":
        """Hand every message to the producer now (in order); the future resolves to their
        outcomes (None when acknowledged, else the error text) once Kafka answered for all."""
        batch = _Deliveries(len(messages), asyncio.get_running_loop())
        for index, message in enumerate(messages):
            try:
                self._producer.produce(
                    message.topic,
                    value=message.value(),
                    key=None if message.key is None else message.key.encode(),
                    headers=[(ID_HEADER, message.id.encode()), *_encoded(message.headers)],
                    on_delivery=batch.callback(index),
                )
            except Exception as exc:  # BufferError, KafkaException: report, never raise
                batch.settle(index, f"{type(exc).__name__}: {exc}")
        return batch.results

    async def close(self, *, timeout: float = 5.0) -> None:
        """Deliver what is in flight (up to `timeout`), then stop the callback thread."""
        await asyncio.to_thread(self._producer.flush, timeout)
        self._stop.set()
        await asyncio.to_thread(self._thread.join, timeout)


def _encoded(headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in headers.items() if name != ID_HEADER]


class _Deliveries:
    """The outcomes of one batch of produced messages, awaited as one future.

    librdkafka reports each delivery on the poll thread; waking the event loop for each of them
    cost more than producing the message, so the loop is woken once, by the last outcome.
    """

    def __init__(self, size: int, loop: asyncio.AbstractEventLoop) -> None:
        self._outcomes: list[str | None] = [None] * size
        self._remaining = size
        self._lock = threading.Lock()
        self._loop = loop
        self.results: asyncio.Future[list[str | None]] = loop.create_future()
        if size == 0:
            self.results.set_result([])

    def callback(self, index: int) -> Callable[[KafkaError | None, Message], None]:
        """The delivery report handler of message `index`."""

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            self.settle(index, None if error is None else error.str())

        return on_delivery

    def settle(self, index: int, error: str | None) -> None:
        """Record one outcome (from any thread); the last one resolves the batch."""
        with self._lock:
            self._outcomes[index] = error
            self._remaining -= 1
            if self._remaining:
                return
        # The loop may be closing while librdkafka reports the last deliveries.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.results.done():
            self.results.set_result(self._outcomes)


class OutboxRelay:
    """Publishes outbox messages: this process's at once, everyone's stragglers periodically.

    Fresh messages are handed to the producer and recorded in their journals as they arrive;
    Kafka's answers are awaited in the background, so neither the journals nor the next batch
    wait for a slow or absent broker — up to `in_flight` unanswered batches, after which the
    relay waits (the outbox holds the rest). A message is deleted only once it is both journaled
    and acknowledged.
    """

    def __init__(
        self,
        store: OutboxStore,
        publisher: KafkaPublisher,
        *,
        scan_interval: float = 2.0,
        batch: int = 500,
        in_flight: int = 8,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._scan_interval = scan_interval
        self._batch = batch
        self._queue: asyncio.Queue[OutboxMessage] = asyncio.Queue()
        self._slots = asyncio.Semaphore(in_flight)
        self._settling: set[asyncio.Task[int]] = set()
        self._producing = asyncio.Lock()
        self._unsettled: set[str] = set()  # ids handed to the producer, not settled yet
        self.published = 0
        self.failed = 0
        store.subscribe(self.notify)

    def notify(self, messages: Sequence[OutboxMessage]) -> None:
        """Hand freshly enqueued messages to the fast path."""
        for message in messages:
            self._queue.put_nowait(message)

    async def run(self) -> None:
        """Relay until cancelled; errors are logged and retried, never raised."""
        loop = asyncio.get_running_loop()
        next_scan = loop.time()
        try:
            while True:
                timeout = max(0.0, next_scan - loop.time())
                fresh: list[OutboxMessage] = []
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        fresh.append(await self._queue.get())
                while not self._queue.empty() and len(fresh) < self._batch:
                    fresh.append(self._queue.get_nowait())
                try:
                    if fresh:
                        await self._start(fresh)
                    if loop.time() >= next_scan:
                        next_scan = loop.time() + self._scan_interval
                        await self.scan_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("outbox relay pass failed; retrying")
                    await asyncio.sleep(min(self._scan_interval, 1.0))
        finally:
            for task in self._settling:
                task.cancel()
            await self._release_unsettled()

    async def _release_unsettled(self) -> None:
        """On shutdown, hand the messages still in flight back at once (marked as waiting, so
        their keys' newer messages wait behind them), instead of holding them for the rest of
        their lease: a rolling restart neither delays them nor reorders their keys. Best
        effort: what cannot be released comes back when its lease runs out."""
        if not self._unsettled:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_RELEASE_TIMEOUT):
                # The epoch: due at once (hold never sets a time before the store's now).
                await self._store.hold(dict.fromkeys(self._unsettled, _EPOCH))
        self._unsettled.clear()

    async def scan_once(self) -> int:
        """Claim and publish every due message once; returns how many were published."""
        published = 0
        while claimed := await self._store.claim_due(limit=self._batch):
            await self._slots.acquire()
            published += await self._publish(claimed)
            if len(claimed) < self._batch:
                break
        return published

    async def _publish(self, messages: Sequence[OutboxMessage]) -> int:
        """Produce what may go now, journal everything, then settle (a slot is held)."""
        try:
            async with self._producing:  # batches reach the producer in the order they came
                held = await self._store.waiting_before(messages)
                ready = [m for m in messages if m.id not in held]
                self._unsettled.update(m.id for m in messages)
                outcomes = self._publisher.produce(ready)
                recording = asyncio.ensure_future(self._store.record(messages))
        except BaseException:
            self._slots.release()
            raise
        return await self._settle(ready, held, outcomes, recording)

    async def _start(self, messages: Sequence[OutboxMessage]) -> None:
        await self._slots.acquire()  # back pressure: at most `in_flight` batches unanswered
        task = asyncio.create_task(self._publish(messages))
        self._settling.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: "asyncio.Task[int]") -> None:
        self._settling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("outbox delivery failed; a scan will retry", exc_info=task.exception())

    async def _settle(
        self,
        messages: Sequence[OutboxMessage],
        held: Mapping[str, datetime],
        outcomes: "asyncio.Future[list[str | None]]",
        recording: "asyncio.Future[None]",
    ) -> int:
        """Once journaled, forget what Kafka acknowledged; release the rest for a retry, and
        put the held-back messages back behind the older ones of their key.

        A failed journal write raises: the messages stay claimed, and the scan after their lease
        journals (idempotently) and publishes them again (consumers deduplicate by id).
        """
        try:
            try:
                errors = await outcomes
            finally:
                self._slots.release()
            await recording
        except asyncio.CancelledError:
            recording.cancel()  # shutting down: the lease hands the messages to a later scan
            raise
        ok = [m.id for m, error in zip(messages, errors, strict=True) if error is None]
        failed = [m for m, error in zip(messages, errors, strict=True) if error is not None]
        await self._store.delivered(ok)
        if failed:
            self.failed += len(failed)
            logger.warning(
                "outbox messages not delivered; kept for retry",
                extra={"count": len(failed), "error": next(e for e in errors if e)},
            )
            await self._store.retry_later(failed)
        if held:
            await self._store.hold(held)
        self._unsettled.difference_update(m.id for m in messages)
        self._unsettled.difference_update(held)
        self.published += len(ok)
        return len(ok)
