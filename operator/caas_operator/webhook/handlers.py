"""kopf wiring of Webhook: reconcile_webhook converges (the resync timer re-resolves the host
too: a name that now points somewhere private is unregistered), unregister_webhook releases."""

from caas_core.crd.webhook import NAMES
from caas_operator.context import OperatorContext
from caas_operator.settings import OperatorSettings
from caas_operator.shared.handlers import register_owned_kind
from caas_operator.webhook.reconcile import reconcile_webhook, unregister_webhook


async def _unregister(context: OperatorContext, uid: str) -> str:
    """Unregister the endpoint (its Secret goes with the resource by garbage collection)."""
    removed = await unregister_webhook(context, uid=uid)
    return "webhook endpoint unregistered" if removed else "no endpoint was registered"


def register(settings: OperatorSettings) -> None:
    """Register the Webhook handlers with kopf."""
    register_owned_kind(
        resync=settings.resync_seconds,
        plural=NAMES.plural,
        reconcile=reconcile_webhook,
        release=_unregister,
        reconcile_id="reconcile_webhook_resource",
        delete_id="delete_webhook_resource",
        failure="unregistering the endpoint failed",
    )
