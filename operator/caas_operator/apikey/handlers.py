"""kopf wiring of ApiKey: reconcile_api_key converges, revoke_api_key releases."""

from caas_core.crd.apikey import NAMES
from caas_operator.apikey.reconcile import reconcile_api_key, revoke_api_key
from caas_operator.context import OperatorContext
from caas_operator.settings import OperatorSettings
from caas_operator.shared.handlers import register_owned_kind


async def _revoke(context: OperatorContext, uid: str) -> str:
    """Revoke the resource's keys in the store (its Secret goes with it by garbage collection)."""
    return f"revoked {await revoke_api_key(context, uid=uid)} API key(s)"


def register(settings: OperatorSettings) -> None:
    """Register the ApiKey handlers with kopf."""
    register_owned_kind(
        resync=settings.resync_seconds,
        plural=NAMES.plural,
        reconcile=reconcile_api_key,
        release=_revoke,
        reconcile_id="reconcile_apikey",
        delete_id="delete_apikey",
        failure="revoking the key failed",
    )
