"""E2E fixtures for the control plane: tenants and keys as in the integration layer."""

from tests.integration.control_plane.conftest import mongo, tenant, tenant_factory

__all__ = ["mongo", "tenant", "tenant_factory"]
