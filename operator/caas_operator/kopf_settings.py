"""kopf's own settings for this operator (applied in the start-up handler)."""

import logging
from typing import Final

import kopf

from caas_core.domain.naming import API_GROUP
from caas_operator.settings import OperatorSettings

FINALIZER: Final = f"{API_GROUP}/tenant-cleanup"
_EVENT_LEVELS: Final = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_kopf(settings: kopf.OperatorSettings, operator: OperatorSettings) -> None:
    """Standalone, annotation-based state, our finalizer name, bounded API timeouts."""
    # One replica, no peering objects to install: leader election is the Deployment's job.
    settings.peering.standalone = True
    settings.posting.level = _EVENT_LEVELS[operator.event_level]
    settings.posting.reporting_component = "caas-operator"
    settings.persistence.finalizer = FINALIZER
    # Annotations, not status: the status schema is structural, so unknown keys there are
    # pruned by the API server and kopf's progress would be lost.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    # Server-side watch timeouts keep watches from silently hanging on broken connections.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.connect_timeout = 10
    settings.networking.request_timeout = 60
