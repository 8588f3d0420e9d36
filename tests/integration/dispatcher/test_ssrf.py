"""SSRF at delivery, with the private-network switch off (the default): endpoints that slipped
past registration (written straight to the store here) or whose name started resolving to a
private address after registration (DNS rebinding) are refused at connect time, and no request
reaches the local receiver."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_core.adapters.webhook_resolver import WebhookResolver
from caas_core.adapters.webhook_store import WebhookStore
from caas_core.domain.webhook_urls import WebhookUrlError, validate_webhook_url
from tests.integration.dispatcher.support import Events, register, unique_tenant, until

PUBLIC = "93.184.215.14"  # a public unicast address (never contacted: refused before)


async def test_private_targets_are_refused_at_delivery(
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
    events: Events,
    db: Any,
    tmp_path: Path,
) -> None:
    tenant = unique_tenant("ssrf")
    receiver = receivers()
    hosts = tmp_path / "hosts"
    hosts.write_text(f"{PUBLIC} rebind.example.com\n")
    resolver = WebhookResolver(hosts_file=str(hosts), timeout=2.0)
    rebinding_url = f"http://rebind.example.com:{receiver.port}/hook"
    # Registration accepts the name while it resolves to a public address …
    checked = await validate_webhook_url(rebinding_url, allow_insecure_http=True, resolve=resolver)
    assert checked.addresses == (PUBLIC,)
    literals = {
        "loopback": receiver.url,
        "private": f"http://10.1.2.3:{receiver.port}/hook",
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "ipv6-loopback": f"http://[::1]:{receiver.port}/hook",
    }
    for url in literals.values():  # … and refuses every literal outright.
        with pytest.raises(WebhookUrlError):
            await validate_webhook_url(url, allow_insecure_http=True, resolve=resolver)
    endpoints = {
        name: (await register(store, sealer, tenant=tenant, url=url))[0].endpoint_id
        for name, url in {**literals, "rebinding": rebinding_url}.items()
    }
    # … then the name starts resolving to this machine.
    hosts.write_text("127.0.0.1 rebind.example.com\n")
    async with dispatcher(resolver=resolver, CAAS_WEBHOOK_ALLOW_PRIVATE_NETWORKS=""):
        events.publish(tenant)
        logged = {}
        for name, eid in endpoints.items():
            logged[name] = await until(
                lambda eid=eid: db["webhook_attempts"].find_one({"endpointId": eid}),
                what=f"the {name} attempt",
            )
    for name in literals:
        assert (logged[name]["failure"], logged[name]["state"]) == ("refused_literal", "dead")
    rebinding = logged["rebinding"]
    assert (rebinding["failure"], rebinding["state"]) == ("refused_address", "retrying")
    assert "127.0.0.1" in rebinding["detail"]
    assert "10.1.2.3" in logged["private"]["detail"]
    assert receiver.received == []
