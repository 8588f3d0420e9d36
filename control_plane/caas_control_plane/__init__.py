"""The CAAS control plane: the FastAPI app (create_app) and its runtime APIs."""
