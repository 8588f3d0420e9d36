"""The operator's copy of a Tenant's plan, on the real Mongo server."""

import uuid
from datetime import UTC, datetime

from caas_core.adapters import mongo, tenant_profiles
from tests.conftest import Stack


async def test_plan_is_written_once_and_other_fields_are_kept(stack: Stack) -> None:
    client = mongo.connect(stack.mongodb_uri)
    database = client[f"it_profiles_{uuid.uuid4().hex[:8]}"]
    now = datetime.now(UTC).replace(microsecond=0)
    plan = {"tier": "Standard", "maxApiKeys": 10, "rateLimit": {"requestsPerSecond": 50}}
    try:
        assert await tenant_profiles.sync_plan(database, tenant="acme", plan=plan, now=now)
        assert not await tenant_profiles.sync_plan(database, tenant="acme", plan=plan, now=now)
        # The control plane's own fields survive a plan change.
        await database[tenant_profiles.COLLECTION].update_one(
            {"_id": "acme"}, {"$set": {"displayName": "Acme"}}
        )
        changed = {**plan, "maxApiKeys": 3}
        assert await tenant_profiles.sync_plan(database, tenant="acme", plan=changed, now=now)
        doc = await database[tenant_profiles.COLLECTION].find_one({"_id": "acme"})
        assert doc is not None
        assert (doc["plan"], doc["displayName"]) == (changed, "Acme")
    finally:
        await client.drop_database(database.name)
        await client.close()
