"""Tenant: handlers (kopf) → reconcile / deletion (gather → plan → provision → status) →
plan, steps, status (pure). Provisioning: one module per backend in `provision/`."""
