"""RetentionPolicy: handlers (kopf) → reconcile (Kafka retention, sweeps) → plan, status (pure)."""
