"""The operator's view of the shared endpoint store (`caas_core.adapters.webhook_store`)."""

from caas_core.adapters.webhook_store import (
    ForeignEndpointError,
    WebhookQuotaError,
    WebhookStore,
    resolve_host,
)

__all__ = ["ForeignEndpointError", "WebhookQuotaError", "WebhookStore", "resolve_host"]
