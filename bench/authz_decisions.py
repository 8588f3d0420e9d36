"""Benchmark: authorization decisions of caas_core.authz against cedarpy and pycasbin.

    .venv/bin/python bench/authz_decisions.py

Same run, same RBAC policy set and requests for all three engines: a tenant → application →
channel tree, roles with inheritance whose permissions are scoped to application subtrees, users
holding one or two roles. Ours: compiled once, one `authorize` per request. cedarpy: parsed
`PolicySet` and `Entities` handles, one `is_authorized` per request (and its batch API for
throughput). pycasbin: an RBAC model with roles (`g`, inheritance included) and the resource
tree (`g2`), one `enforce` per request. Decisions must be identical across the three.
Then ours alone: p50 at 50, 500 and 5,000 policies, and with 100,000 resource grants added.
Targets: p50 at least 5x faster than both, p50 at 5,000 policies within 2x of p50 at 50.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import casbin  # type: ignore[import-untyped]
import cedarpy

from caas_core.authz import cedar
from caas_core.authz.entities import Entity, EntityGraph
from caas_core.authz.evaluate import Request, authorize
from caas_core.authz.index import compile_policy_set
from caas_core.authz.policy import ActionScope, Effect, EntityScope, Policy
from caas_core.authz.rbac import Grant, Role, grant_policies, with_roles
from caas_core.authz.values import Uid

T = "acme"
ACTIONS = ("read", "write", "delete", "list", "admin")
REQUESTS = int(os.environ.get("BENCH_AUTHZ_REQUESTS", "10000"))
SEED = 20261201
CASBIN_MODEL = """
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _
g2 = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && g2(r.obj, p.obj) && r.act == p.act
"""


@dataclass(frozen=True)
class World:
    """One benchmark world: policies, roles, entities and requests."""

    policies: list[Policy]
    roles: list[Role]
    entities: list[Entity]
    requests: list[Request]
    role_of: dict[Uid, list[str]]


def build_world(*, policies: int, requests: int, seed: int = SEED) -> World:
    """`policies` role permissions over 10 roles per 50 policies and 10 apps per 50 policies."""
    rng = random.Random(seed)
    n_roles, n_apps = max(policies // 5, 10), max(policies // 5, 10)
    tenant = Uid(T, "Tenant", T)
    apps = [Uid(T, "Application", f"a{i}") for i in range(n_apps)]
    channels = [Uid(T, "Channel", f"{a.id}c{j}") for a in apps for j in range(10)]
    roles = [
        Role(name=f"r{i}", inherits=(f"r{i - 1}",) if i % 5 else ())  # chains of five
        for i in range(n_roles)
    ]
    made = []
    for i in range(policies):
        role = roles[i % n_roles].name
        app = apps[rng.randrange(n_apps)]
        made.append(
            Policy(
                id=f"p{i}",
                effect=Effect.PERMIT,
                principal=EntityScope(op="in", entity=Uid(T, "Role", role)),
                action=ActionScope(op="==", actions=(rng.choice(ACTIONS),)),
                resource=EntityScope(op="in", entity=app),
            )
        )
    users = [Uid(T, "User", f"u{i}") for i in range(1000)]
    role_of = {u: rng.sample([r.name for r in roles[:50]], k=rng.randint(1, 2)) for u in users}
    entities = [Entity(uid=tenant)]
    entities += [Entity(uid=a, parents=(tenant,)) for a in apps]
    entities += [
        Entity(uid=c, parents=(Uid(T, "Application", c.id.split("c")[0]),)) for c in channels
    ]
    entities += [Entity(uid=u, parents=tuple(Uid(T, "Role", r) for r in role_of[u])) for u in users]
    entities = with_roles(tenant=T, entities=entities, roles=roles, assignments=())
    # Requests stay on the first 50-policy world's apps, so every size answers the same questions.
    first = [c for c in channels if int(c.id[1:].split("c")[0]) < 10]
    made_requests = [
        Request(principal=rng.choice(users), action=rng.choice(ACTIONS), resource=rng.choice(first))
        for _ in range(requests)
    ]
    return World(made, roles, entities, made_requests, role_of)


def percentiles(samples_ns: Sequence[int]) -> tuple[float, float, float]:
    """p50 and p99 in µs, and decisions per second (from the mean)."""
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2] / 1000
    p99 = ordered[int(len(ordered) * 0.99)] / 1000
    return p50, p99, 1e9 / statistics.fmean(ordered)


def timed(
    decide: Callable[[Request], bool], requests: Sequence[Request]
) -> tuple[list[bool], list[int]]:
    """Each decision timed on its own (perf_counter_ns around one call)."""
    answers, samples = [], []
    clock = time.perf_counter_ns
    for request in requests:
        started = clock()
        answer = decide(request)
        samples.append(clock() - started)
        answers.append(answer)
    return answers, samples


def ours(world: World) -> Callable[[Request], bool]:
    """Our engine, compiled once."""
    policy_set = compile_policy_set(
        tenant=T, version="1", policies=world.policies, actions=dict.fromkeys(ACTIONS, ())
    )
    graph = EntityGraph.build(tenant=T, entities=world.entities)
    return lambda r: authorize(policy_set=policy_set, entities=graph, request=r).allowed


def cedar_handles(world: World) -> tuple[cedarpy.PolicySet, cedarpy.Entities]:
    """cedarpy's pre-parsed PolicySet and Entities handles."""
    text = cedar.policies(world.policies)
    entities = json.dumps(cedar.entities(world.entities, dict.fromkeys(ACTIONS, ())))
    return cedarpy.PolicySet.from_str(text), cedarpy.Entities.from_json_str(entities)


def casbin_enforcer(world: World) -> casbin.Enforcer:
    """The same RBAC in pycasbin: p (role, app, action), g (user/role → role), g2 (tree)."""
    model = casbin.Model()
    model.load_model_from_text(CASBIN_MODEL)
    enforcer = casbin.Enforcer(model)
    for policy in world.policies:
        assert policy.principal.entity is not None
        assert policy.resource.entity is not None
        enforcer.add_policy(
            policy.principal.entity.id, policy.resource.entity.id, policy.action.actions[0]
        )
    for role in world.roles:
        for parent in role.inherits:
            enforcer.add_grouping_policy(role.name, parent)
    for user, held in world.role_of.items():
        for role_name in held:
            enforcer.add_grouping_policy(user.id, role_name)
    for entity in world.entities:
        if entity.uid.type in ("Application", "Channel"):
            for tree_parent in entity.parents:
                enforcer.add_named_grouping_policy("g2", entity.uid.id, tree_parent.id)
    return enforcer


def line(name: str, samples: Sequence[int], base: float | None = None) -> float:
    """Print one engine's figures; returns its p50."""
    p50, p99, rate = percentiles(samples)
    ratio = f"  ours is {p50 / base:.1f}x faster" if base else ""
    print(f"{name:44s} p50 {p50:8.2f} µs  p99 {p99:8.2f} µs  {rate:10,.0f} decisions/s{ratio}")
    return p50


def main() -> None:
    """Compare the three engines on the 50-policy world, then scale ours."""
    world = build_world(policies=50, requests=REQUESTS)
    mine = ours(world)
    cedar_policies, cedar_entities = cedar_handles(world)
    enforcer = casbin_enforcer(world)
    requests = world.requests
    mine(requests[0])  # warm caches (index, closures)
    our_answers, our_samples = timed(mine, requests)

    def cedar_one(r: Request) -> bool:
        return cedarpy.is_authorized(cedar.request(r), cedar_policies, cedar_entities).allowed

    cedar_json = [cedar.request(r) for r in requests]
    by_id = {id(r): j for r, j in zip(requests, cedar_json, strict=True)}
    cedar_answers, cedar_samples = timed(
        lambda r: cedarpy.is_authorized(by_id[id(r)], cedar_policies, cedar_entities).allowed,
        requests,
    )
    started = time.perf_counter_ns()
    batch = cedarpy.is_authorized_batch(cedar_json, cedar_policies, cedar_entities)
    batch_ns = (time.perf_counter_ns() - started) / len(requests)
    casbin_answers, casbin_samples = timed(
        lambda r: bool(enforcer.enforce(r.principal.id, r.resource.id, r.action)), requests
    )
    assert cedar_one(requests[0]) == our_answers[0]
    assert our_answers == cedar_answers == [b.allowed for b in batch] == casbin_answers, (
        "decisions differ"
    )
    allowed = sum(our_answers)
    print(f"50 policies, {len(requests):,} requests ({allowed:,} allowed); decisions identical")
    p50 = line("caas_core.authz (compiled, indexed)", our_samples)
    line("cedarpy is_authorized (PolicySet/Entities)", cedar_samples, p50)
    print(f"{'cedarpy is_authorized_batch (per decision)':44s} mean {batch_ns / 1000:7.2f} µs  "
          f"{1e9 / batch_ns:10,.0f} decisions/s")  # fmt: skip
    line("pycasbin enforce (RBAC, g + g2)", casbin_samples, p50)
    scaling(requests[: min(len(requests), 10000)], p50)


def scaling(requests: list[Request], p50_at_50: float) -> None:
    """Our p50 as the policy set grows, and with 100,000 grants on the same tree."""
    for size in (500, 5000):
        world = build_world(policies=size, requests=len(requests))
        _, samples = timed(ours(world), world.requests)
        p50 = line(f"ours, {size:,} policies", samples)
        print(f"{'':44s} {p50 / p50_at_50:.2f}x the p50 at 50 policies (target ≤ 2x)")
    world = build_world(policies=50, requests=len(requests))
    users = [e.uid for e in world.entities if e.uid.type == "User"]
    targets = [e.uid for e in world.entities if e.uid.type in ("Channel", "Application")]
    for count in (1_000, 100_000):
        rng = random.Random(SEED + count)
        grants = [
            Grant(
                id=str(i),
                principal=rng.choice(users),
                actions=(rng.choice(ACTIONS),),
                resource=rng.choice(targets),
            )
            for i in range(count)
        ]
        policies = [*world.policies, *grant_policies(grants=grants)]
        started = time.perf_counter()
        decide = ours(World(policies, world.roles, world.entities, world.requests, world.role_of))
        compile_s = time.perf_counter() - started
        _, samples = timed(decide, world.requests)
        p50 = line(f"ours, 50 policies + {count:,} grants", samples)
        print(
            f"{'':44s} {p50 / p50_at_50:.2f}x the p50 at 50 policies; compiled in {compile_s:.1f} s"
        )


if __name__ == "__main__":
    main()
