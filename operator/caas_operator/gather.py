"""Read what already exists for a tenant before planning (the only reads of a reconcile)."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from caas_core.domain.naming import TenantNames
from caas_operator import kube
from caas_operator.context import OperatorContext


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """The current state the plan depends on."""

    # repr=False: holds the Redis password.
    credentials: Mapping[str, str] | None = field(default=None, repr=False)


async def gather(context: OperatorContext, names: TenantNames) -> Observed:
    """Read the credentials Secret (absent on first reconcile)."""
    credentials = await kube.read_secret_data(
        context.kube, namespace=names.namespace, name=names.credentials_secret
    )
    return Observed(credentials=credentials)
