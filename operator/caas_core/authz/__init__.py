"""Authorization engine: Cedar-like permit/forbid policies, roles, grants, pure and compiled once.

Nothing here does I/O: stores, caches, HTTP and the decision log build on it from outside, so the
engine is tested exhaustively without servers and measured without noise.

- `engine`: `TenantPolicies` → `build` → `Authorizer` (authorize, batch, explain, what-if);
  `decision_key` and `log_record` for the decision cache and the audit writer.
- `schema`, `parse`, `text`, `context`: a tenant's schema, its policies as JSON or Cedar-like
  text, and request contexts / entity attributes from JSON, refused at exact locations.
- `policy`, `rbac`, `entities`: the model (policies, templates, roles, assignments, grants,
  role grants on subtrees, entity hierarchy); `index`, `conditions`, `evaluate`: compile once,
  decide fast; `explain`, `whatif`: traces and flips.
- `platform`: the control plane's API-key scopes as built-in roles (`scope_allows`).
- `cedar`: export to Cedar text and entities JSON (the differential tests' bridge).
"""
