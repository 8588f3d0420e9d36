"""caas-dispatcher: delivers the platform's and tenants' events to registered webhook endpoints.

Pure core (no I/O): `signing`, `schedule`, `outcomes`, `messages`, `offsets`, `limits`,
`targets`. Shell: `client` (the pinned HTTP POST), `attempts` and `endpoints` (MongoDB),
`consumer` (Kafka), `engine` (the orchestration), `runner` (the composition root).
"""
