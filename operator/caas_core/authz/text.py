"""A Cedar-like text syntax, read into the JSON form and validated the same way.

    @id("eng-read")
    permit (principal in Group::"eng", action in [Action::"read"], resource is Channel)
    when { principal.level >= 2 && context.ip.isInRange(ip("10.0.0.0/8")) };

The subset is what `cedar.policies` writes, so text exported from here reads back. Parsing
produces the JSON documents plus the line:column of every node, and schema validation runs on
the documents; an error is reported at the line:column of the node its JSON pointer names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from caas_core.authz.lexer import TextSyntaxError, Where, tokens, unescape
from caas_core.authz.parse import parse_policy_set
from caas_core.authz.policy import Policy
from caas_core.authz.schema import DocumentError, Schema, pointer

_RELATIONS: Final = ("==", "!=", "<=", ">=", "<", ">", "in")
_METHODS: Final = ("contains", "containsAll", "containsAny", "isInRange", "durationSince")
Doc = dict[str, object]


class _Reader:
    """Recursive descent over the tokens.

    Each node's position is recorded against the node object itself (and a field's against
    the node and the field name), then mapped to JSON pointers by one walk of the finished
    documents, so nesting never has to know its own pointer while it is being read.
    """

    def __init__(self, text: str) -> None:
        self.tokens = tokens(text)
        self.i = 0
        self.positions: dict[tuple[int, str], Where] = {}
        self.keep: list[object] = []  # positions are keyed by id(): keep every node alive

    def here(self) -> Where:
        return self.tokens[self.i][2]

    def at(self, node: Doc, where: Where, field: str = "") -> Doc:
        self.keep.append(node)
        self.positions.setdefault((id(node), field), where)
        return node

    def peek(self, value: str | None = None) -> bool:
        kind, lexeme, _ = self.tokens[self.i]
        return lexeme == value and kind != "string" if value is not None else kind == "end"

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        got_kind, lexeme, where = self.tokens[self.i]
        if (value is not None and (lexeme != value or got_kind == "string")) or (
            kind is not None and got_kind != kind
        ):
            raise TextSyntaxError(where, f"expected {value or kind}, found {lexeme or 'the end'!r}")
        self.i += 1
        return unescape(lexeme[1:-1], where) if got_kind == "string" else lexeme

    def policies(self) -> list[Doc]:
        out: list[Doc] = []
        while not self.peek():
            out.append(self.policy(len(out)))
        return out

    def policy(self, number: int) -> Doc:
        doc: Doc = self.at({"id": f"policy{number}"}, self.here())
        while self.peek("@"):
            self.take("@")
            self.at(doc, self.here(), "id")
            if self.take(kind="ident") != "id":
                raise TextSyntaxError(self.tokens[self.i - 1][2], "only @id annotations are read")
            self.take("(")
            doc["id"] = self.take(kind="string")
            self.take(")")
        self.at(doc, self.here(), "effect")
        doc["effect"] = self.take(kind="ident")
        self.take("(")
        doc["principal"] = self.scope("principal")
        self.take(",")
        doc["action"] = self.action()
        self.take(",")
        doc["resource"] = self.scope("resource")
        self.take(")")
        clauses: list[Doc] = []
        while self.peek("when") or self.peek("unless"):
            clause = self.at({}, self.here(), "kind")
            clause["kind"] = self.take()
            self.take("{")
            clause["body"] = self.expr()
            self.take("}")
            clauses.append(clause)
        doc["conditions"] = clauses
        self.take(";")
        return doc

    def entity(self) -> Doc:
        doc = self.at({}, self.here())
        self.at(doc, self.here(), "type")
        doc["type"] = self.take(kind="ident")
        self.take("::")
        self.at(doc, self.here(), "id")
        doc["id"] = self.take(kind="string")
        return doc

    def scope(self, var: str) -> Doc:
        doc = self.at({}, self.here(), "op")
        self.take(var)
        if self.peek("==") or self.peek("in"):
            doc |= {"op": self.take(), "entity": self.entity()}
        elif self.peek("is"):
            self.take("is")
            self.at(doc, self.here(), "type")
            doc |= {"op": "is", "type": self.take(kind="ident")}
            if self.peek("in"):
                self.take("in")
                doc["entity"] = self.entity()
        else:
            doc["op"] = "any"
        return doc

    def action(self) -> Doc:
        doc = self.at({}, self.here(), "op")
        self.take("action")
        if not (self.peek("==") or self.peek("in")):
            return doc | {"op": "any"}
        doc["op"] = self.take()
        listed = self.peek("[")
        if listed:
            self.take("[")
        names: list[object] = []
        self.keep.append(names)
        while True:
            self.positions.setdefault((id(names), str(len(names))), self.here())
            entity = self.entity()
            if entity["type"] != "Action":
                raise TextSyntaxError(self.tokens[self.i - 1][2], 'actions are Action::"name"')
            names.append(entity["id"])
            if not (listed and self.peek(",")):
                break
            self.take(",")
        if listed:
            self.take("]")
        doc["actions"] = names
        return doc

    def expr(self) -> Doc:
        return self.logic("||", lambda: self.logic("&&", self.relation))

    def logic(self, op: str, operand: Callable[[], Doc]) -> Doc:
        where = self.here()
        args = [operand()]
        while self.peek(op):
            self.take(op)
            args.append(operand())
        return args[0] if len(args) == 1 else self.at({"op": op, "args": args}, where)

    def relation(self) -> Doc:
        where = self.here()
        left = self.unary()
        if self.peek("has"):
            self.take("has")
            doc = self.at({"op": "has", "of": left}, where)
            self.at(doc, self.here(), "attr")
            doc["attr"] = self.take()
            return doc
        for op in _RELATIONS:
            if self.peek(op):
                self.take(op)
                return self.at({"op": op, "left": left, "right": self.unary()}, where)
        return left

    def unary(self) -> Doc:
        where = self.here()
        if self.peek("!"):
            self.take("!")
            return self.at({"op": "!", "arg": self.unary()}, where)
        if self.peek("-"):
            self.take("-")
            return self.at({"op": "value", "value": -int(self.take(kind="int"))}, where)
        node = self.primary()
        while self.peek(".") or self.peek("["):
            bracket = self.take() == "["
            name_at = self.here()
            name = self.take(kind="string" if bracket else "ident")
            if bracket:
                self.take("]")
            if bracket or not self.peek("("):
                node = self.at({"op": "getAttr", "of": node, "attr": name}, where)
                self.at(node, name_at, "attr")
                continue
            self.take("(")
            if name == "toTime":
                node = self.at({"op": "toTime", "arg": node}, where)
            elif name in _METHODS:
                node = self.at({"op": name, "left": node, "right": self.expr()}, where)
            else:
                raise TextSyntaxError(name_at, f"unknown method {name}")
            self.take(")")
        return node

    def primary(self) -> Doc:  # noqa: PLR0911
        kind, lexeme, where = self.tokens[self.i]
        if lexeme == "(" and kind == "op":
            self.take("(")
            inner = self.expr()
            self.take(")")
            return inner
        if lexeme == "[" and kind == "op":
            self.take("[")
            items: list[Doc] = []
            while not self.peek("]"):
                if items:
                    self.take(",")
                items.append(self.expr())
            self.take("]")
            return self.at({"op": "set", "items": items}, where)
        if kind in ("string", "int"):
            value = self.take()
            return self.at(
                {"op": "value", "value": value if kind == "string" else int(value)}, where
            )
        if lexeme in ("true", "false"):
            self.take()
            return self.at({"op": "value", "value": lexeme == "true"}, where)
        if lexeme in ("principal", "action", "resource", "context"):
            self.take()
            return self.at({"op": "var", "name": lexeme}, where)
        if lexeme in ("ip", "datetime", "duration") and self.tokens[self.i + 1][1] == "(":
            self.take()
            self.take("(")
            doc = self.at({"op": lexeme}, where)
            self.at(doc, self.here(), "value")
            doc["value"] = self.take(kind="string")
            self.take(")")
            return doc
        if kind == "ident":
            return self.at({"op": "entity"} | self.entity(), where)
        raise TextSyntaxError(where, f"unexpected {lexeme or 'end of text'!r}")

    def pointers(self, docs: list[Doc]) -> dict[str, Where]:
        """Every recorded position under the JSON pointer its node ended up at."""
        out: dict[str, Where] = {}

        def walk(node: object, at: str) -> None:
            if isinstance(node, dict):
                children: list[tuple[str, object]] = [(str(k), v) for k, v in node.items()]
            elif isinstance(node, list):
                children = [(str(i), v) for i, v in enumerate(node)]
            else:
                return
            found = self.positions.get((id(node), ""))
            if found is not None:
                out.setdefault(at, found)
            for key, child in children:
                field_at = self.positions.get((id(node), key))
                if field_at is not None:
                    out.setdefault(at + pointer(key), field_at)
                walk(child, at + pointer(key))

        for number, doc in enumerate(docs):
            walk(doc, pointer(number))
        return out


def _locate(where: dict[str, Where], at: str) -> str:
    while at and at not in where:
        at = at.rsplit("/", 1)[0]
    line, column = where.get(at, (1, 1))
    return f"{line}:{column}"


def parse_text(text: str, *, tenant: str, schema: Schema) -> list[Policy]:
    """Policies from text, validated against `schema`; errors located as `line:column`."""
    try:
        reader = _Reader(text)
        docs = reader.policies()
    except TextSyntaxError as failure:
        raise DocumentError([(f"{failure.where[0]}:{failure.where[1]}", failure.message)]) from None
    try:
        return parse_policy_set(docs, tenant=tenant, schema=schema)
    except DocumentError as error:
        where = reader.pointers(docs)
        raise DocumentError(
            [(_locate(where, at), message) for at, message in error.errors]
        ) from None


def text_documents(text: str, *, tenant: str, schema: Schema) -> list[dict[str, object]]:
    """The JSON documents of text policies — the form stores keep, which `parse_policy` reads
    back to the same policies — validated as `parse_text` validates them (errors at
    line:column of `text`)."""
    try:
        reader = _Reader(text)
        docs = reader.policies()
    except TextSyntaxError as failure:
        raise DocumentError([(f"{failure.where[0]}:{failure.where[1]}", failure.message)]) from None
    try:
        parse_policy_set(docs, tenant=tenant, schema=schema)
    except DocumentError as error:
        where = reader.pointers(docs)
        raise DocumentError(
            [(_locate(where, at), message) for at, message in error.errors]
        ) from None
    return docs
