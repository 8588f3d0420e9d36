"""caasctl: the developer CLI that runs the real local stack and the platform on it."""
