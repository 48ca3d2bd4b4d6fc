"""A slow, obvious, pure-Python evaluator of the filter language: what every filter must
select, and in which order a sort must put it, on either database (docs/api.md's semantics
read literally, written independently of webapp/search/compiler.py)."""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from webapp.search.grammar import And, Contains, Exists, Field, In, IsNull, Not, Or, key_text

MISSING: Any = object()
OPERATORS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass
class Row:
    id: str
    parent_id: str | None
    level: int
    data: Any
    created_at: datetime
    updated_at: datetime
    hierarchy: str


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def lookup(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return MISSING
        data = data[key]
    return data


class Reference:
    def __init__(self, rows: list[Row], labels: dict[str, dict[int, str]], dialect: str) -> None:
        self.rows = {row.id: row for row in rows}
        self.labels = labels  # hierarchy → level → label, as the Policy declares them
        # SQLite's lower() folds ASCII only; PostgreSQL's (C.UTF-8 ctype) Unicode.
        self.fold = (lambda s: s.lower()) if dialect == "postgresql" else (lambda s: s.translate(ASCII_LOWER))

    def label(self, row: Row) -> str:
        return self.labels.get(row.hierarchy, {}).get(row.level, f"level_{row.level}")

    def ancestors(self, row: Row) -> list[Row]:
        chain = []
        while row.parent_id is not None:
            row = self.rows[row.parent_id]
            chain.append(row)
        return chain

    def matches(self, tree: Any, row: Row) -> bool:
        if isinstance(tree, And):
            return all(self.matches(item, row) for item in tree.items)
        if isinstance(tree, Or):
            return any(self.matches(item, row) for item in tree.items)
        if isinstance(tree, Not):
            return not self.matches(tree.item, row)
        field: Field = tree.field
        if field.source == "data":
            return self.atom(tree, lookup(row.data, field.path))
        if field.source == "parent":
            parent = self.rows[row.parent_id] if row.parent_id else None
            return self.atom(tree, lookup(parent.data, field.path) if parent else MISSING)
        if field.source == "ancestor":
            return any(self.atom(tree, lookup(a.data, field.path)) for a in self.ancestors(row))
        return self.column_atom(tree, row)

    def atom(self, tree: Any, value: Any) -> bool:
        if isinstance(tree, Exists):
            return value is not MISSING
        if isinstance(tree, IsNull):
            return (value is MISSING or value is None) != tree.negated
        if value is MISSING:
            return False
        if isinstance(tree, Contains):
            return kind(value) == "string" and self.fold(tree.value) in self.fold(value)
        if isinstance(tree, In):
            found = any(self.equal(value, v) for v in tree.values)
            if tree.negated:
                return kind(value) in {kind(v) for v in tree.values} and not found
            return found
        return self.compare(value, tree.op, tree.value)

    def equal(self, value: Any, literal: Any) -> bool:
        return kind(value) == kind(literal) and value == literal

    def compare(self, value: Any, op: str, literal: Any) -> bool:
        if kind(value) != kind(literal):
            return False
        if kind(literal) == "null":
            return op == "="
        if kind(literal) == "boolean":
            return op in ("=", "!=") and OPERATORS[op](value, literal)
        return OPERATORS[op](value, literal)

    def column_value(self, name: str, row: Row) -> Any:
        if name == "level_label":
            return self.label(row)
        return getattr(row, name)

    def column_atom(self, tree: Any, row: Row) -> bool:
        name = tree.field.name
        value = self.column_value(name, row)
        if isinstance(tree, IsNull):
            return (value is None) != tree.negated
        if value is None:
            return False
        if isinstance(tree, Contains):
            return isinstance(value, str) and self.fold(tree.value) in self.fold(value)

        def test(op: str, literal: Any) -> bool:
            if name in ("created_at", "updated_at"):
                if not isinstance(literal, str):
                    return False
                moment = datetime.fromisoformat(literal.replace("Z", "+00:00"))
                return OPERATORS[op](value, moment if moment.tzinfo else moment.replace(tzinfo=UTC))
            if name == "level":
                return kind(literal) == "number" and OPERATORS[op](value, literal)
            if not isinstance(literal, str):
                return False
            return OPERATORS[op](value, literal.upper() if name in ("id", "parent_id") else literal)

        if isinstance(tree, In):
            found = any(test("=", v) for v in tree.values)
            if tree.negated:
                return any(_column_typed(name, v) for v in tree.values) and not found
            return found
        return test(tree.op, tree.value)

    def select(self, tree: Any) -> set[str]:
        return {row.id for row in self.rows.values() if self.matches(tree, row)}

    def sort(self, ids: set[str], field: Field, descending: bool) -> list[str]:
        """Numbers, then strings, then booleans, then arrays and objects; missing and null
        last either way; ties by id ascending."""
        ranks = {"number": 0, "string": 1, "boolean": 2, "array": 3, "object": 3}

        def key(artifact_id: str) -> tuple[int, int, Any]:
            row = self.rows[artifact_id]
            value = lookup(row.data, field.path) if field.source == "data" else self.column_value(field.name, row)
            if value is MISSING or value is None:
                return (1, 0, None)
            rank = ranks[kind(value)]
            return (0, rank, value if rank < 3 else None)

        def compare(a: str, b: str) -> int:
            ka, kb = key(a), key(b)
            if ka[0] != kb[0]:
                return ka[0] - kb[0]
            if ka[0] == 0:
                order = _cmp((ka[1], ka[2]), (kb[1], kb[2]))
                if order:
                    return -order if descending else order
            return _cmp(a, b)

        return sorted(ids, key=functools.cmp_to_key(compare))


def _column_typed(name: str, literal: Any) -> bool:
    if name in ("created_at", "updated_at"):
        return isinstance(literal, str)
    if name == "level":
        return kind(literal) == "number"
    return isinstance(literal, str)


def _cmp(a: Any, b: Any) -> int:
    if isinstance(a, tuple):
        for x, y in zip(a, b):
            if x is None and y is None:
                continue
            order = _cmp(x, y)
            if order:
                return order
        return 0
    return (a > b) - (a < b)


def render(tree: Any) -> str:
    """A tree back as filter text (parenthesised), so generated filters go through the parser."""
    if isinstance(tree, And | Or):
        word = " and " if isinstance(tree, And) else " OR "
        return "(" + word.join(render(item) for item in tree.items) + ")"
    if isinstance(tree, Not):
        return "not " + render(tree.item)
    field = tree.field.text()
    if isinstance(tree, Exists):
        return f"exists({field})"
    if isinstance(tree, IsNull):
        return f"{field} is {'not ' if tree.negated else ''}null"
    if isinstance(tree, Contains):
        return f"{field} contains {literal_text(tree.value)}"
    if isinstance(tree, In):
        values = ", ".join(literal_text(v) for v in tree.values)
        return f"{field} {'not in' if tree.negated else 'in'} ({values})"
    return f"{field} {tree.op} {literal_text(tree.value)}"


def literal_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "TRUE" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, int) else _json_float(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _json_float(value: float) -> str:
    text = repr(value)
    return text if "e" in text or "." in text else text + ".0"


__all__ = ["MISSING", "Reference", "Row", "key_text", "literal_text", "lookup", "render"]
