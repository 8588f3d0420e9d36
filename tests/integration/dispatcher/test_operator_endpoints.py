"""An endpoint of a Webhook resource: its signing secret lives in a Kubernetes Secret (never in
MongoDB), which the dispatcher reads with its own `get` to sign; the receiver verifies with
the `standardwebhooks` library."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from caas_core.adapters.webhook_store import WebhookStore
from caas_core.domain.webhook_records import (
    SecretRef,
    WebhookEndpoint,
    WebhookSource,
    WebhookWriter,
    endpoint_id,
    fingerprint,
    new_signing_secret,
)
from tests.conftest import Stack
from tests.integration.dispatcher.support import Events, await_for, unique_tenant


async def test_a_webhook_resources_endpoint_is_signed_with_its_kubernetes_secret(
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    events: Events,
) -> None:
    monkeypatch.setenv("KUBECONFIG", stack.kubeconfig)  # the dispatcher's Kubernetes access
    kube = AsyncClient(config=KubeConfig.from_file(stack.kubeconfig))
    tenant = unique_tenant("kube")
    namespace = f"it-{tenant}"
    secret = new_signing_secret()
    await kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    try:
        await kube.create(
            Secret(
                metadata=ObjectMeta(name="hook-signing", namespace=namespace),
                data={"signingSecret": base64.b64encode(secret.encode()).decode()},
            )
        )
        receiver = receivers([secret])
        uid = secrets.token_hex(8)
        now = datetime.now(UTC)
        await store.register(
            WebhookEndpoint(
                endpoint_id=endpoint_id(uid), tenant=tenant, url=receiver.url,
                event_types=("*",), enabled=True,
                secret_ref=SecretRef(namespace=namespace, name="hook-signing", key="signingSecret"),
                secret_fingerprint=fingerprint(secret), managed_by=WebhookWriter.OPERATOR,
                created_at=now, updated_at=now,
                source=WebhookSource(namespace=namespace, name="hook", uid=uid), generation=1,
            ),
            writer=WebhookWriter.OPERATOR,
        )  # fmt: skip
        async with dispatcher():
            ids = events.publish(tenant, 2)
            await await_for(lambda: receiver.event_ids() == set(ids), what="the deliveries")
        assert all(r.verified_with == (0,) for r in receiver.received)
    finally:
        await kube.delete(Namespace, namespace)
        await kube.close()
