"""Pure: a Webhook's status fields and Ready message."""

from typing import Any, Final

from caas_core.domain.webhook_records import WebhookEndpoint
from caas_core.domain.webhook_urls import WebhookUrl

REGISTERED: Final = "Registered"


def ready_message(endpoint: WebhookEndpoint, verdict: WebhookUrl) -> str:
    """The Ready=True message."""
    events = ", ".join(endpoint.event_types)
    paused = "" if endpoint.enabled else " (delivery paused: spec.enabled is false)"
    addresses = ", ".join(verdict.addresses)
    ref = endpoint.secret_ref
    where = f"Secret {ref.name}" if ref is not None else "the REST store (sealed)"
    return (
        f"{endpoint.url} registered for {events}; {verdict.host} resolves to public "
        f"addresses only ({addresses}); signing secret in {where}"
        f"{paused}"
    )


def status_fields(
    *, tenant: str, secret: str, endpoint: WebhookEndpoint | None, verdict: Any
) -> dict[str, Any]:
    """The kind's own status fields (None clears a field)."""
    checked = verdict if isinstance(verdict, WebhookUrl) else None
    return {
        "tenant": tenant,
        "secretName": secret,
        "endpointId": endpoint.endpoint_id if endpoint else None,
        "host": checked.host if checked else None,
        "addresses": list(checked.addresses) if checked else [],
    }
