"""Fixtures: dispatchers in-process (or as processes) on the real stack, in a database of their
own (so a platform dispatcher started by `make run` never sees these tests' endpoints)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_control_plane.dispatcher.messages import EVENT_TOPICS, RETRY_TOPIC
from caas_control_plane.dispatcher.runner import DispatcherProcess
from caas_control_plane.runtime import keks
from caas_control_plane.settings import ApiSettings
from caas_core.adapters.webhook_store import WebhookStore
from caas_core.domain.webhook_urls import Resolver
from caasctl.stack.processes import Process
from tests.conftest import Stack, caasctl
from tests.integration.control_plane.conftest import (  # noqa: F401 - fixtures reused here
    api_env,
    make_settings,
    mongo,
    tenant_factory,
)
from tests.integration.dispatcher.support import Events, Receiver, start_group_at_end

DATABASE = "caas_it_dispatcher"
# Compressed schedule: four attempts, 0.3 s apart.
SCHEDULE = "0,0.3,0.3,0.3"


def dispatcher_env(stack: Stack, **overrides: str) -> dict[str, str]:
    """The environment of a test dispatcher (as a process reads it)."""
    defaults = {
        "MONGODB_URI": stack.mongodb_uri,
        "CAAS_ENV": "development",
        "CAAS_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
        "CAAS_WEBHOOK_ALLOW_INSECURE_HTTP": "true",
        "CAAS_WEBHOOK_RETRY_SCHEDULE": SCHEDULE,
        "CAAS_WEBHOOK_ENDPOINT_REFRESH_SECONDS": "0.3",
        "CAAS_WEBHOOK_TIMEOUT_SECONDS": "5",
        "CAAS_OUTBOX_SCAN_SECONDS": "0.5",
    }
    return api_env(stack, **{**defaults, **overrides})


def dispatcher_settings(stack: Stack, **overrides: str) -> ApiSettings:
    return make_settings(stack, **{**dispatcher_env(stack), **overrides})


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri, tz_aware=True)
    yield client[DATABASE]
    await client.close()


@pytest.fixture
def store(db: Any) -> WebhookStore:
    return WebhookStore(db)


@pytest.fixture
def sealer(stack: Stack) -> WebhookSecretSealer:
    kek_id, available = keks(dispatcher_settings(stack))
    return WebhookSecretSealer(kek_id=kek_id, keks=available)


@pytest.fixture
def events(stack: Stack) -> Iterator[Events]:
    publisher = Events(stack.kafka_bootstrap)
    yield publisher
    publisher.close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(secrets_: list[str] | None = None, **kwargs: Any) -> Receiver:
        receiver = Receiver(secrets=secrets_ or [], **kwargs)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def new_group(stack: Stack) -> Callable[[], str]:
    def make() -> str:
        group = f"it-webhooks-{secrets.token_hex(4)}"
        start_group_at_end(stack.kafka_bootstrap, group, (*EVENT_TOPICS, RETRY_TOPIC))
        return group

    return make


@pytest.fixture
def dispatcher(stack: Stack, new_group: Callable[[], str]) -> Callable[..., Any]:
    """`async with dispatcher(**settings) as process:` a dispatcher in this process."""

    @asynccontextmanager
    async def run(
        *,
        group: str | None = None,
        resolver: Resolver | None = None,
        serve_http: bool = False,
        **overrides: str,
    ) -> AsyncIterator[DispatcherProcess]:
        settings = dispatcher_settings(stack, **overrides)
        process = await DispatcherProcess.start(
            settings,
            database=DATABASE,
            serve_http=serve_http,
            resolver=resolver,
            group_id=group or new_group(),
        )
        try:
            process.consumer.assigned.wait(30)
            yield process
        finally:
            await process.stop()

    return run


@pytest.fixture
def platform_dispatcher_stopped(stack: Stack) -> Iterator[None]:
    """Tests whose endpoints live in caas_platform stop a platform dispatcher (`make run`) for
    their duration: it would attempt their endpoints too (and, without the test's private-network
    switch, log refusals in the attempt log those tests read)."""
    dispatcher = Process("caas-dispatcher", stack.conf.run_dir)
    was_running = dispatcher.stop()
    yield
    if was_running:
        result = caasctl("up")
        if result.returncode != 0:
            pytest.fail(f"restarting the platform failed:\n{result.stderr}", pytrace=False)
