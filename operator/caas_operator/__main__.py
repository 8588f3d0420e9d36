"""`caas-operator` / `python -m caas_operator`: run the operator cluster-wide, standalone."""

import logging
import sys

import kopf
from pydantic import ValidationError

from caas_core.logs import configure_logging
from caas_core.settings import describe_validation_error
from caas_operator import metrics, startup
from caas_operator.settings import OperatorSettings


def main() -> None:
    """Validate the environment, then run kopf until SIGINT/SIGTERM."""
    try:
        settings = OperatorSettings()
    except ValidationError as exc:
        print(
            f"caas-operator: refusing to start: {describe_validation_error(exc)}", file=sys.stderr
        )
        sys.exit(2)
    # kopf's own set-up (asyncio's loggers quiet unless debugging), then one handler for every
    # record, kopf's included, in the format the control plane uses too (caas_core.logs).
    kopf.configure(verbose=settings.log_level == "debug")
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    if settings.log_level != "debug":
        # One INFO line per Kubernetes request drowns everything else out.
        logging.getLogger("httpx2").setLevel(logging.WARNING)
        # kopf logs every handler and timer success per object; our own "tenant reconciled"
        # line says more, once. Failures are warnings and errors, which still pass.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    metrics.serve(settings.metrics_port, address=settings.metrics_address)
    # Handlers are registered only now, with settings known to be valid.
    startup.register(settings)
    kopf.run(
        clusterwide=True,
        standalone=True,
        liveness_endpoint=settings.liveness_endpoint,
        memo=kopf.Memo(settings=settings),
    )


if __name__ == "__main__":
    main()
