"""Code shared by the CAAS operator and control plane: pure domain, resource models, adapters."""
