"""Signing-secret rotation, sealing bound to the endpoint, and the hosts-file resolver."""

import ipaddress
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from caas_control_plane.auth.sealing import SealError
from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_core.adapters.webhook_resolver import WebhookResolver, parse_hosts
from caas_core.domain.webhook_records import (
    SecretRef,
    WebhookEndpoint,
    WebhookWriter,
    from_document,
    new_endpoint_id,
    new_signing_secret,
    to_document,
)
from caas_core.domain.webhook_secrets import (
    StoredSecret,
    current_secret,
    live_secrets,
    rotate,
)
from caas_core.domain.webhook_urls import WebhookUrlError, validate_webhook_url

pytestmark = pytest.mark.unit
NOW = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def secret(name: str, *, at: datetime = NOW, until: datetime | None = None) -> StoredSecret:
    return StoredSecret(sealed=f"sealed-{name}", fingerprint=name, created_at=at, expires_at=until)


def test_rotation_keeps_the_previous_secret_for_the_overlap_only() -> None:
    first = secret("a")
    rotated = rotate([first], secret("b", at=NOW + HOUR), now=NOW + HOUR, overlap=HOUR)
    assert [s.fingerprint for s in rotated] == ["b", "a"]
    assert rotated[1].expires_at == NOW + 2 * HOUR
    assert current_secret(rotated) == rotated[0]
    assert [s.fingerprint for s in live_secrets(rotated, now=NOW + HOUR)] == ["b", "a"]
    assert [s.fingerprint for s in live_secrets(rotated, now=NOW + 2 * HOUR)] == ["b"]
    # Two rotations inside one window: only the newest two sign.
    twice = rotate(rotated, secret("c", at=NOW + HOUR), now=NOW + HOUR, overlap=HOUR)
    assert [s.fingerprint for s in twice] == ["c", "b"]
    assert [s.fingerprint for s in rotate(twice, secret("d"), now=NOW, overlap=timedelta(0))] == [
        "d"
    ]
    with pytest.raises(ValueError, match="no expiry"):
        rotate([first], secret("x", until=NOW), now=NOW, overlap=HOUR)
    with pytest.raises(ValueError, match="negative"):
        rotate([first], secret("x"), now=NOW, overlap=-HOUR)


def test_sealed_secrets_open_only_for_their_endpoint_and_kek() -> None:
    keks = {"kek-a": b"\x01" * 16 + b"\x02" * 16, "kek-b": bytes(range(32))}
    sealer = WebhookSecretSealer(kek_id="kek-a", keks=keks)
    plaintext = new_signing_secret()
    sealed = sealer.seal(plaintext, endpoint_id="whep_1")
    assert plaintext not in sealed
    assert sealer.open(sealed, endpoint_id="whep_1") == plaintext
    with pytest.raises(SealError):
        sealer.open(sealed, endpoint_id="whep_2")
    # After a KEK rotation the old KEK still opens what it sealed.
    rotated = WebhookSecretSealer(kek_id="kek-b", keks=keks)
    assert rotated.open(sealed, endpoint_id="whep_1") == plaintext
    with pytest.raises(SealError):
        WebhookSecretSealer(kek_id="kek-b", keks={"kek-b": keks["kek-b"]}).open(
            sealed, endpoint_id="whep_1"
        )


def test_rest_endpoints_round_trip_with_sealed_secrets_and_no_secret_ref() -> None:
    endpoint = WebhookEndpoint(
        endpoint_id=new_endpoint_id(), tenant="acme", url="https://h.example.com/",
        event_types=("*",), enabled=True, secret_ref=None, secret_fingerprint="b",
        managed_by=WebhookWriter.API, created_at=NOW, updated_at=NOW,
        secrets=(secret("b"), secret("a", until=NOW + HOUR)),
    )  # fmt: skip
    assert endpoint.endpoint_id.startswith("whep_api_")
    doc = to_document(endpoint)
    assert doc["secretRef"] is None
    assert from_document(doc) == endpoint
    assert endpoint.owner == "the api"
    assert endpoint.delivering
    resource = replace(
        endpoint, endpoint_id="whep_uid", managed_by=WebhookWriter.OPERATOR, secrets=(),
        secret_ref=SecretRef(namespace="n", name="s", key="k"), secret_fingerprint="f",
        disabled_at=NOW, disabled_reason="410 Gone",
    )  # fmt: skip
    assert not resource.delivering
    assert from_document(to_document(resource)) == resource


def test_hosts_file_names_resolve_first_and_changes_are_seen(tmp_path: Path) -> None:
    assert parse_hosts(
        "# c\n10.0.0.1 a.example.com B.example.com. # x\n\n::1 a.example.com\nbad\n"
    ) == {
        "a.example.com": ("10.0.0.1", "::1"),
        "b.example.com": ("10.0.0.1",),
    }


async def test_the_resolver_rereads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("93.184.215.14 hooks.example.com\n")
    resolver = WebhookResolver(hosts_file=str(path), timeout=1.0)
    assert list(await resolver("hooks.example.com", 443)) == ["93.184.215.14"]
    path.write_text("10.1.2.3 hooks.example.com # now inside\n")
    assert list(await resolver("HOOKS.example.com.", 443)) == ["10.1.2.3"]
    path.unlink()
    missing = WebhookResolver(hosts_file=str(path), timeout=1.0)
    assert list(await missing("127.0.0.1", 443)) == ["127.0.0.1"]  # the system resolver


async def test_development_networks_pass_only_where_allowed() -> None:
    async def inside(host: str, port: int) -> Sequence[str]:
        return ["10.1.2.3"]

    local = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.1.0.0/16"))
    checked = await validate_webhook_url(
        "http://127.0.0.1:8080/hook", allow_insecure_http=True, resolve=inside,
        allow_networks=local,
    )  # fmt: skip
    assert checked.addresses == ("127.0.0.1",)
    named = await validate_webhook_url(
        "https://hooks.example.com/", allow_insecure_http=False, resolve=inside,
        allow_networks=local,
    )  # fmt: skip
    assert named.addresses == ("10.1.2.3",)
    for url in ("https://[::1]/", "https://169.254.169.254/", "https://10.2.0.1/"):
        with pytest.raises(WebhookUrlError):
            await validate_webhook_url(
                url, allow_insecure_http=False, resolve=inside, allow_networks=local
            )
