"""The filter language: a hand-written tokenizer and recursive-descent parser.

    data.metrics.rmse < 0.3 and (level_label = 'model' or not exists(data.draft))

The text becomes an expression tree of the dataclasses below; nothing is ever evaluated
as code. `compiler.py` turns a tree into SQL with bound parameters. The grammar:

    expression := disjunction
    disjunction := conjunction ("or" conjunction)*
    conjunction := negation ("and" negation)*
    negation   := "not" negation | primary
    primary    := "(" expression ")" | "exists" "(" field ")" | field test
    test       := ("=" | "!=" | "<" | "<=" | ">" | ">=") literal
                | ["not"] "in" "(" literal ("," literal)* ")"
                | "contains" string | "is" ["not"] "null"
    field      := ("data" | "parent" "." "data" | "ancestor" "." "data") ("." key)+
                | "id" | "level" | "level_label" | "hierarchy" | "parent_id" | "created_at" | "updated_at"
    key        := identifier | string | digits
    literal    := number | string | "true" | "false" | "null"

Keywords and field names are case-insensitive; keys are not. Strings are '…' or "…" with
backslash escapes (\\' \\" \\\\); numbers use JSON's syntax.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field as dataclass_field
from datetime import UTC, datetime
from typing import Literal as TypingLiteral

from webapp.artifacts.errors import ArtifactError

MAX_FILTER_LENGTH = 4000
MAX_NESTING = 64  # parentheses and `not`s: the parser recurses once per level

COLUMNS = ("id", "level", "level_label", "hierarchy", "parent_id", "created_at", "updated_at")
DATA_SOURCES = ("data", "parent", "ancestor")
KEYWORDS = ("and", "or", "not", "in", "contains", "exists", "is", "null", "true", "false")
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
FIELD_EXPECTED = "a field (data.<path>, parent.data.<path>, ancestor.data.<path>, " + ", ".join(COLUMNS) + ")"

Scalar = int | float | str | bool | None


class FilterError(ArtifactError):
    """A filter (or sort/facet field) that does not parse: 400, naming where and what was expected."""

    status = 400
    title = "Invalid filter"
    slug = "invalid-filter"

    def __init__(self, message: str, position: int, expected: str, parameter: str = "filter") -> None:
        super().__init__(
            f"{parameter}: {message} at position {position} (expected {expected}).",
            position=position,
            expected=expected,
            parameter=parameter,
        )
        self.position = position
        self.expected = expected


# The tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """`source` is "data", "parent" or "ancestor" (with `path`, the keys) or "column" (with `name`)."""

    source: TypingLiteral["data", "parent", "ancestor", "column"]
    path: tuple[str, ...] = ()
    name: str = ""
    position: int = dataclass_field(default=0, compare=False)  # where it was written, for errors

    @property
    def is_data(self) -> bool:
        return self.source != "column"

    def text(self) -> str:
        if not self.is_data:
            return self.name
        prefix = {"data": "data", "parent": "parent.data", "ancestor": "ancestor.data"}[self.source]
        return ".".join([prefix, *(key_text(key) for key in self.path)])


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str  # one of COMPARISONS
    value: Scalar


@dataclass(frozen=True)
class In:
    field: Field
    values: tuple[Scalar, ...]
    negated: bool = False


@dataclass(frozen=True)
class Contains:
    field: Field
    value: str


@dataclass(frozen=True)
class Exists:
    field: Field


@dataclass(frozen=True)
class IsNull:
    field: Field
    negated: bool = False  # `is not null`: the complement


@dataclass(frozen=True)
class And:
    items: tuple[Expression, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expression, ...]


@dataclass(frozen=True)
class Not:
    item: Expression


Expression = Compare | In | Contains | Exists | IsNull | And | Or | Not

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def key_text(key: str) -> str:
    """A data key as the language writes it: bare when it is an identifier, else quoted."""
    if _IDENTIFIER.fullmatch(key) or key.isdigit() and key.isascii():
        return key
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def path_text(path: tuple[str, ...]) -> str:
    """`metrics.rmse`, `"odd key".x`: the dotted path that $compare and the pages show."""
    return ".".join(key_text(key) for key in path)


# Tokens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "string", "number", "op", "punct", "end"
    text: str  # the source text (words: as written)
    value: Scalar
    position: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"'": "'", '"': '"', "\\": "\\"}
INT64 = 2**63


def _number(text: str, position: int) -> int | float:
    if re.fullmatch(r"-?[0-9]+", text):
        value: int | float = int(text)
        # Beyond 64 bits SQLite cannot bind an integer; as JSON readers do, read it as a float.
        return value if -INT64 <= value < INT64 else float(value)
    value = float(text)
    if not math.isfinite(value):
        raise FilterError(f"the number {text[:40]} is out of range", position, "a finite number")
    return value


def tokenize(source: str) -> list[Token]:
    """The tokens of `source`, ending with an "end" token. Raises FilterError."""
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char in " \t\r\n":
            i += 1
        elif char in "'\"":
            start, i, parts = i, i + 1, []
            while True:
                if i >= n:
                    raise FilterError("unterminated string", start, f"a closing {char}")
                c = source[i]
                if c == "\\":
                    if i + 1 >= n or source[i + 1] not in _ESCAPES:
                        raise FilterError("unknown escape", i, "one of \\' \\\" \\\\")
                    parts.append(_ESCAPES[source[i + 1]])
                    i += 2
                elif c == char:
                    i += 1
                    break
                else:
                    parts.append(c)
                    i += 1
            text = "".join(parts)
            if "\x00" in text:
                raise FilterError("a NUL character in a string", start, "a string without NUL")
            tokens.append(Token("string", source[start:i], text, start))
        elif char.isdigit() or char == "-" and i + 1 < n and source[i + 1].isdigit():
            match = _NUMBER.match(source, i)
            assert match is not None
            end = match.end()
            if end < n and (source[end].isalnum() or source[end] in "_."):
                raise FilterError("malformed number", i, "a number in JSON syntax")
            tokens.append(Token("number", match.group(), _number(match.group(), i), i))
            i = end
        elif (match := _WORD.match(source, i)) is not None:
            tokens.append(Token("word", match.group(), None, i))
            i = match.end()
        elif source.startswith(("!=", "<=", ">="), i):
            tokens.append(Token("op", source[i : i + 2], None, i))
            i += 2
        elif char in "=<>":
            tokens.append(Token("op", char, None, i))
            i += 1
        elif char in "().,":
            tokens.append(Token("punct", char, None, i))
            i += 1
        else:
            raise FilterError(f"unexpected character {char!r}", i, "a field, a literal, an operator or a parenthesis")
    tokens.append(Token("end", "", None, n))
    return tokens


# Parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: str, parameter: str) -> None:
        self.parameter = parameter
        self.tokens = tokenize(source)
        self.at = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def error(self, expected: str, token: Token | None = None) -> FilterError:
        token = token or self.token
        found = "the end of the filter" if token.kind == "end" else repr(token.text[:40])
        return FilterError(f"unexpected {found}", token.position, expected, self.parameter)

    def take(self) -> Token:
        token = self.token
        self.at += 1
        return token

    def accept_word(self, word: str) -> bool:
        if self.token.word == word:
            self.at += 1
            return True
        return False

    def expect_punct(self, char: str, expected: str | None = None) -> Token:
        if self.token.kind == "punct" and self.token.text == char:
            return self.take()
        raise self.error(expected or repr(char))

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise FilterError(f"nested deeper than {MAX_NESTING} levels", self.token.position, "a simpler filter", self.parameter)

    # expression := disjunction
    def expression(self) -> Expression:
        items = [self.conjunction()]
        while self.accept_word("or"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Expression:
        items = [self.negation()]
        while self.accept_word("and"):
            items.append(self.negation())
        return items[0] if len(items) == 1 else And(tuple(items))

    def negation(self) -> Expression:
        if self.token.word == "not":
            self.take()
            self.nest()
            item = self.negation()
            self.depth -= 1
            return Not(item)
        return self.primary()

    def primary(self) -> Expression:
        token = self.token
        if token.kind == "punct" and token.text == "(":
            self.take()
            self.nest()
            inner = self.expression()
            self.depth -= 1
            self.expect_punct(")", "')', 'and' or 'or'")
            return inner
        if token.word == "exists" and self.tokens[self.at + 1].text == "(":
            self.take()
            self.take()
            field = self.field()
            if not field.is_data:
                raise FilterError("exists() takes a data path", field.position, "data.<path>", self.parameter)
            self.expect_punct(")")
            return Exists(field)
        return self.test(self.field())

    def test(self, field: Field) -> Expression:
        token = self.token
        if token.kind == "op":
            self.take()
            return Compare(field, token.text, self.literal())
        word = token.word
        if word == "in" or word == "not" and self.tokens[self.at + 1].word == "in":
            negated = word == "not"
            self.at += 2 if negated else 1
            self.expect_punct("(", "'(' and a list of literals")
            values = [self.literal()]
            while self.token.kind == "punct" and self.token.text == ",":
                self.take()
                values.append(self.literal())
            self.expect_punct(")", "',' or ')'")
            return In(field, tuple(values), negated)
        if word == "contains":
            self.take()
            literal = self.token
            if literal.kind != "string":
                raise self.error("a quoted string")
            self.take()
            return Contains(field, str(literal.value))
        if word == "is":
            self.take()
            negated = self.accept_word("not")
            if not self.accept_word("null"):
                raise self.error("'null'" if negated else "'null' or 'not null'")
            return IsNull(field, negated)
        raise self.error("an operator (= != < <= > >= in, not in, contains, is null)")

    def literal(self) -> Scalar:
        token = self.token
        if token.kind in ("string", "number"):
            self.take()
            return token.value
        if token.word in ("true", "false", "null"):
            self.take()
            return {"true": True, "false": False, "null": None}[token.word]
        raise self.error("a literal (a number, a quoted string, true, false or null)")

    def field(self) -> Field:
        token = self.token
        word = token.word
        if word in COLUMNS:
            self.take()
            return Field("column", name=word, position=token.position)
        if word not in DATA_SOURCES:
            if token.kind == "word" and word not in KEYWORDS:
                raise FilterError(f"unknown field {token.text[:40]!r}", token.position, FIELD_EXPECTED, self.parameter)
            raise self.error(FIELD_EXPECTED)
        self.take()
        if word != "data":
            self.expect_punct(".", "'.data'")
            if self.token.word != "data":
                raise self.error("'data'")
            self.take()
        self.expect_punct(".", "'.' and a key")
        path = [self.key()]
        while self.token.kind == "punct" and self.token.text == ".":
            self.take()
            path.append(self.key())
        return Field(word, tuple(path), position=token.position)  # type: ignore[arg-type]

    def key(self) -> str:
        token = self.token
        if token.kind == "word":
            self.take()
            return token.text
        if token.kind == "string":
            self.take()
            key = str(token.value)
            if '"' in key:
                # SQLite's JSON paths cannot quote a double quote inside a key.
                raise FilterError("a key holding a double quote", token.position, "a key without '\"'", self.parameter)
            return key
        if token.kind == "number" and token.text.isdigit():
            self.take()
            return token.text
        raise self.error("a key (a name or a quoted string)")


def _check_length(source: str, parameter: str) -> None:
    if len(source) > MAX_FILTER_LENGTH:
        raise FilterError(f"longer than {MAX_FILTER_LENGTH} characters", MAX_FILTER_LENGTH, "a shorter filter", parameter)


def parse(source: str, parameter: str = "filter") -> Expression:
    """The expression tree of a filter. Raises FilterError (400) naming position and expectation."""
    _check_length(source, parameter)
    parser = _Parser(source, parameter)
    if parser.token.kind == "end":
        raise parser.error("a condition")
    tree = parser.expression()
    if parser.token.kind != "end":
        raise parser.error("'and', 'or' or the end of the filter")
    return tree


def parse_field(source: str, parameter: str = "sort") -> Field:
    """One field (a sort key, a facet, an index): `data.metrics.rmse`, `level`, …"""
    _check_length(source, parameter)
    parser = _Parser(source, parameter)
    field = parser.field()
    if parser.token.kind != "end":
        raise parser.error("the end of the field")
    return field


def parse_timestamp(value: Scalar, position: int, parameter: str = "filter") -> datetime:
    """An ISO 8601 literal compared with created_at/updated_at, as an aware instant (UTC when
    it names no offset). Raises FilterError for anything else."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith(("Z", "z")) else value)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    raise FilterError(f"{str(value)[:40]!r} is not a timestamp", position, "a quoted ISO 8601 timestamp", parameter)
