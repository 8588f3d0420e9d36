"""Kubernetes Events about Tenants, posted where `kubectl describe tenant` finds them.

kopf posts events of cluster-scoped objects with `involvedObject.namespace: default`, which
`kubectl describe` (filtering on an empty namespace) never shows. Core v1 Events in `default`
with no involved namespace are what Kubernetes' own controllers post for nodes, so we do that.
Posting runs in the background: a slow API server never holds up a reconcile.
"""

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from lightkube import AsyncClient
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event

logger = logging.getLogger(__name__)

COMPONENT: Final = "caas-operator"
EVENTS_NAMESPACE: Final = "default"
_MAX_PENDING: Final = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRef:
    """The object an event is about (cluster-scoped: no namespace)."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str | None = None


class EventPoster:
    """Fire-and-forget Event creation, bounded so an API outage cannot pile up memory."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._pending: set[asyncio.Task[None]] = set()
        self._instance = f"{socket.gethostname()}-{os.getpid()}"

    def post(self, ref: ObjectRef, *, type: str, reason: str, message: str) -> None:
        """Queue an event; dropped (and logged) when too many are already in flight."""
        if len(self._pending) >= _MAX_PENDING:
            logger.warning("event dropped", extra={"reason": reason, "object": ref.name})
            return
        task = asyncio.create_task(self._create(ref, type=type, reason=reason, message=message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _create(self, ref: ObjectRef, *, type: str, reason: str, message: str) -> None:
        now = datetime.now(UTC)
        namespace = ref.namespace or EVENTS_NAMESPACE
        event = Event(
            metadata=ObjectMeta(name=f"{ref.name}.{uuid.uuid4().hex[:16]}", namespace=namespace),
            involvedObject=ObjectReference(
                apiVersion=ref.api_version,
                kind=ref.kind,
                name=ref.name,
                uid=ref.uid,
                namespace=ref.namespace,
            ),
            type=type,
            reason=reason,
            message=message,
            source=EventSource(component=COMPONENT),
            reportingComponent=COMPONENT,
            reportingInstance=self._instance,
            firstTimestamp=now,
            lastTimestamp=now,
            count=1,
        )
        try:
            await self._client.create(event)
        except Exception as exc:  # events are best effort; the status carries the truth
            logger.warning("event not posted", extra={"reason": reason, "error": str(exc)})

    async def drain(self, *, within: float = 5.0) -> None:
        """Wait a little for queued events (at shutdown)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=within)
