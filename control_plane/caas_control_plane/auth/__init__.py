"""Pure core of the control plane's runtime authentication: tokens, keys, refresh families, MFA.

No I/O and no clock reads: callers pass `now`; only fresh secrets come from `secrets`/`os.urandom`.

- `signing`: EdDSA access tokens (compact JWS, RFC 8725) and the immutable, rotating `KeyRing`.
  Verification accepts only the exact header we write, found by one dict lookup on the raw
  first segment; anything else is explained on a slow path that always raises.
- `jwks`: the JWK Set for `/.well-known/jwks.json`; kids are RFC 7638 thumbprints.
- `sealing`: AES-256-GCM sealing of private signing keys under a KEK named by id.
- `refresh`: opaque refresh tokens and the family state machine (one explicit transition table).
- `totp`, `backup_codes`: RFC 6238 codes with replay protection; single-use recovery codes.
- API keys (`caas_sk_` format, storage hash, timing-safe check) live in `caas_core.domain.api_keys`,
  because the operator (ApiKey resources) and the control plane (REST) share one key store.

Shells (stores, routers) persist what these functions return; see each module for the contract,
e.g. refresh rotation must be written with compare-and-set on the previous current hash.
"""
