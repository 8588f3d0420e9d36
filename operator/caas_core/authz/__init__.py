"""Authorization engine: Cedar-like permit/forbid policies, roles, grants, pure and compiled once.

Nothing here does I/O: stores, caches, HTTP and the decision log build on it from outside, so the
engine is tested exhaustively without servers and measured without noise.
"""
