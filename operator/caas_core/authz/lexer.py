"""Tokens of the Cedar-like text syntax, each with its line and column.

Kept apart from the reader so the reader is only grammar; every lexical mistake (an unknown
character, a bad escape) is reported at its line:column like any other error.
"""

from __future__ import annotations

import re
from typing import Final

Where = tuple[int, int]
Token = tuple[str, str, Where]  # kind (space/string/int/ident/op/end), text, where

_TOKEN: Final = re.compile(
    r"""(?P<space>\s+|//[^\n]*)|(?P<string>"(?:[^"\\]|\\.)*")|(?P<int>\d+)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>::|==|!=|<=|>=|&&|\|\||[-<>!(){}\[\],;.@])""",
    re.VERBOSE,
)
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
_UNICODE: Final = re.compile(r"\\u\{([0-9a-fA-F]{1,6})\}")


class TextSyntaxError(Exception):
    """The text does not follow the grammar, at `where` (line, column)."""

    def __init__(self, where: Where, message: str) -> None:
        super().__init__(message)
        self.where, self.message = where, message


def unescape(body: str, where: Where) -> str:
    """A string literal's body with Cedar's escapes (`\\n`, `\\"`, `\\u{1F600}`…) resolved."""
    out, i = [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = body[i + 1] if i + 1 < len(body) else ""
        unicode = _UNICODE.match(body, i)
        if unicode is not None and int(unicode.group(1), 16) <= 0x10FFFF:
            out.append(chr(int(unicode.group(1), 16)))
            i = unicode.end()
        elif code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        else:
            raise TextSyntaxError(where, f"unknown escape \\{code}")
    return "".join(out)


def tokens(text: str) -> list[Token]:
    """Every token but spaces and comments, then an `end` token."""
    out: list[Token] = []
    at, line, start = 0, 1, 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        where = (line, at - start + 1)
        if match is None:
            raise TextSyntaxError(where, f"unexpected character {text[at]!r}")
        kind = match.lastgroup or ""
        value = match.group()
        if kind != "space":
            out.append((kind, value, where))
        newlines = value.count("\n")
        if newlines:
            line += newlines
            start = at + value.rindex("\n") + 1
        at = match.end()
    out.append(("end", "", (line, at - start + 1)))
    return out
