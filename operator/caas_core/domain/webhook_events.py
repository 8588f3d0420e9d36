"""Webhook events: the one catalogue of event types, the filters on it, and the Kafka envelope.

**The catalogue** (`CATALOGUE`) is the only declaration of event types. The Webhook CRD's CEL
rule (`event_filter_rule`), the REST validation of filters and of `POST /v1/events`, and
`GET /v1/webhooks/event-types` are all generated from it. Each type has an origin:

- `platform`: the platform emits it itself (tenant lifecycle, API keys, sessions, security,
  webhooks, compliance) through the outbox to the topic `platform.events`. A tenant may not
  publish these: a receiver must be able to trust that a `security.*` event came from us.
- `tenant`: the tenant's own services publish it with `POST /v1/events` into the topic `events`
  (the communication domain: messages, conversations, users, devices).
- `custom.<name>`: a namespace of the tenant's own types (`custom.order.paid`), not declared
  here, published like `tenant` types; filters name one exactly or take all with `custom.*`.

**The envelope** (one JSON object per Kafka record, the record key is the tenant so a tenant's
events keep their order within a partition)::

    {"id": "evt_…", "type": "api_key.created", "tenant": "acme",
     "timestamp": "2026-01-01T12:00:00.123456Z", "data": {…}}

`id` is stable: the outbox publishes a message at least once under the same id (the Kafka `id`
header and the payload), so consumers deduplicate by it and a receiver sees it as
`webhook-id`. Facts with a natural key (a tenant becoming ready at a generation) use
`stable_event_id` so that emitting the same fact twice gives the same id.
"""

import hashlib
import json
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

ALL_EVENTS: Final = "*"
EVENT_ID_PREFIX: Final = "evt_"
CUSTOM_CATEGORY: Final = "custom"
TYPE_MAX_LENGTH: Final = 64
EVENT_ID_MAX_LENGTH: Final = 64
# The serialised `data` of a tenant-published event (JSON, UTF-8), under the 64 KiB request
# body limit so the refusal can name the field and the limit; receivers and Kafka records
# stay small, and the dispatcher holds many in memory.
MAX_DATA_BYTES: Final = 32 * 1024

_SEGMENT: Final = r"[a-z][a-z0-9_]*"
# A custom type: `custom.` and one or more lowercase segments (no backslashes: the same text is
# embedded in a CEL string literal).
CUSTOM_TYPE_PATTERN: Final = f"^{CUSTOM_CATEGORY}[.]{_SEGMENT}([.]{_SEGMENT})*$"
# A filter: `*`, `<category>.*`, or a type of two or more segments.
EVENT_FILTER_PATTERN: Final = f"^([*]|{_SEGMENT}[.][*]|{_SEGMENT}([.]{_SEGMENT})+)$"
EVENT_ID_PATTERN: Final = r"^[A-Za-z0-9_.:-]{1,64}$"
_CUSTOM_RE: Final = re.compile(CUSTOM_TYPE_PATTERN)
_FILTER_RE: Final = re.compile(EVENT_FILTER_PATTERN)
_EVENT_ID_RE: Final = re.compile(EVENT_ID_PATTERN)


class EventOrigin(StrEnum):
    """Who produces events of a type, which decides their topic."""

    PLATFORM = "platform"
    TENANT = "tenant"


class EventTopic(StrEnum):
    """The Kafka topics events travel on (declared in `caas_core.domain.topics`)."""

    PLATFORM = "platform.events"
    TENANT = "events"


TOPIC_OF: Final = {EventOrigin.PLATFORM: EventTopic.PLATFORM, EventOrigin.TENANT: EventTopic.TENANT}


@dataclass(frozen=True, slots=True)
class EventType:
    """One declared event type."""

    name: str
    origin: EventOrigin
    description: str

    @property
    def category(self) -> str:
        """The part before the first dot (`message` of `message.created`)."""
        return self.name.partition(".")[0]


_P: Final = EventOrigin.PLATFORM
_T: Final = EventOrigin.TENANT

CATALOGUE: Final = (
    # The tenant's communication domain, published by its services (POST /v1/events).
    EventType("message.created", _T, "A message was sent."),
    EventType("message.updated", _T, "A message was edited."),
    EventType("message.deleted", _T, "A message was deleted."),
    EventType("message.delivered", _T, "A message reached a recipient's device."),
    EventType("message.read", _T, "A recipient read a message."),
    EventType("conversation.created", _T, "A conversation was created."),
    EventType("conversation.updated", _T, "A conversation's settings changed."),
    EventType("conversation.deleted", _T, "A conversation was deleted."),
    EventType("conversation.member_added", _T, "A member joined a conversation."),
    EventType("conversation.member_removed", _T, "A member left a conversation."),
    EventType("user.created", _T, "A user was created."),
    EventType("user.updated", _T, "A user's profile changed."),
    EventType("user.deleted", _T, "A user was deleted."),
    EventType("device.registered", _T, "A device was registered for a user."),
    EventType("device.removed", _T, "A device was removed."),
    # The platform's own events (platform.events).
    EventType("tenant.created", _P, "The tenant was created; provisioning started."),
    EventType("tenant.ready", _P, "The tenant's backends are provisioned and ready."),
    EventType("tenant.deleted", _P, "The tenant was deleted."),
    EventType("session.created", _P, "A user signed in: a session and refresh family began."),
    EventType("session.revoked", _P, "Sessions were ended (logout, an administrator, revoke-all)."),
    EventType("api_key.created", _P, "An API key was created."),
    EventType("api_key.updated", _P, "An API key's name, scopes or expiry changed."),
    EventType("api_key.rotated", _P, "An API key was replaced by a new one."),
    EventType("api_key.revoked", _P, "An API key was revoked."),
    EventType("security.refresh_token_reuse", _P, "A rotated refresh token was presented again."),
    EventType("security.mfa_enabled", _P, "A user enabled a second factor."),
    EventType("security.mfa_disabled", _P, "A user's second factor was removed."),
    EventType("security.signing_key_rotated", _P, "The token signing key was rotated."),
    EventType("security.audit.integrity", _P, "The audit log's integrity check found a problem."),
    EventType("compliance.export_ready", _P, "A data export is ready to download."),
    EventType("compliance.erasure_completed", _P, "A user's data was erased."),
    EventType("retention.sweep_completed", _P, "A retention sweep finished."),
    EventType("webhook.endpoint_disabled", _P, "An endpoint was disabled after failed deliveries."),
    EventType("webhook.test", _P, "A test event sent on request."),
)
BY_NAME: Final = {t.name: t for t in CATALOGUE}
EVENT_TYPES: Final = tuple(t.name for t in CATALOGUE)
PLATFORM_EVENT_TYPES: Final = tuple(t.name for t in CATALOGUE if t.origin is _P)
TENANT_EVENT_TYPES: Final = tuple(t.name for t in CATALOGUE if t.origin is _T)
EVENT_CATEGORIES: Final = (*dict.fromkeys(t.category for t in CATALOGUE), CUSTOM_CATEGORY)


def is_custom_type(name: str) -> bool:
    """Whether `name` is a tenant-defined `custom.<name>` type."""
    return len(name) <= TYPE_MAX_LENGTH and _CUSTOM_RE.fullmatch(name) is not None


def event_filter_rule() -> str:
    """CEL rule (on one filter string) accepting exactly the filters `unknown_event_filters`
    accepts: `*`, a declared type, `<category>.*`, or a `custom.<name>` type."""
    exact = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    wildcards = ", ".join(f"'{c}.*'" for c in EVENT_CATEGORIES)
    return (
        f"self == '{ALL_EVENTS}' || self in [{exact}] || self in [{wildcards}] || "
        f"self.matches('{CUSTOM_TYPE_PATTERN}')"
    )


def unknown_event_filters(filters: Iterable[str]) -> tuple[str, ...]:
    """Filters that match nothing the platform can deliver (the CRD rejects them too)."""
    known = {ALL_EVENTS, *EVENT_TYPES, *(f"{c}.*" for c in EVENT_CATEGORIES)}
    return tuple(
        f
        for f in filters
        if not _FILTER_RE.fullmatch(f) or (f not in known and not is_custom_type(f))
    )


def matches_event(filters: Iterable[str], event_type: str) -> bool:
    """Whether an event of `event_type` is delivered to an endpoint with these filters."""
    category = event_type.partition(".")[0]
    return any(f in {ALL_EVENTS, event_type, f"{category}.*"} for f in filters)


def filters_matching(event_type: str) -> tuple[str, ...]:
    """The filter values that select `event_type` (for an index-served store query)."""
    return (ALL_EVENTS, event_type, f"{event_type.partition('.')[0]}.*")


class EventTypeError(ValueError):
    """A type that is not declared, or not one the caller may publish."""


def publishable_by_tenant(name: str) -> None:
    """Refuse a type a tenant may not publish, saying what it may publish instead."""
    declared = BY_NAME.get(name)
    if declared is not None and declared.origin is _T:
        return
    if is_custom_type(name):
        return
    if declared is not None:
        raise EventTypeError(
            f"{name} is a platform event: only the platform emits it; publish a tenant type "
            f"({', '.join(sorted({t.partition('.')[0] + '.*' for t in TENANT_EVENT_TYPES}))}) "
            f"or custom.<name>"
        )
    raise EventTypeError(
        f"unknown event type {name!r}: use a declared tenant type (GET /v1/webhooks/event-types) "
        f"or custom.<name> (lowercase segments, at most {TYPE_MAX_LENGTH} characters)"
    )


# -- the envelope ---------------------------------------------------------------------------------


def new_event_id() -> str:
    """A fresh random event id."""
    return EVENT_ID_PREFIX + secrets.token_hex(16)


def stable_event_id(*parts: str) -> str:
    """The id of a fact with a natural key: the same parts always give the same id."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()
    return EVENT_ID_PREFIX + digest[:32]


def rfc3339(moment: datetime) -> str:
    """An instant in UTC, RFC 3339 with microseconds and `Z`."""
    if moment.tzinfo is None:
        raise ValueError("event timestamps carry their offset")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEvent:
    """One event as it travels on Kafka and reaches receivers."""

    id: str
    type: str
    tenant: str
    timestamp: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    topic: EventTopic = EventTopic.PLATFORM

    @property
    def key(self) -> str:
        """The Kafka record key: the tenant (its events keep their order in one partition)."""
        return self.tenant

    def envelope(self) -> dict[str, Any]:
        """The JSON object published (and the body POSTed to receivers)."""
        return {
            "id": self.id,
            "type": self.type,
            "tenant": self.tenant,
            "timestamp": rfc3339(self.timestamp),
            "data": dict(self.data),
        }


def platform_event(
    type_: str,
    *,
    tenant: str,
    data: Mapping[str, Any],
    now: datetime,
    id: str | None = None,
) -> WebhookEvent:
    """An event the platform emits (to `platform.events`); only declared platform types."""
    declared = BY_NAME.get(type_)
    if declared is None or declared.origin is not _P:
        raise EventTypeError(f"{type_!r} is not a declared platform event type")
    return WebhookEvent(
        id=id or new_event_id(), type=type_, tenant=tenant, timestamp=now, data=data,
        topic=EventTopic.PLATFORM,
    )  # fmt: skip


def tenant_event(
    type_: str,
    *,
    tenant: str,
    data: Mapping[str, Any],
    now: datetime,
    id: str | None = None,
) -> WebhookEvent:
    """An event a tenant publishes (to `events`); `id` is its idempotency key (the event id is
    derived from it: `tenant_event_id`). EventTypeError for a type it may not use, ValueError
    for an oversized `data` or a malformed key."""
    publishable_by_tenant(type_)
    if id is not None and not _EVENT_ID_RE.fullmatch(id):
        raise ValueError(f"an event id matches {EVENT_ID_PATTERN}")
    problem = data_problem(data)
    if problem is not None:
        raise ValueError(problem)
    size = data_size(data)
    if size > MAX_DATA_BYTES:
        raise ValueError(f"data is {size} bytes serialised; the limit is {MAX_DATA_BYTES} bytes")
    return WebhookEvent(
        id=new_event_id() if id is None else tenant_event_id(tenant, id), type=type_,
        tenant=tenant, timestamp=now, data=data, topic=EventTopic.TENANT,
    )  # fmt: skip


def tenant_event_id(tenant: str, key: str) -> str:
    """The event id for a tenant's own idempotency key: the same key of the same tenant gives
    the same id, and no tenant can take (or pre-empt) an id of another's: event ids are one
    namespace across tenants (the outbox's and the receivers' deduplication key)."""
    return stable_event_id("tenant-event", tenant, key)


MAX_SAFE_INTEGER: Final = 2**53 - 1  # I-JSON (RFC 7493): what every JSON reader holds exactly


def data_problem(data: Any, *, path: str = "data") -> str | None:
    """Why `data` cannot be stored and delivered as JSON everywhere, or None. Refused: integers
    beyond ±(2**53 - 1) (receivers in JavaScript would round them, and MongoDB holds at most
    64 bits), non-finite numbers, strings or keys that are not valid Unicode (a lone
    surrogate has no UTF-8 form) and keys holding NUL (a BSON key cannot)."""
    if isinstance(data, Mapping):
        return _first(_member_problem(key, value, path) for key, value in data.items())
    if isinstance(data, list):
        return _first(data_problem(v, path=f"{path}[{i}]") for i, v in enumerate(data))
    return _scalar_problem(data, path)


def _first(problems: Iterable[str | None]) -> str | None:
    return next((problem for problem in problems if problem is not None), None)


def _member_problem(key: Any, value: Any, path: str) -> str | None:
    if not isinstance(key, str) or not _unicode(key) or "\x00" in key:
        return f"{path}: a key that is not valid Unicode text without NUL"
    return data_problem(value, path=f"{path}.{key}" if key.isidentifier() else path)


def _scalar_problem(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if abs(value) <= MAX_SAFE_INTEGER else f"{path}: an integer beyond ±2**53-1"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path}: not a finite number"
    if isinstance(value, str):
        return None if _unicode(value) else f"{path}: not valid Unicode (a lone surrogate)"
    return f"{path}: not a JSON value"


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def data_size(data: Mapping[str, Any]) -> int:
    """The size of `data` as the envelope serialises it (compact JSON, UTF-8)."""
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


class EnvelopeError(ValueError):
    """A Kafka record that is not an event envelope."""


def parse_envelope(payload: Mapping[str, Any], *, topic: str) -> WebhookEvent:
    """The event in a consumed record's JSON (the dispatcher's side of `envelope`)."""
    try:
        event_id, type_, tenant = payload["id"], payload["type"], payload["tenant"]
        timestamp = datetime.fromisoformat(str(payload["timestamp"]).replace("Z", "+00:00"))
        data = payload.get("data") or {}
    except (KeyError, ValueError) as exc:
        raise EnvelopeError(f"not an event envelope: {exc}") from None
    if not all(isinstance(v, str) and v for v in (event_id, type_, tenant)):
        raise EnvelopeError("id, type and tenant must be non-empty strings")
    if not isinstance(data, Mapping) or timestamp.tzinfo is None:
        raise EnvelopeError("data must be an object and timestamp carry its offset")
    try:
        event_topic = EventTopic(topic)
    except ValueError:
        raise EnvelopeError(f"{topic} is not an event topic") from None
    return WebhookEvent(
        id=event_id, type=type_, tenant=tenant, timestamp=timestamp, data=data, topic=event_topic
    )
