"""The webhook attempt log, `caas_platform.webhook_attempts`: one document per attempt.

| field | meaning |
|---|---|
| `_id` | `<webhook-id>:<round>:<attempt>`: an attempt is recorded once, however often it runs |
| `tenant`, `endpointId`, `eventId`, `eventType`, `webhookId` | what was attempted, for whom |
| `round`, `attempt` | replays start a new round; attempts count from 1 in each |
| `state` | `delivered`, `retrying`, `dead` or `endpoint_disabled` (the message's state after it) |
| `status` / `failure` | the HTTP status, or why there was none (timeout, refused_address …) |
| `latencyMs`, `response` | the time the attempt took; the response body's first `EXCERPT_CHARS` |
| `nextRetryAt` | when the next attempt is due (retrying only) |
| `replayedAt` | set once a dead message was sent again (recover, DLQ replay): replayed once |
| `event` | the envelope, so a replay needs nothing but the log |
| `at` | when the attempt ended; a TTL index drops attempts after `ttl_seconds` |

Written by the dispatcher in group commits (many attempts, one `insert_many`); read by the
logs, stats, replay and recover APIs. Every query carries the tenant.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from caas_control_plane.ports import AttemptPage
from caas_core.adapters.outbox import GroupInserter, OutboxMessage, OutboxStore

COLLECTION: Final = "webhook_attempts"
RETRY_TOPIC: Final = "internal.retry"
EXCERPT_CHARS: Final = 1024
DEAD_STATES: Final = ("dead", "endpoint_disabled")

Document = dict[str, Any]
_NEWEST: Final = [
    ("tenant", ASCENDING),
    ("endpointId", ASCENDING),
    ("at", DESCENDING),
    ("_id", DESCENDING),
]


def attempt_id(webhook_id: str, round_: int, attempt: int) -> str:
    """The attempt's document id."""
    return f"{webhook_id}:{round_}:{attempt}"


class WebhookAttemptLog:
    """Reads and writes the attempt log."""

    def __init__(self, db: AsyncDatabase[Document], *, ttl_seconds: int = 30 * 86_400) -> None:
        self._attempts = db[COLLECTION]
        self._ttl = ttl_seconds
        self._inserter = GroupInserter(self._attempts, max_batch=1000)

    async def ensure_indexes(self) -> None:
        """The indexes the APIs' queries use, and the TTL (idempotent)."""
        await self._attempts.create_indexes(
            [
                IndexModel(_NEWEST, name="endpoint_newest"),
                IndexModel(
                    [("tenant", ASCENDING), ("endpointId", ASCENDING), ("eventId", ASCENDING)],
                    name="endpoint_event",
                ),
                IndexModel(
                    [("tenant", ASCENDING), ("state", ASCENDING), ("at", ASCENDING)],
                    name="tenant_state",
                ),
                IndexModel([("at", ASCENDING)], name="ttl", expireAfterSeconds=self._ttl),
            ]
        )

    async def record(self, doc: Document) -> None:
        """Store one attempt (group-committed); recording it twice changes nothing."""
        # A duplicate is a re-read message whose attempt was already logged.
        with contextlib.suppress(DuplicateKeyError):
            await self._inserter.insert(doc)

    async def recorded(self, doc_id: str) -> bool:
        """Whether the attempt with this id is in the log."""
        return await self._attempts.find_one({"_id": doc_id}, projection={"_id": 1}) is not None

    async def page(
        self,
        *,
        tenant: str,
        endpoint_id: str,
        limit: int,
        after: tuple[datetime, str] | None = None,
        event_id: str | None = None,
    ) -> AttemptPage:
        """Attempts of one endpoint, newest first, after the cursor `(at, _id)`."""
        query: Document = {"tenant": tenant, "endpointId": endpoint_id}
        if event_id is not None:
            query["eventId"] = event_id
        if after is not None:
            at, last_id = after
            query["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": last_id}}]
        cursor = (
            self._attempts.find(query, projection={"event": 0})
            .sort([("at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        items = [doc async for doc in cursor]
        last = (items[-1]["at"], items[-1]["_id"]) if len(items) == limit else None
        return AttemptPage(items=items, last=last)

    async def latest_for_event(
        self, *, tenant: str, endpoint_id: str, event_id: str
    ) -> Document | None:
        """The newest attempt of one event at one endpoint (with its envelope)."""
        return await self._attempts.find_one(
            {"tenant": tenant, "endpointId": endpoint_id, "eventId": event_id},
            sort=[("round", DESCENDING), ("attempt", DESCENDING)],
        )

    async def dead_since(
        self, *, tenant: str, since: datetime, endpoint_id: str | None = None, limit: int
    ) -> list[Document]:
        """Dead messages not yet replayed (newest attempt of each), oldest first."""
        query: Document = {
            "tenant": tenant,
            "state": {"$in": list(DEAD_STATES)},
            "at": {"$gte": since},
            "replayedAt": None,
        }
        if endpoint_id is not None:
            query["endpointId"] = endpoint_id
        cursor = self._attempts.find(query).sort([("at", ASCENDING)]).limit(limit)
        return [doc async for doc in cursor]

    async def mark_replayed(self, ids: Sequence[str], *, at: datetime) -> int:
        """Mark dead attempts as sent again (so a second recover does not resend them)."""
        result = await self._attempts.update_many(
            {"_id": {"$in": list(ids)}, "replayedAt": None}, {"$set": {"replayedAt": at}}
        )
        return int(result.modified_count)

    async def stats(self, *, tenant: str, endpoint_id: str, since: datetime) -> Mapping[str, int]:
        """Attempts since `since` by state."""
        pipeline: list[Document] = [
            {"$match": {"tenant": tenant, "endpointId": endpoint_id, "at": {"$gte": since}}},
            {"$group": {"_id": "$state", "n": {"$sum": 1}}},
        ]
        cursor = await self._attempts.aggregate(pipeline)
        return {str(doc["_id"]): int(doc["n"]) async for doc in cursor}


class OutboxRetries:
    """Schedules retry records through the outbox: a replay asked for while Kafka is down is
    published once it is back (the relay of any API instance or dispatcher)."""

    def __init__(self, outbox: OutboxStore) -> None:
        self._outbox = outbox

    async def schedule(self, records: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Store `(message id, record)` pairs for `internal.retry`, keyed by the endpoint."""
        await self._outbox.enqueue(
            [
                OutboxMessage.new(
                    topic=RETRY_TOPIC, key=str(record["endpointId"]), payload=record, id=mid
                )
                for mid, record in records
            ]
        )
