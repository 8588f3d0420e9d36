"""Generate the platform's CRDs from the resource models, and check committed copies for drift."""

from caas_core.crd.render import check_crds, render_crds, write_crds

__all__ = ["check_crds", "render_crds", "write_crds"]
