"""kopf wiring of AccessPolicy: reconcile_access_policy converges (the resync timer re-checks, so
a stored object changed behind the resource's back is put back), remove_access_policy releases."""

from caas_core.crd.accesspolicy import NAMES
from caas_operator.accesspolicy.reconcile import reconcile_access_policy, remove_access_policy
from caas_operator.context import OperatorContext
from caas_operator.settings import OperatorSettings
from caas_operator.shared.handlers import register_owned_kind


async def _remove(context: OperatorContext, uid: str) -> str:
    """Delete the resource's policies (and schema) from the store, in one transaction."""
    return f"removed {await remove_access_policy(context, uid=uid)} authorization object(s)"


def register(settings: OperatorSettings) -> None:
    """Register the AccessPolicy handlers with kopf."""
    register_owned_kind(
        resync=settings.resync_seconds,
        plural=NAMES.plural,
        reconcile=reconcile_access_policy,
        release=_remove,
        reconcile_id="reconcile_accesspolicy",
        delete_id="delete_accesspolicy",
        failure="removing the policies from the authorization store failed",
    )
