"""What every kind shares, in a pure half and an I/O half.

Pure (no backend library, no kopf): `conditions` (condition names, step outcomes, backoff),
`ownership` (registry kinds, ownership and credential decisions), `scope` (the tenant of a
namespace), `status` (status and Ready events of the namespaced kinds), `retention_rules`
(which RetentionPolicy governs a data class).
I/O: `kube` (Kubernetes reads and writes), `registry` (the ownership registry in MongoDB),
`events` (Kubernetes Events), `outcomes` (exceptions into outcomes), `retention_policies`
(listing RetentionPolicies). kopf: `handlers` (the registration the namespaced kinds share).
"""
