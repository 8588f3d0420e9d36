"""The Tenant's provisioning: `apply.apply_plan` runs one step per backend (`kubernetes`,
`mongo`, `kafka`, `redis`); each reads and writes, the decisions are in `tenant.steps`."""
