"""`caas-audit-verifier` / `python -m caas_control_plane.audit_verifier`: verify the audit logs
continuously until SIGTERM or SIGINT."""

from __future__ import annotations

import logging

from caas_control_plane.audit_verifier.runner import VerifierProcess
from caas_control_plane.process import run_until_signalled


def main() -> None:
    """Validate the environment (refusing unsafe settings), then verify until signalled."""
    run_until_signalled(
        name="caas-audit-verifier",
        start=VerifierProcess.start,
        logger=logging.getLogger("caas_control_plane.audit_verifier"),
    )


if __name__ == "__main__":
    main()
