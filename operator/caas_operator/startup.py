"""The operator's composition root: kopf's start-up and clean-up, and every kind's handlers.

`register` is called by `__main__` once the settings are valid; nothing registers with kopf at
import time.
"""

import asyncio
import logging
from typing import Any, Final

import kopf

from caas_operator import context
from caas_operator.accesspolicy import handlers as accesspolicy_handlers
from caas_operator.apikey import handlers as apikey_handlers
from caas_operator.kopf_settings import configure_kopf
from caas_operator.platform import ensure_platform
from caas_operator.retention import handlers as retention_handlers
from caas_operator.settings import OperatorSettings
from caas_operator.shared.conditions import retry_delay
from caas_operator.shared.outcomes import describe
from caas_operator.tenant import handlers as tenant_handlers
from caas_operator.webhook import handlers as webhook_handlers

logger = logging.getLogger(__name__)

_PLATFORM_TASK: Final = "platform-task"


async def start(*, settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Configure kopf, open the clients, and ensure the platform's database and topics.

    A backend that is down does not hold tenants back: the platform resources are retried in
    the background while tenants are reconciled with a truthful per-backend status.
    """
    operator_settings = context.settings_of(memo)
    configure_kopf(settings, operator_settings)
    opened = context.ensure(memo, operator_settings)
    memo[_PLATFORM_TASK] = asyncio.create_task(_ensure_platform(opened))


async def _ensure_platform(opened: context.OperatorContext) -> None:
    retry = 0
    while True:
        try:
            await ensure_platform(opened)
        except Exception as exc:  # retried with backoff; tenants do not wait for it
            delay = retry_delay(retry)
            logger.warning(
                "platform resources not ensured; retrying",
                extra={"error": describe(exc), "retry_in_seconds": delay},
            )
            retry += 1
            await asyncio.sleep(delay)
        else:
            return


async def stop(*, memo: kopf.Memo, **_: Any) -> None:
    """Stop the platform task and close every client."""
    task = memo.get(_PLATFORM_TASK)
    if isinstance(task, asyncio.Task):
        task.cancel()
    await context.close(memo)


def register(settings: OperatorSettings) -> None:
    """Register start-up, clean-up and every kind's handlers with kopf's default registry."""
    kopf.on.startup(id="start")(start)
    kopf.on.cleanup(id="stop")(stop)
    tenant_handlers.register(settings)
    apikey_handlers.register(settings)
    webhook_handlers.register(settings)
    retention_handlers.register(settings)
    accesspolicy_handlers.register(settings)
