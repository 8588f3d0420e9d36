"""Hypothesis strategies for the differential test: a tenant's world, policies and contexts.

The world has fixed names (users, groups, roles, a tenant → application → channel tree) and
drawn attributes and edges; policies mix role permissions, resource grants and free policies
with drawn scopes and conditions (comparisons, sets, IP ranges, time windows, MFA age, `has`,
hierarchy membership, and expressions that fail at run time on purpose).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from caas_core.authz.entities import Entity
from caas_core.authz.index import action_entities
from caas_core.authz.policy import (
    ANY,
    ANY_ACTION,
    ActionScope,
    And,
    Binary,
    Clause,
    Effect,
    EntityScope,
    Expr,
    GetAttr,
    Has,
    Lit,
    Or,
    Policy,
    SetOf,
    Unary,
    Var,
)
from caas_core.authz.rbac import (
    Grant,
    Permission,
    Role,
    RoleGrant,
    grant_policies,
    role_grant_policies,
    role_policies,
    with_roles,
)
from caas_core.authz.values import DateTime, Duration, Uid, ip

T = "acme"
ACTIONS: dict[str, tuple[str, ...]] = {"read": ("view",), "list": ("view",), "write": ("edit",)}
ACTIONS |= {"delete": ("edit",), "admin": (), "view": (), "edit": ()}
LEAF_ACTIONS = ("read", "list", "write", "delete", "admin")
USERS = tuple(Uid(T, "User", f"u{i}") for i in range(8))
GROUPS = tuple(Uid(T, "Group", f"g{i}") for i in range(4))
ROLE_NAMES = ("r0", "r1", "r2", "r3")
ROLES = tuple(Uid(T, "Role", name) for name in ROLE_NAMES)
TENANT = Uid(T, "Tenant", "acme")
APPS = tuple(Uid(T, "Application", f"a{i}") for i in range(3))
CHANNELS = tuple(Uid(T, "Channel", f"c{i}") for i in range(8))
RESOURCES = (TENANT, *APPS, *CHANNELS)
WORDS = ("eng", "ops", "sales", "pro", "free", "enterprise")
CIDRS = ("10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/24", "0.0.0.0/0", "2001:db8::/32")
ADDRESSES = ("10.1.2.3", "10.200.0.1", "192.168.0.7", "8.8.8.8", "2001:db8::1")
BASE = datetime(2026, 3, 2, tzinfo=UTC)

principal, resource, context, action = (
    Var(name="principal"),
    Var(name="resource"),
    Var(name="context"),
    Var(name="action"),
)


def _get(obj: Var, name: str) -> GetAttr:
    return GetAttr(obj=obj, attr=name)


@st.composite
def world(draw: st.DrawFn) -> tuple[list[Role], list[Entity]]:
    """Roles (inheriting only earlier roles: no cycles) and the entities with drawn attributes."""
    roles = []
    for i, name in enumerate(ROLE_NAMES):
        inherits = draw(st.lists(st.sampled_from(ROLE_NAMES[:i]), unique=True)) if i else []
        perms = draw(st.lists(_permission(), min_size=1, max_size=2))
        roles.append(Role(name=name, permissions=tuple(perms), inherits=tuple(inherits)))
    entities = [Entity(uid=TENANT, attrs={"plan": draw(st.sampled_from(WORDS))})]
    entities.extend(
        Entity(uid=app, attrs={"owner": draw(st.sampled_from(USERS))}, parents=(TENANT,))
        for app in APPS
    )
    for channel in CHANNELS:
        channel_attrs = {
            "owner": draw(st.sampled_from(USERS)),
            "classification": draw(st.integers(0, 4)),
            "public": draw(st.booleans()),
        }
        parents = draw(st.lists(st.sampled_from(APPS), min_size=1, max_size=2, unique=True))
        entities.append(Entity(uid=channel, attrs=channel_attrs, parents=tuple(parents)))
    for i, group in enumerate(GROUPS):
        parents = draw(st.lists(st.sampled_from(GROUPS[:i]), unique=True)) if i else []
        entities.append(Entity(uid=group, parents=tuple(parents)))
    for user in USERS:
        attrs: dict[str, object] = {"level": draw(st.integers(0, 5)), "active": draw(st.booleans())}
        if draw(st.booleans()):
            attrs["dept"] = draw(st.sampled_from(WORDS))
        attrs["tags"] = frozenset(draw(st.lists(st.sampled_from(WORDS), max_size=3)))
        parents = draw(st.lists(st.sampled_from((*GROUPS, *ROLES)), max_size=3, unique=True))
        entities.append(Entity(uid=user, attrs=attrs, parents=tuple(parents)))
    entities = with_roles(tenant=T, entities=entities, roles=roles, assignments=())
    return roles, [*entities, *action_entities(tenant=T, actions=ACTIONS)]


def _actions() -> st.SearchStrategy[ActionScope]:
    names = sorted(ACTIONS)
    return st.one_of(
        st.just(ANY_ACTION),
        st.builds(lambda a: ActionScope(op="==", actions=(a,)), st.sampled_from(names)),
        st.builds(
            lambda a: ActionScope(op="in", actions=tuple(a)),
            st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True),
        ),
    )


def _scope(ids: tuple[Uid, ...], types: tuple[str, ...]) -> st.SearchStrategy[EntityScope]:
    return st.one_of(
        st.just(ANY),
        st.builds(lambda u: EntityScope(op="==", entity=u), st.sampled_from(ids)),
        st.builds(lambda u: EntityScope(op="in", entity=u), st.sampled_from(ids)),
        st.builds(lambda t: EntityScope(op="is", type=t), st.sampled_from(types)),
        st.builds(
            lambda t, u: EntityScope(op="is", type=t, entity=u),
            st.sampled_from(types),
            st.sampled_from(ids),
        ),
    )


def _permission() -> st.SearchStrategy[Permission]:
    return st.builds(
        Permission,
        actions=st.lists(st.sampled_from(sorted(ACTIONS)), min_size=1, max_size=2, unique=True).map(
            tuple
        ),
        resource=_scope((TENANT, *APPS), ("Channel", "Application")),
    )


def _ms(hours: int) -> Lit:
    return Lit(Duration(hours * 3_600_000))


def _leaf() -> st.SearchStrategy[Expr]:
    longs = st.sampled_from(
        (_get(principal, "level"), _get(context, "mfa_level"), _get(resource, "classification"))
    )
    cmp = st.sampled_from(("<", "<=", ">", ">=", "==", "!="))
    time = Unary(op="toTime", arg=_get(context, "now"))
    age = Binary(op="durationSince", left=_get(context, "now"), right=_get(context, "mfa_at"))
    words = st.sampled_from(WORDS)
    return st.one_of(
        st.builds(
            lambda a, op, n: Binary(op=op, left=a, right=Lit(n)), longs, cmp, st.integers(0, 5)
        ),
        st.builds(
            lambda op: Binary(
                op=op, left=_get(principal, "level"), right=_get(resource, "classification")
            ),
            cmp,
        ),
        st.builds(lambda w: Binary(op="==", left=_get(principal, "dept"), right=Lit(w)), words),
        st.builds(lambda w: Binary(op="!=", left=_get(context, "plan"), right=Lit(w)), words),
        st.just(Binary(op="==", left=_get(resource, "owner"), right=principal)),
        st.builds(
            lambda w: Binary(op="contains", left=_get(principal, "tags"), right=Lit(w)), words
        ),
        st.builds(
            lambda op, ws: Binary(op=op, left=_get(principal, "tags"), right=Lit(frozenset(ws))),
            st.sampled_from(("containsAny", "containsAll")),
            st.lists(words, max_size=3),
        ),
        st.builds(
            lambda ws: Binary(op="contains", left=Lit(frozenset(ws)), right=_get(context, "plan")),
            st.lists(words, max_size=3),
        ),
        st.builds(
            lambda c: Binary(op="isInRange", left=_get(context, "ip"), right=Lit(ip(c))),
            st.sampled_from(CIDRS),
        ),
        st.builds(
            lambda a, b: And(
                left=Binary(op=">=", left=time, right=_ms(a)),
                right=Binary(op="<", left=time, right=_ms(b)),
            ),
            st.integers(0, 23),
            st.integers(1, 24),
        ),
        st.builds(
            lambda h: Binary(
                op="<", left=_get(context, "now"), right=Lit(DateTime.of(BASE + timedelta(hours=h)))
            ),
            st.integers(0, 48),
        ),
        st.builds(
            lambda s: Binary(op="<=", left=age, right=Lit(Duration(s * 1000))),
            st.sampled_from((60, 300, 900, 3600)),
        ),
        st.sampled_from(
            (
                _get(context, "device_trusted"),
                _get(resource, "public"),  # absent on applications and the tenant: an error
                _get(principal, "active"),
                Has(obj=principal, attr="dept"),
                Has(obj=context, attr="mfa_at"),
                Binary(op="<", left=_get(principal, "dept"), right=Lit(3)),  # a type error
            )
        ),
        st.builds(
            lambda u: Binary(op="in", left=principal, right=Lit(u)),
            st.sampled_from((*GROUPS, *ROLES)),
        ),
        st.builds(lambda u: Binary(op="in", left=resource, right=Lit(u)), st.sampled_from(APPS)),
        st.builds(
            lambda g: Binary(op="in", left=action, right=Lit(Uid(T, "Action", g))),
            st.sampled_from(("view", "edit")),
        ),
        st.builds(
            lambda us: Binary(
                op="in", left=principal, right=SetOf(items=tuple(Lit(u) for u in us))
            ),
            st.lists(st.sampled_from((*GROUPS, *USERS)), min_size=1, max_size=3),
        ),
    )


_LEAF = _leaf()


def condition(depth: int = 2) -> st.SearchStrategy[Expr]:
    """A Bool-valued condition, nested up to `depth` levels of `&&`, `||` and `!`."""
    if depth == 0:
        return _LEAF
    sub = condition(depth - 1)
    return st.one_of(
        _LEAF,
        _LEAF,
        st.builds(lambda a, b: And(left=a, right=b), sub, sub),
        st.builds(lambda a, b: Or(left=a, right=b), sub, sub),
        st.builds(lambda a: Unary(op="!", arg=a), sub),
    )


_CONDITION = condition()
_CLAUSES = st.lists(
    st.builds(Clause, kind=st.sampled_from(("when", "unless")), expr=_CONDITION), max_size=2
)
_PRINCIPAL_SCOPE = _scope((*USERS, *GROUPS, *ROLES), ("User", "Group"))
_RESOURCE_SCOPE = _scope((TENANT, *APPS, *CHANNELS), ("Channel", "Application", "Tenant"))
_ACTION_SCOPE = _actions()


@st.composite
def free_policy(draw: st.DrawFn, number: int) -> Policy:
    """A policy with drawn effect, scopes and up to two `when`/`unless` clauses."""
    clauses = draw(
        st.lists(
            st.builds(Clause, kind=st.sampled_from(("when", "unless")), expr=condition()),
            max_size=2,
        )
    )
    return Policy(
        id=f"p{number}",
        effect=draw(st.sampled_from((Effect.PERMIT, Effect.PERMIT, Effect.FORBID))),
        principal=draw(_PRINCIPAL_SCOPE),
        action=draw(_ACTION_SCOPE),
        resource=draw(_RESOURCE_SCOPE),
        conditions=tuple(clauses),
    )


@st.composite
def policy_set(draw: st.DrawFn, roles: list[Role], size: int) -> list[Policy]:
    """Role permissions, resource grants, role grants on subtrees, and free policies up to
    `size` policies."""
    grants = [
        Grant(
            id=f"g{i}",
            principal=draw(st.sampled_from((*USERS, *GROUPS))),
            actions=tuple(
                draw(st.lists(st.sampled_from(LEAF_ACTIONS), min_size=1, max_size=2, unique=True))
            ),
            resource=draw(st.sampled_from(RESOURCES)),
        )
        for i in range(draw(st.integers(3, 8)))
    ]
    role_grants = [
        RoleGrant(
            id=f"rg{i}",
            principal=draw(st.sampled_from((*USERS, *GROUPS))),
            role=draw(st.sampled_from(ROLE_NAMES)),
            resource=draw(st.sampled_from(RESOURCES)),
        )
        for i in range(draw(st.integers(1, 3)))
    ]
    fixed = [
        *role_policies(tenant=T, roles=roles),
        *grant_policies(grants=grants),
        *role_grant_policies(roles=roles, grants=role_grants),
    ]
    return [*fixed, *(draw(free_policy(i)) for i in range(max(size - len(fixed), 0)))]


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, object]:
    """A request context; some attributes are sometimes absent (policies using them error)."""
    now = BASE + timedelta(hours=draw(st.integers(0, 47)), minutes=draw(st.integers(0, 59)))
    full: dict[str, object] = {
        "now": DateTime.of(now),
        "mfa_at": DateTime.of(now - timedelta(seconds=draw(st.integers(0, 4000)))),
        "mfa_level": draw(st.integers(0, 3)),
        "ip": ip(draw(st.sampled_from(ADDRESSES))),
        "device_trusted": draw(st.booleans()),
        "plan": draw(st.sampled_from(WORDS)),
    }
    dropped = draw(st.lists(st.sampled_from(sorted(full)), max_size=1))
    return {key: value for key, value in full.items() if key not in dropped}
