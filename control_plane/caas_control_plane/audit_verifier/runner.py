"""The composition root of `caas-audit-verifier`: clients, stores, the verifier, its consumer,
its periodic passes, its relay and its HTTP port, started and stopped together.

The process runs an outbox relay of its own (chained to the audit log like every relay), so
the integrity events it raises are logged and published even when no API instance runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from caas_control_plane.audit_verifier.consumer import AuditConsumer
from caas_control_plane.audit_verifier.http import create_app
from caas_control_plane.audit_verifier.metrics import VerifierMetrics
from caas_control_plane.audit_verifier.reader import AuditReader
from caas_control_plane.audit_verifier.service import AuditVerifier, Timing
from caas_control_plane.audit_verifier.states import VerifiedStates
from caas_control_plane.process import stop_tasks
from caas_control_plane.settings import ApiSettings
from caas_core.adapters import mongo
from caas_core.adapters.audit import MongoAuditWriter, chain_audit_journal
from caas_core.adapters.auditlog_store import AuditLogStore
from caas_core.adapters.outbox import KafkaPublisher, OutboxRelay, OutboxStore
from caas_core.domain.naming import PLATFORM_DATABASE

logger = logging.getLogger(__name__)

APP_NAME = "caas-audit-verifier"


@dataclass(kw_only=True)
class VerifierProcess:
    """Everything the verifier process runs, and what `stop` must undo."""

    settings: ApiSettings
    client: mongo.MongoClient
    verifier: AuditVerifier
    consumer: AuditConsumer
    publisher: KafkaPublisher
    relay: OutboxRelay | None
    server: uvicorn.Server | None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    async def start(
        cls,
        settings: ApiSettings,
        *,
        database: str = PLATFORM_DATABASE,
        offset_reset: str = "earliest",
        serve_http: bool = True,
        relay: bool = True,
        timing: Timing | None = None,
    ) -> VerifierProcess:
        """Connect, resume from the persisted states, start consuming and passing (and relaying
        the outbox, unless `relay` is False: then API instances publish its events)."""
        client = mongo.connect(
            settings.mongodb_uri.get_secret_value(),
            timeout=settings.backend_timeout,
            app_name=APP_NAME,
        )
        db = client[database]
        outbox = OutboxStore(db)
        store = AuditLogStore(db)
        chain_audit_journal(outbox=outbox, log=store)
        metrics = VerifierMetrics()
        timing = timing or Timing(
            scan=settings.audit_verify_scan_seconds,
            checkpoint=settings.audit_checkpoint_seconds,
            reverify=settings.audit_reverify_seconds,
        )
        verifier = AuditVerifier(
            store=store,
            reader=AuditReader(db),
            states=VerifiedStates(db),
            audit=MongoAuditWriter(outbox=outbox),
            signer=settings.audit_signer(),
            metrics=metrics,
            timing=timing,
        )
        publisher = KafkaPublisher(
            settings.kafka_bootstrap_servers,
            client_id=APP_NAME,
            delivery_timeout=settings.backend_timeout,
        )
        consumer = AuditConsumer(
            settings.kafka_bootstrap_servers,
            group_id=settings.audit_verifier_group,
            handler=verifier.on_messages,
            offset_reset=offset_reset,
            timeout=settings.backend_timeout,
        )
        server = None
        if serve_http:
            app = create_app(
                metrics=metrics,
                last_active=lambda: verifier.last_activity,
                consuming=lambda: consumer.alive,
                # Several passes missed; a long first pass stores progress as it goes.
                stale_after=max(3 * timing.scan, 60.0) + 5 * settings.backend_timeout,
            )
            config = uvicorn.Config(
                app,
                host=settings.audit_verifier_host,
                port=settings.audit_verifier_port,
                log_config=None,
                access_log=False,
                lifespan="off",
                server_header=False,
            )
            server = uvicorn.Server(config)
        process = cls(
            settings=settings,
            client=client,
            verifier=verifier,
            consumer=consumer,
            publisher=publisher,
            relay=OutboxRelay(outbox, publisher, scan_interval=settings.outbox_scan_seconds)
            if relay
            else None,
            server=server,
        )
        try:
            await process._begin()
        except BaseException:
            await process.stop()
            raise
        return process

    async def _begin(self) -> None:
        await self.verifier.load()
        if self.relay is not None:
            self.tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        self.tasks.append(asyncio.create_task(self.verifier.run(), name="audit-passes"))
        self.consumer.start()
        if self.server is not None:
            serving = asyncio.create_task(self.server.serve(), name="verifier-http")
            self.tasks.append(serving)
            await self._listening(self.server, serving)
        logger.info(
            "audit verifier started",
            extra={
                "group": self.settings.audit_verifier_group,
                "port": self.settings.audit_verifier_port if self.server else None,
            },
        )

    async def _listening(self, server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
        """Return once /metrics and /healthz answer (a taken port fails the start here)."""
        deadline = asyncio.get_running_loop().time() + 10 * self.settings.backend_timeout
        while not server.started:
            if serving.done() or asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"the verifier's HTTP port {self.settings.audit_verifier_port} did not open"
                )
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop consuming and passing, deliver what is in flight, close the client."""
        if self.server is not None:
            self.server.should_exit = True
        await self.consumer.stop()
        await stop_tasks(self.tasks, except_named="verifier-http")
        await self.publisher.close(timeout=2.0)
        await self.client.close()
