"""Pure core of the control plane's runtime authentication: tokens, keys, refresh families, MFA."""
