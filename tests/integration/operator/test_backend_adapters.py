"""The operator's backend adapters against the real stack: principals, ACLs, users, topics."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer
from pymongo.errors import OperationFailure

from caas_core.adapters import kafka, mongo, redis
from caas_core.domain.kafka_acl import diff_acls, principal_of, tenant_acls
from caas_core.domain.naming import tenant_names
from caas_core.domain.redis_acl import AclUserSpec, categories_rules
from caas_core.domain.scram import password_matches
from caas_core.domain.topics import TopicSpec, topic_config
from tests.conftest import Stack


@pytest.fixture
def admin(stack: Stack) -> kafka.AdminClient:
    return kafka.connect(stack.kafka_bootstrap)


async def test_principal_acls_converge_and_report_extras(
    stack: Stack, admin: kafka.AdminClient
) -> None:
    user = f"it-acl-{uuid.uuid4().hex[:6]}"
    principal = principal_of(user)
    wanted = tenant_acls(username=user, prefix=f"tenant.{user}.")
    try:
        assert await kafka.authorizer_enabled(admin)
        assert not await kafka.scram_user_exists(admin, user)
        await kafka.upsert_scram_user(admin, user, password=secrets.token_urlsafe(16))
        assert await kafka.scram_user_exists(admin, user)
        await kafka.create_acls(admin, wanted)
        live = await kafka.describe_principal_acls(admin, principal)
        assert diff_acls(wanted, live.rules, foreign=live.foreign).converged
        # A hand-made extra grant and a removed one are both seen.
        extra = tenant_acls(username=user, prefix="tenant.other.")
        await kafka.create_acls(admin, list(extra)[:1])
        removed = sorted(wanted)[0]
        await kafka.delete_acl_bindings(
            admin, [b for b in live.bindings if b.name == removed.prefix][:1]
        )
        live = await kafka.describe_principal_acls(admin, principal)
        diff = diff_acls(wanted, live.rules, foreign=live.foreign)
        assert len(diff.missing) == 1
        assert len(diff.extra) == 1
        assert "tenant.other." in diff.extra[0]
    finally:
        await kafka.delete_principal_acls(admin, principal)
        await kafka.delete_scram_user(admin, user)
    assert not await kafka.scram_user_exists(admin, user)
    assert (await kafka.describe_principal_acls(admin, principal)).rules == frozenset()


async def test_named_topic_description_skips_missing_and_reports_corrections(
    stack: Stack, admin: kafka.AdminClient
) -> None:
    name = f"it.adapters.{uuid.uuid4().hex[:6]}"
    spec = TopicSpec(
        name=name, partitions=1, replication_factor=1, config=topic_config(retention_ms=3_600_000)
    )
    try:
        created = await kafka.ensure_topics(admin, [spec])
        assert created.created == (name,)
        assert set(await kafka.describe_named_topics(admin, [name, f"{name}.missing"])) == {name}
        changed = TopicSpec(
            name=name,
            partitions=2,
            replication_factor=1,
            config=topic_config(retention_ms=7_200_000),
        )
        report = await kafka.ensure_topics(admin, [changed])
        assert {(d.setting, d.actual) for d in report.corrected} == {
            ("partitions", "1"),
            ("retention.ms", "3600000"),
        }
        again = await kafka.ensure_topics(admin, [changed])
        assert (again.created, again.corrected, again.drifts) == ((), (), ())
    finally:
        await kafka.delete_topics(admin, [name])


async def test_redis_user_drift_is_found_and_corrected(stack: Stack) -> None:
    client = redis.connect(stack.redis_url)
    names = tenant_names(f"it-redis-{uuid.uuid4().hex[:6]}")
    spec = AclUserSpec(
        name=names.redis_user,
        key_pattern=names.redis_key_pattern,
        channel_pattern=names.redis_channel_pattern,
        categories=categories_rules(["read", "write"]),
    )
    try:
        assert (await redis.ensure_acl_user(client, spec, password="pw-1")).created
        assert not (await redis.ensure_acl_user(client, spec, password="pw-1")).changed
        await client.execute_command("ACL", "SETUSER", spec.name, "+@admin", "~*")
        report = await redis.ensure_acl_user(client, spec, password="pw-1")
        assert any("key patterns" in d for d in report.corrected), report
        assert not (await redis.ensure_acl_user(client, spec, password="pw-1")).changed
        assert (await redis.ensure_acl_user(client, spec, password="pw-2")).corrected == (
            "password differs from the credentials Secret",
        )
    finally:
        await redis.delete_acl_user(client, name=spec.name)
        await client.aclose()


async def test_tenant_mongo_user_is_made_corrected_and_never_adopted(stack: Stack) -> None:
    """ensure_user: creates readWrite on one database; restores changed roles; resets the
    password only when asked; refuses a user it did not make; drop_user removes it."""
    client = mongo.connect(stack.mongodb_uri)
    database, user = f"it_user_{uuid.uuid4().hex[:6]}", f"it-user-{uuid.uuid4().hex[:6]}"
    port = stack.conf.ports.mongo

    async def can_write(password: str) -> bool:
        own = mongo.connect(f"mongodb://{user}:{password}@127.0.0.1:{port}/?authSource={database}")
        try:
            await own[database].probe.insert_one({})
        except OperationFailure:
            return False
        finally:
            await own.close()
        return True

    def ensure(password: str, *, set_password: bool) -> Any:
        return mongo.ensure_user(
            client, database=database, username=user, password=password,
            set_password=set_password, marker={"tenant": "it"},
        )  # fmt: skip

    try:
        assert await mongo.users_supported(client, database=database)
        assert (await ensure("pw-1", set_password=False)).created
        assert await can_write("pw-1")
        assert (await ensure("pw-1", set_password=False)).corrected == ()
        await client[database].command(
            "updateUser", user, roles=[{"role": "readWriteAnyDatabase", "db": "admin"}]
        )
        assert (await ensure("pw-1", set_password=False)).corrected == ("roles",)
        assert (await ensure("pw-2", set_password=True)).corrected == ("password",)
        assert not await can_write("pw-1")
        assert await can_write("pw-2")
        # The server's SCRAM keys match the password we set, and no other (checked against the
        # server's own SCRAM implementation).
        info = await client[database].command({"usersInfo": user, "showCredentials": True})
        credentials = info["users"][0]["credentials"]
        assert password_matches("pw-2", credentials) is True
        assert password_matches("pw-1", credentials) is False
        # A password changed behind the operator's back is drift: found and reset.
        await client[database].command("updateUser", user, pwd="changed-by-hand")
        assert (await ensure("pw-2", set_password=False)).corrected == ("password",)
        assert await can_write("pw-2")
        assert (await ensure("pw-2", set_password=False)).corrected == ()
        assert await mongo.drop_user(client, database=database, username=user)
        assert not await mongo.drop_user(client, database=database, username=user)
        # Someone else's user of that name is never adopted.
        await client[database].command("createUser", user, pwd="theirs", roles=[])
        with pytest.raises(mongo.MongoUserNotOwnedError):
            await ensure("pw-3", set_password=True)
    finally:
        await mongo.drop_user(client, database=database, username=user)
        await client.drop_database(database)
        await client.close()


def test_scram_principal_is_confined_to_its_prefix(stack: Stack) -> None:
    """A principal with the tenant ACLs writes its own topic and is refused another's."""
    import asyncio  # noqa: PLC0415

    user = f"it-conf-{uuid.uuid4().hex[:6]}"
    password = secrets.token_urlsafe(16)
    own, other = f"tenant.{user}.events", f"tenant.not-{user}.events"
    admin = kafka.connect(stack.kafka_bootstrap)
    specs = [
        TopicSpec(name=t, partitions=1, replication_factor=1, config=topic_config(retention_ms=-1))
        for t in (own, other)
    ]

    async def setup() -> None:
        await kafka.ensure_topics(admin, specs)
        await kafka.upsert_scram_user(admin, user, password=password)
        await kafka.create_acls(admin, tenant_acls(username=user, prefix=f"tenant.{user}."))

    async def teardown() -> None:
        await kafka.delete_principal_acls(admin, principal_of(user))
        await kafka.delete_scram_user(admin, user)
        await kafka.delete_topics(admin, [own, other])

    asyncio.run(setup())
    try:
        producer = Producer(
            {
                "bootstrap.servers": stack.env["KAFKA_SASL_BOOTSTRAP_SERVERS"],
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": user,
                "sasl.password": password,
                "message.timeout.ms": 10000,
            }
        )
        errors: dict[str, str] = {}

        def report(err: object, msg: object) -> None:
            errors[msg.topic()] = "" if err is None else str(err)  # type: ignore[attr-defined]

        for topic in (own, other):
            try:
                producer.produce(topic, b"hello", on_delivery=report)
            except KafkaException as exc:
                errors[topic] = str(exc)
        producer.flush(15)
        assert errors[own] == ""
        assert "AUTHORIZATION" in errors[other].upper()
    finally:
        asyncio.run(teardown())
