"""The composition root of `caas-dispatcher`: clients, the endpoint directory, the engine, its
consumer, an outbox relay and the HTTP port, started and stopped together.

The process runs an outbox relay of its own (chained to the audit log like every relay), so the
`webhook.endpoint_disabled` events it raises are published even when no API instance runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from lightkube import AsyncClient

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_control_plane.dispatcher.client import WebhookClient
from caas_control_plane.dispatcher.consumer import DispatchConsumer
from caas_control_plane.dispatcher.endpoints import DeliveryOptions, EndpointDirectory
from caas_control_plane.dispatcher.engine import Engine, EngineConfig
from caas_control_plane.dispatcher.http import create_app
from caas_control_plane.dispatcher.metrics import DispatcherMetrics
from caas_control_plane.dispatcher.schedule import RetrySchedule
from caas_control_plane.dispatcher.targets import TargetPolicy
from caas_control_plane.process import stop_tasks
from caas_control_plane.runtime import keks
from caas_control_plane.settings import ApiSettings
from caas_control_plane.stores.webhook_attempts import WebhookAttemptLog
from caas_core.adapters import mongo
from caas_core.adapters.audit import chain_audit_journal
from caas_core.adapters.auditlog_store import AuditLogStore
from caas_core.adapters.outbox import KafkaPublisher, OutboxRelay, OutboxStore
from caas_core.adapters.webhook_resolver import WebhookResolver
from caas_core.adapters.webhook_secrets import EndpointSecrets, kubernetes_secret_reader
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.domain.webhook_urls import Resolver

logger = logging.getLogger(__name__)

APP_NAME = "caas-dispatcher"


def engine_config(settings: ApiSettings) -> EngineConfig:
    """The delivery policy the settings describe."""
    return EngineConfig(
        schedule=RetrySchedule.parse(
            settings.webhook_retry_schedule,
            retry_after_max=settings.webhook_retry_after_max_seconds,
        ),
        disable_after=settings.webhook_disable_after_seconds,
        defaults=DeliveryOptions(
            max_concurrency=settings.webhook_max_concurrency,
            rate_per_second=settings.webhook_rate_limit_per_second or None,
            ordered=False,
        ),
    )


def _kubernetes() -> AsyncClient | None:
    """A Kubernetes client for operator endpoints' Secrets, when this process has a config."""
    try:
        return AsyncClient()
    except Exception as exc:  # no kubeconfig, no service account: REST endpoints still work
        logger.warning("no Kubernetes access; operator endpoints cannot be signed", extra={
            "error": str(exc)[:200]})  # fmt: skip
        return None


@dataclass(kw_only=True)
class DispatcherProcess:
    """Everything the dispatcher process runs, and what `stop` must undo."""

    settings: ApiSettings
    client: mongo.MongoClient
    directory: EndpointDirectory
    engine: Engine
    consumer: DispatchConsumer
    publisher: KafkaPublisher
    relay: OutboxRelay
    attempts: WebhookAttemptLog
    metrics: DispatcherMetrics
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
        resolver: Resolver | None = None,
        group_id: str | None = None,
    ) -> DispatcherProcess:
        """Connect, read the endpoints, start consuming."""
        client = mongo.connect(
            settings.mongodb_uri.get_secret_value(),
            timeout=settings.backend_timeout,
            app_name=APP_NAME,
        )
        db = client[database]
        outbox = OutboxStore(db)
        chain_audit_journal(outbox=outbox, log=AuditLogStore(db))
        metrics = DispatcherMetrics()
        config = engine_config(settings)
        directory = EndpointDirectory(
            db,
            outbox=outbox,
            defaults=config.defaults,
            refresh_seconds=settings.webhook_endpoint_refresh_seconds,
        )
        kek_id, available = keks(settings)
        kube = _kubernetes()
        secrets = EndpointSecrets(
            sealer=WebhookSecretSealer(kek_id=kek_id, keks=available),
            read_secret=None if kube is None else kubernetes_secret_reader(kube),
        )
        attempts = WebhookAttemptLog(db, ttl_seconds=settings.webhook_attempt_ttl_days * 86_400)
        publisher = KafkaPublisher(
            settings.kafka_bootstrap_servers,
            client_id=APP_NAME,
            delivery_timeout=settings.backend_timeout,
        )
        engine = Engine(
            directory=directory,
            secrets=secrets,
            client=WebhookClient(
                policy=TargetPolicy.parse(settings.webhook_allow_private_networks),
                timeout=settings.webhook_timeout_seconds,
                # Names resolve as at registration: the hosts file (split-horizon deployments)
                # first, then DNS; whatever they give is vetted the same way.
                resolver=resolver
                or WebhookResolver(
                    hosts_file=settings.webhook_hosts_file,
                    timeout=settings.webhook_timeout_seconds,
                ),
                allow_insecure_http=settings.webhook_allow_insecure_http,
            ),
            log=attempts,
            publisher=publisher,
            config=config,
            metrics=metrics,
        )
        consumer = DispatchConsumer(
            settings.kafka_bootstrap_servers,
            group_id=group_id or settings.dispatcher_group,
            engine=engine,
            metrics=metrics,
            max_in_flight=settings.dispatcher_max_in_flight,
            offset_reset=offset_reset,
            timeout=settings.backend_timeout,
            # Longer than an attempt's deadline: a revoked partition's requests finish here.
            drain_seconds=settings.webhook_timeout_seconds + 5,
        )
        server = None
        if serve_http:
            app = create_app(
                metrics=metrics,
                consuming=lambda: consumer.alive,
                endpoints_read=lambda: directory.loaded_at,
                stale_after=max(60.0, 6 * settings.webhook_endpoint_refresh_seconds),
            )
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host=settings.dispatcher_host,
                    port=settings.dispatcher_port,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                    server_header=False,
                )
            )
        process = cls(
            settings=settings,
            client=client,
            directory=directory,
            engine=engine,
            consumer=consumer,
            publisher=publisher,
            relay=OutboxRelay(outbox, publisher, scan_interval=settings.outbox_scan_seconds),
            attempts=attempts,
            metrics=metrics,
            server=server,
        )
        try:
            await process._begin()
        except BaseException:
            await process.stop()
            raise
        return process

    async def _begin(self) -> None:
        await self.attempts.ensure_indexes()
        await self.directory.load()
        self.tasks.append(asyncio.create_task(self.directory.run(), name="endpoints"))
        self.tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        self.consumer.start()
        if self.server is not None:
            self.tasks.append(asyncio.create_task(self.server.serve(), name="dispatcher-http"))
        logger.info(
            "webhook dispatcher started",
            extra={
                "group": self.settings.dispatcher_group,
                "port": self.settings.dispatcher_port if self.server else None,
            },
        )

    async def stop(self) -> None:
        """Stop consuming (in-flight attempts finish and are committed), then close."""
        if self.server is not None:
            self.server.should_exit = True
        await self.consumer.stop()
        await stop_tasks(self.tasks, except_named="dispatcher-http")
        await self.engine.close()
        await self.publisher.close(timeout=2.0)
        await self.client.close()
