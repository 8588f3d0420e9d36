"""ApiKey: handlers (kopf) → reconcile (gather → plan → apply → status) → plan, status (pure)."""
