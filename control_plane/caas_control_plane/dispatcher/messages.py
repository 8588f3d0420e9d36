"""Messages the dispatcher reads and writes: events in, retries on `internal.retry`, dead
letters on `internal.dlq`. JSON, versioned, decoded defensively (a bad message is skipped and
counted, never a crash loop)."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

EVENT_TOPICS: Final = ("platform.events", "events")
RETRY_TOPIC: Final = "internal.retry"
DLQ_TOPIC: Final = "internal.dlq"
FORMAT: Final = 1


class BadMessageError(ValueError):
    """A message that is not what its topic carries."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """An event envelope `{id, type, tenant, timestamp, data}`; `raw` is kept for the body."""

    id: str
    type: str
    tenant: str
    raw: Mapping[str, Any]
    body: bytes  # the POST body: the envelope as compact JSON, encoded once


def parse_event(raw: Any, *, body: bytes | None = None) -> Event:
    """An event from a decoded JSON value (and, when given, the bytes it was decoded from,
    POSTed as they are); BadMessageError names what is missing."""
    if not isinstance(raw, dict):
        raise BadMessageError("an event is a JSON object")
    for name in ("id", "type", "tenant"):
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise BadMessageError(f"an event needs a non-empty string {name!r}")
    return Event(
        id=raw["id"], type=raw["type"], tenant=raw["tenant"], raw=raw, body=body or _dumps(raw)
    )


def decode_event(value: bytes | None) -> Event:
    """An event from a Kafka record value."""
    try:
        raw = json.loads(value or b"")
    except ValueError:
        raise BadMessageError("an event is JSON") from None
    return parse_event(raw, body=value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One event for one endpoint, at attempt `attempt` of round `round` (replays start a new
    round, so the attempt log keeps every round's attempts)."""

    event: Event
    endpoint_id: str
    attempt: int = 1
    round: int = 1
    due_at: float = 0.0  # Unix seconds; 0 means now

    def to_retry(self) -> dict[str, Any]:
        """The `internal.retry` record (its JSON value)."""
        return {
            "format": FORMAT,
            "kind": "retry",
            "endpointId": self.endpoint_id,
            "attempt": self.attempt,
            "round": self.round,
            "dueAt": self.due_at,
            "event": dict(self.event.raw),
        }

    def to_dead_letter(self, *, reason: str, status: int | None, at: float) -> dict[str, Any]:
        """The `internal.dlq` record (what a DLQ replay needs, and why it died)."""
        return {
            "format": FORMAT,
            "kind": "dead_letter",
            "endpointId": self.endpoint_id,
            "attempts": self.attempt,
            "round": self.round,
            "reason": reason,
            "lastStatus": status,
            "deadAt": at,
            "event": dict(self.event.raw),
        }


def decode_retry(value: bytes | None) -> Delivery:
    """A delivery from an `internal.retry` record value."""
    try:
        raw = json.loads(value or b"")
    except ValueError:
        raise BadMessageError("a retry is JSON") from None
    if not isinstance(raw, dict) or raw.get("kind") != "retry":
        raise BadMessageError("a retry is an object of kind 'retry'")
    attempt, round_, due = raw.get("attempt"), raw.get("round", 1), raw.get("dueAt", 0)
    endpoint = raw.get("endpointId")
    if not isinstance(endpoint, str) or not endpoint:
        raise BadMessageError("a retry names its endpointId")
    if not isinstance(attempt, int) or not _positive_int(attempt) or not _positive_int(round_):
        raise BadMessageError("a retry's attempt and round are positive integers")
    if not isinstance(due, int | float) or isinstance(due, bool):
        raise BadMessageError("a retry's dueAt is Unix seconds")
    return Delivery(
        event=parse_event(raw.get("event")),
        endpoint_id=endpoint,
        attempt=attempt,
        round=round_,
        due_at=float(due),
    )


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _dumps(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()
