"""AccessPolicy: a tenant's authorization policies, checked, then written to the store."""
