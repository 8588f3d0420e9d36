"""Pure: an AccessPolicy's spec read into the objects it puts in the authorization store.

Everything is validated here, before anything is written, against the schema the tenant will
have after the write: `spec.schema` when the resource gives one, else the tenant's stored
schema. A refusal names the exact place — a JSON pointer into the resource
(`/spec/policies/2/conditions/0/body/right`) or a line:column of `spec.text` — so `kubectl
describe` shows what to fix. The store checks the whole resulting set again when it writes.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from caas_core.authz.documents import SCHEMA_KEY, Kind, read_schema
from caas_core.authz.objects import Put, StoredObject
from caas_core.authz.parse import parse_policy_set
from caas_core.authz.policy import Policy
from caas_core.authz.schema import DocumentError, Schema
from caas_core.authz.text import parse_text
from caas_core.resources.accesspolicy import AccessPolicySpec
from caas_core.settings import describe_validation_error
from caas_operator.accesspolicy.serialize import policy_document
from caas_operator.shared.scope import Failure

INVALID_SPEC: Final = "InvalidSpec"
INVALID_SCHEMA: Final = "InvalidSchema"
INVALID_POLICY: Final = "InvalidPolicy"
# A condition message is read by humans: the first errors, and how many more there are.
MAX_ERRORS_SHOWN: Final = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Desired:
    """What the resource puts in the store (policies first, then its schema if it has one)."""

    puts: tuple[Put, ...]
    policies: int
    from_text: int


class Refused(Exception):  # noqa: N818 (a verdict carrying its condition, not a fault)
    """The spec cannot be written; the failure is the condition to show."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def schema_document(
    spec_schema: Mapping[str, Any] | None, stored: StoredObject | None, *, uid: str
) -> Mapping[str, Any]:
    """The schema document the policies must satisfy once the resource is written.

    The resource's own schema if it gives one. Otherwise the tenant's stored schema — unless
    this very resource wrote it in an earlier generation: it goes with this write, so the
    policies are checked against no schema at all, as they will be read after it.
    """
    if spec_schema is not None:
        return spec_schema
    if stored is None or (stored.source is not None and stored.source.uid == uid):
        return {}
    return stored.document


def read_spec(
    spec: Mapping[str, Any], *, tenant: str, stored_schema: StoredObject | None, uid: str
) -> Desired:
    """The objects to store for `spec`, or `Refused` naming every place that is wrong."""
    try:
        AccessPolicySpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise Refused(
            Failure(reason=INVALID_SPEC, message=describe_validation_error(exc))
        ) from None
    # The raw spec, not the model: fields the model does not declare must reach the engine,
    # which refuses them by name instead of dropping them.
    own_schema = spec.get("schema")
    schema_doc = schema_document(own_schema, stored_schema, uid=uid)
    try:
        schema = read_schema(schema_doc)
    except DocumentError as error:
        where = "/spec/schema" if own_schema is not None else "the tenant's stored schema "
        raise Refused(
            Failure(reason=INVALID_SCHEMA, message=_errors(error.errors, prefix=where))
        ) from None
    from_json = _json_policies(spec.get("policies") or [], tenant=tenant, schema=schema)
    text = spec.get("text")
    from_text = _text_policies(text, tenant=tenant, schema=schema) if text else []
    _unique_ids(from_json, from_text)
    puts = [Put(Kind.POLICY, doc["id"], doc) for doc in _json_documents(spec)]
    puts += [Put(Kind.POLICY, policy.id, policy_document(policy)) for policy in from_text]
    if own_schema is not None:
        puts.append(Put(Kind.SCHEMA, SCHEMA_KEY, dict(own_schema)))
    return Desired(
        puts=tuple(puts), policies=len(from_json) + len(from_text), from_text=len(from_text)
    )


def _json_documents(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(doc) for doc in spec.get("policies") or []]


def _json_policies(docs: Sequence[Any], *, tenant: str, schema: Schema) -> list[Policy]:
    try:
        return parse_policy_set(list(docs), tenant=tenant, schema=schema)
    except DocumentError as error:
        message = _errors(error.errors, prefix="/spec/policies")
        raise Refused(Failure(reason=INVALID_POLICY, message=message)) from None


def _text_policies(text: object, *, tenant: str, schema: Schema) -> list[Policy]:
    if not isinstance(text, str):
        raise Refused(Failure(reason=INVALID_SPEC, message="spec.text must be a string"))
    try:
        return parse_text(text, tenant=tenant, schema=schema)
    except DocumentError as error:
        # The text reader locates each error as line:column of the text.
        message = _errors(error.errors, prefix="spec.text ", root="spec.text")
        raise Refused(Failure(reason=INVALID_POLICY, message=message)) from None


def _unique_ids(from_json: Sequence[Policy], from_text: Sequence[Policy]) -> None:
    listed = {policy.id for policy in from_json}
    twice = sorted({policy.id for policy in from_text if policy.id in listed})
    if twice:
        raise Refused(
            Failure(
                reason=INVALID_POLICY,
                message=(
                    f"policy ids given in both spec.policies and spec.text: {', '.join(twice)}"
                ),
            )
        )


def _errors(errors: Sequence[tuple[str, str]], *, prefix: str, root: str | None = None) -> str:
    """`<prefix><location>: <message>` for the first errors, then how many were left out."""
    shown = [
        f"{prefix}{at}: {message}" if at else f"{root or prefix}: {message}"
        for at, message in errors[:MAX_ERRORS_SHOWN]
    ]
    hidden = len(errors) - len(shown)
    return "; ".join(shown) + (f"; and {hidden} more" if hidden > 0 else "")
