"""The CAAS operator: reconciles Tenant resources into namespaces, databases, topics and ACLs."""
