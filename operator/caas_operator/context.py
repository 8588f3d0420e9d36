"""The operator's long-lived clients, opened at start-up and shared through kopf's memo."""

from dataclasses import dataclass
from typing import Final

import kopf
from lightkube import AsyncClient

from caas_core.adapters.clients import BackendClients
from caas_operator.settings import OperatorSettings

FIELD_MANAGER: Final = "caas-operator"
_MEMO_KEY: Final = "context"


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorContext:
    """Settings plus the Kubernetes and backend clients."""

    settings: OperatorSettings
    clients: BackendClients
    kube: AsyncClient

    @classmethod
    def open(cls, settings: OperatorSettings) -> "OperatorContext":
        """Create every client (lazily connecting; KUBECONFIG or in-cluster config)."""
        return cls(
            settings=settings,
            clients=BackendClients.open(settings, app_name=FIELD_MANAGER),
            kube=AsyncClient(field_manager=FIELD_MANAGER),
        )

    async def close(self) -> None:
        """Release every connection."""
        await self.clients.close()
        await self.kube.close()


def ensure(memo: kopf.Memo, settings: OperatorSettings) -> OperatorContext:
    """The context in the operator-wide memo (copied into every resource's), opened once."""
    existing = memo.get(_MEMO_KEY)
    if isinstance(existing, OperatorContext):
        return existing
    opened = OperatorContext.open(settings)
    memo[_MEMO_KEY] = opened
    return opened


async def close(memo: kopf.Memo) -> None:
    """Close the context if start-up got as far as opening it."""
    existing = memo.get(_MEMO_KEY)
    if isinstance(existing, OperatorContext):
        await existing.close()


async def discard(memo: kopf.Memo) -> None:
    """Close the context and forget it, so the next start-up attempt opens a fresh one."""
    await close(memo)
    memo.pop(_MEMO_KEY, None)


def load(memo: kopf.Memo) -> OperatorContext:
    """The context stored at start-up."""
    context = memo.get(_MEMO_KEY)
    if not isinstance(context, OperatorContext):
        raise TypeError("operator context missing: the start-up handler has not run")
    return context


def settings_of(memo: kopf.Memo) -> OperatorSettings:
    """The settings main() validated and handed to kopf."""
    settings = memo.get("settings")
    if not isinstance(settings, OperatorSettings):
        raise TypeError("operator settings missing from the memo")
    return settings
