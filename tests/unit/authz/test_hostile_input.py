"""Hostile documents: arbitrary text, JSON and mutated policies or schemas are read or refused
with a located error, never a crash (the REST layer turns the refusal into a 4xx)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from caas_core.authz.context import entities_from_json, record_from_json
from caas_core.authz.parse import parse_policy
from caas_core.authz.schema import DocumentError, parse_schema
from caas_core.authz.text import parse_text
from tests.unit.authz.test_parse import SCHEMA, SCHEMA_DOC, _policy


def _refusal(read: Callable[[], object]) -> list[str]:
    """The locations of a refusal's errors; none if the document was read. Anything but a
    DocumentError propagates and fails the test."""
    try:
        read()
    except DocumentError as error:
        return [where for where, _ in error.errors] or ["(no location)"]
    return []


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(["op", "var"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["op", "id", "effect", "left", "right", "args", "of", "attr", "value"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list('permit(principal,action resource)when{}"&|!.<=>[]:;@id 1-')),
        max_size=80,
    )
)
def test_arbitrary_text_is_read_or_refused_never_crashes(text: str) -> None:
    refused = _refusal(lambda: parse_text(text, tenant="acme", schema=SCHEMA))
    assert all(re.fullmatch(r"\d+:\d+", where) for where in refused)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(doc=_JSON)
def test_arbitrary_json_is_read_or_refused_never_crashes(doc: object) -> None:
    refused = _refusal(lambda: parse_policy(doc, tenant="acme", schema=SCHEMA))
    assert all(where == "" or where.startswith("/") for where in refused)


def _paths(node: object, at: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [at]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*at, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += _paths(child, (*at, i))
    return found


@settings(max_examples=400, derandomize=True, deadline=None)
@given(data=st.data())
def test_a_valid_policy_with_any_part_replaced_is_read_or_refused(data: st.DataObject) -> None:
    doc: Any = _policy()
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(_JSON)
    refused = _refusal(lambda: parse_policy(doc, tenant="acme", schema=SCHEMA))
    assert len(refused) <= 1
    assert all(where.startswith("/") for where in refused)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(data=st.data())
def test_a_schema_with_any_part_replaced_is_read_or_refused(data: st.DataObject) -> None:
    doc: Any = copy.deepcopy(SCHEMA_DOC)
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(_JSON)
    refused = _refusal(lambda: parse_schema(doc))
    assert all(where.startswith("/") for where in refused)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(doc=st.lists(_JSON, max_size=3), context=_JSON)
def test_arbitrary_entities_and_contexts_are_read_or_refused(doc: object, context: object) -> None:
    refused = _refusal(lambda: entities_from_json(schema=SCHEMA, doc=doc, tenant="acme"))
    refused += _refusal(
        lambda: record_from_json(attributes=SCHEMA.context, doc=context, tenant="acme")
    )
    assert all(where == "" or where.startswith("/") for where in refused)
