"""kopf's own settings for this operator (applied in the start-up handler)."""

import logging
from typing import Final

import kopf

from caas_core.domain.naming import API_GROUP
from caas_operator.settings import OperatorSettings

FINALIZER: Final = f"{API_GROUP}/tenant-cleanup"
# kopf's own annotations live under a prefix of their own: kopf leaves annotations under its
# storage prefix out of the diffs it reacts to, and platform.caas.io/paused must be diffed.
KOPF_PREFIX: Final = f"kopf.{API_GROUP}"
# What kopf stored under platform.caas.io/ before it moved to KOPF_PREFIX (removed when seen).
LEGACY_KOPF_ANNOTATIONS: Final = (
    f"{API_GROUP}/kopf-managed",
    f"{API_GROUP}/last-handled-configuration",
)
LEGACY_PROGRESS_MARKER: Final = f"{API_GROUP}/caas_operator."
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
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    # Server-side watch timeouts keep watches from silently hanging on broken connections.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.connect_timeout = 10
    settings.networking.request_timeout = 60
    # Events are posted explicitly (caas_operator.events); kopf's per-handler log lines would
    # be one API write per reconcile of every tenant.
    settings.posting.loggers = False
    # A deleted Tenant keeps its finalizer until its timer has exited; a tick caught in the
    # middle of a reconcile is polled for this often (kopf's default is a minute).
    settings.background.cancellation_polling = 5


def legacy_annotations(annotations: dict[str, str] | None) -> list[str]:
    """kopf annotations left under the old prefix by an earlier operator version."""
    return [
        key
        for key in annotations or {}
        if key in LEGACY_KOPF_ANNOTATIONS or key.startswith(LEGACY_PROGRESS_MARKER)
    ]
