"""`/v1/security`: a tenant's authorization (objects CRUD, decisions, explanations, what-if)."""

from fastapi import APIRouter

from caas_control_plane.routers.security import decisions, objects

router = APIRouter()
# Decisions first: `POST /policies/what-if` must not be taken for a policy named `what-if`.
router.include_router(decisions.router)
router.include_router(objects.router)
