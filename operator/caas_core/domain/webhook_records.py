"""Registered webhook endpoints in `caas_platform.webhook_endpoints`, read by the dispatcher.

One document per endpoint:

| field | meaning |
|---|---|
| `_id` | endpoint id `whep_<uid of the Webhook resource>` (REST-created ones: `whep_<random>`) |
| `tenant` | the tenant whose events go there |
| `url` | the validated https URL (re-validate resolved addresses at connect time: DNS rebinding) |
| `eventTypes` | filters: exact types, `<category>.*`, or `*` (see `EVENT_TYPES`) |
| `enabled` | false pauses delivery without unregistering |
| `secretRef` | `{namespace, name, key}` of the Secret holding the `whsec_` signing secret |
| `secretFingerprint` | first 16 hex of SHA-256 of the secret: tells a cached copy is stale |
| `managedBy` / `source` | `operator` plus the Webhook resource (namespace, name, uid), or `api` |
| `generation` | the resource generation registered (operator-managed endpoints) |
| `createdAt` / `updatedAt` | timestamps |

The signing secret itself never lands in Mongo: the dispatcher reads it from the Secret named by
`secretRef` (it needs `get` on Secrets labelled `platform.caas.io/webhook`).
"""

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

COLLECTION: Final = "webhook_endpoints"
ID_PREFIX: Final = "whep_"
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SECRET_BYTES: Final = 32  # Standard Webhooks: between 24 and 64 random bytes
MIN_SECRET_BYTES: Final = 24
MAX_SECRET_BYTES: Final = 64
ALL_EVENTS: Final = "*"

# The events the platform emits, by category; a filter names one, `<category>.*` or `*`.
EVENT_TYPES: Final = (
    "message.created",
    "message.updated",
    "message.deleted",
    "message.delivered",
    "message.read",
    "conversation.created",
    "conversation.updated",
    "conversation.deleted",
    "conversation.member_added",
    "conversation.member_removed",
    "user.created",
    "user.updated",
    "user.deleted",
    "session.created",
    "session.revoked",
    "device.registered",
    "device.removed",
    "api_key.created",
    "api_key.rotated",
    "api_key.revoked",
    "compliance.export_ready",
    "compliance.erasure_completed",
    "retention.sweep_completed",
    "webhook.test",
)
EVENT_CATEGORIES: Final = tuple(dict.fromkeys(t.partition(".")[0] for t in EVENT_TYPES))
EVENT_FILTER_PATTERN: Final = r"^(\*|[a-z][a-z_]*\.(\*|[a-z][a-z_]*))$"
_FILTER_RE: Final = re.compile(EVENT_FILTER_PATTERN)


class WebhookWriter(StrEnum):
    """Who registered an endpoint, and therefore who alone may change or remove it."""

    OPERATOR = "operator"
    API = "api"


def event_filter_rule() -> str:
    """CEL rule (on one filter string) accepting exactly the catalogue's filters."""
    exact = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    wildcards = ", ".join(f"'{c}.*'" for c in EVENT_CATEGORIES)
    return f"self == '{ALL_EVENTS}' || self in [{exact}] || self in [{wildcards}]"


def unknown_event_filters(filters: Iterable[str]) -> tuple[str, ...]:
    """Filters that match nothing in the catalogue (the CRD rejects them too)."""
    known = {ALL_EVENTS, *EVENT_TYPES, *(f"{c}.*" for c in EVENT_CATEGORIES)}
    return tuple(f for f in filters if f not in known or not _FILTER_RE.fullmatch(f))


def matches_event(filters: Iterable[str], event_type: str) -> bool:
    """Whether an event of `event_type` is delivered to an endpoint with these filters."""
    category = event_type.partition(".")[0]
    return any(f in {ALL_EVENTS, event_type, f"{category}.*"} for f in filters)


def new_signing_secret(nbytes: int = SECRET_BYTES) -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of `nbytes` random bytes."""
    if not MIN_SECRET_BYTES <= nbytes <= MAX_SECRET_BYTES:
        raise ValueError(f"signing secrets are {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_` secret; ValueError when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("signing secrets start with whsec_")
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(f"signing secrets hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return key


def fingerprint(secret: str) -> str:
    """A short, non-reversible identifier of a signing secret."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()[:16]


def endpoint_id(uid: str) -> str:
    """Stable id of the endpoint registered for a Webhook resource."""
    return f"{ID_PREFIX}{uid}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRef:
    """Where the signing secret lives."""

    namespace: str
    name: str
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookSource:
    """The Webhook custom resource an operator-managed endpoint belongs to."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEndpoint:
    """A registered endpoint."""

    endpoint_id: str
    tenant: str
    url: str
    event_types: tuple[str, ...]
    enabled: bool
    secret_ref: SecretRef
    secret_fingerprint: str
    managed_by: WebhookWriter
    created_at: datetime
    updated_at: datetime
    source: WebhookSource | None = None
    generation: int | None = None
    description: str | None = None

    def same_registration(self, other: "WebhookEndpoint") -> bool:
        """Whether two records register the same thing (timestamps aside)."""
        return _comparable(self) == _comparable(other)


def _comparable(endpoint: WebhookEndpoint) -> dict[str, Any]:
    doc = to_document(endpoint)
    del doc["createdAt"], doc["updatedAt"]
    return doc


def to_document(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """The Mongo document of an endpoint."""
    ref = endpoint.secret_ref
    source = endpoint.source
    return {
        "_id": endpoint.endpoint_id,
        "tenant": endpoint.tenant,
        "url": endpoint.url,
        "eventTypes": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "secretRef": {"namespace": ref.namespace, "name": ref.name, "key": ref.key},
        "secretFingerprint": endpoint.secret_fingerprint,
        "managedBy": endpoint.managed_by.value,
        "source": None
        if source is None
        else {"namespace": source.namespace, "name": source.name, "uid": source.uid},
        "generation": endpoint.generation,
        "description": endpoint.description,
        "createdAt": endpoint.created_at,
        "updatedAt": endpoint.updated_at,
    }


def from_document(doc: Mapping[str, Any]) -> WebhookEndpoint:
    """An endpoint from its Mongo document."""
    source = doc.get("source")
    return WebhookEndpoint(
        endpoint_id=doc["_id"],
        tenant=doc["tenant"],
        url=doc["url"],
        event_types=tuple(doc.get("eventTypes", ())),
        enabled=bool(doc.get("enabled", True)),
        secret_ref=SecretRef(**doc["secretRef"]),
        secret_fingerprint=doc.get("secretFingerprint", ""),
        managed_by=WebhookWriter(doc["managedBy"]),
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
        source=None if not source else WebhookSource(**source),
        generation=doc.get("generation"),
        description=doc.get("description"),
    )
