"""The pure core: naming, conditions, topic and collection layouts; no I/O, no backend clients."""
