"""Filter trees to SQL: SQLAlchemy expressions with bound parameters, for SQLite and PostgreSQL.

The semantics (docs/api.md#the-filter-language), the same on both databases:
- typed comparisons: a number matches numbers only, a string strings only, and a value of
  another type, or a missing one, is simply false — `!=` and `not in` included;
- `exists(data.x)`: the key is present (even holding null); `data.x is null`: missing or null;
- `not p` is the plain complement of `p`. Predicates may be NULL in SQL (a missing key);
  NULL behaves as false under AND, OR and WHERE, and `not` is written `(p) IS NOT TRUE`,
  so it is never NULL either;
- strings order by code point (`COLLATE "C"` on PostgreSQL; SQLite's BINARY already does);
- `contains`: case-insensitive substring of strings (SQLite's lower() folds ASCII only,
  PostgreSQL's the database's Unicode ctype).

Data paths are written into the SQL as literals (keys are quoted, never bound): the exact
expression `index_field` indexes, so the planners match it (`json_extract(data,
'$."metrics"."rmse"')` on SQLite, `data -> 'metrics' -> 'rmse'` on PostgreSQL). Values are
always bound parameters.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Numeric,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB

from webapp.artifacts.models import Artifact

from .grammar import (
    And,
    Compare,
    Contains,
    Exists,
    Expression,
    Field,
    FilterError,
    In,
    IsNull,
    Not,
    Or,
    Scalar,
    parse_timestamp,
)

ARTIFACTS: Table = Artifact.__table__  # type: ignore[assignment]
_ULID_COLUMNS = ("id", "parent_id")
_LEVEL_N = re.compile(r"level_([0-9]{1,7})")


def kind_of(value: Scalar) -> str:
    """The JSON type of a literal: "number", "string", "boolean" or "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


@dataclass(frozen=True)
class Labels:
    """What `level_label` means: the label of each (hierarchy, level) in the Policy's registry.
    Unlabelled levels, and the levels of a hierarchy the registry lacks, read `level_<n>`, as
    the API shows them."""

    labels: dict[str, dict[int, str]] = field(default_factory=dict)  # hierarchy → level → label

    def label_sql(self, table: Table) -> Any:
        """The label as a SQL expression (for orderings, facets, and comparisons other than =)."""
        whens = [
            (and_(table.c.hierarchy == name, table.c.level == number), literal(label))
            for name, levels in self.labels.items()
            for number, label in sorted(levels.items())
        ]
        fallback = literal("level_") + cast(table.c.level, String)
        return case(*whens, else_=fallback) if whens else fallback

    def labelled(self, table: Table, label: str) -> Any:
        """`level_label = label` as (hierarchy, level) pairs from the registry: an index on
        (hierarchy, level) serves it."""
        pairs = [(name, n) for name, levels in self.labels.items() for n, text in levels.items() if text == label]
        tests = [tuple_(table.c.hierarchy, table.c.level).in_(pairs)] if pairs else []
        match = _LEVEL_N.fullmatch(label)
        if match:  # `level_<n>`: level n wherever no label is declared for it
            number = int(match.group(1))
            labelling = [name for name, levels in self.labels.items() if number in levels]
            test = table.c.level == number
            tests.append(and_(test, table.c.hierarchy.not_in(labelling)) if labelling else test)
        return or_(*tests) if tests else false()


def path_literal(dialect: str, path: Sequence[str]) -> str:
    """The SQL text of a data path's value expression, exactly as an index names it."""
    if dialect == "postgresql":
        return "data" + "".join(" -> " + _sql_string(key) for key in path)
    return f"json_extract(data, {_sql_string(_sqlite_path(path))})"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sqlite_path(path: Sequence[str]) -> str:
    # Every key quoted: the grammar refuses keys holding '"', which SQLite cannot quote.
    return "$" + "".join(f'."{key}"' for key in path)


class Compiler:
    """Compiles trees for one database. One instance per statement (it numbers its CTEs)."""

    def __init__(self, dialect: str, labels: Labels, parameter: str = "filter") -> None:
        self.dialect = dialect
        self.pg = dialect == "postgresql"
        self.labels = labels
        self.parameter = parameter
        self._names = itertools.count(1)

    # Values --------------------------------------------------------------------------

    def value(self, table: Table, path: Sequence[str]) -> Any:
        """The value at `path`: jsonb on PostgreSQL, the SQL value json_extract gives on SQLite."""
        if self.pg:
            expression = table.c.data
            for key in path:
                expression = expression.op("->", return_type=JSONB)(literal_column(_sql_string(key)))
            return expression
        return func.json_extract(table.c.data, literal_column(_sql_string(_sqlite_path(path))))

    def kind(self, table: Table, path: Sequence[str]) -> Any:
        """Its JSON type (NULL when missing): PostgreSQL's jsonb_typeof names, SQLite's json_type ones."""
        if self.pg:
            return func.jsonb_typeof(self.value(table, path))
        return func.json_type(table.c.data, literal_column(_sql_string(_sqlite_path(path))))

    def _is(self, kind: Any, json_kind: str) -> Any:
        """The SQL test that `kind` (from kind()) is the JSON type `json_kind`."""
        if self.pg:
            return kind == json_kind
        return {
            "number": kind.in_(["integer", "real"]),
            "string": kind == "text",
            "boolean": kind.in_(["true", "false"]),
            "null": kind == "null",
        }[json_kind]

    def _text(self, value: Any) -> Any:
        """A string value as SQL text that orders by code point."""
        if self.pg:
            return value.op("#>>", return_type=Text)(literal_column("'{}'")).collate("C")
        return value

    def _json(self, value: Scalar) -> Any:
        return cast(literal(json.dumps(value), Text), JSONB)

    # Predicates ----------------------------------------------------------------------

    def where(self, tree: Expression) -> Any:
        """A WHERE clause selecting exactly the artifacts the tree matches."""
        return self._node(tree)

    def _node(self, tree: Expression) -> Any:
        if isinstance(tree, And):
            return and_(*(self._node(item) for item in tree.items))
        if isinstance(tree, Or):
            return or_(*(self._node(item) for item in tree.items))
        if isinstance(tree, Not):
            return self._node(tree.item).is_not(true())
        source = tree.field.source
        if source == "column":
            return self._column_atom(tree)
        if source == "data":
            return self._data_atom(ARTIFACTS, tree)
        if source == "parent":
            return self._parent(tree)
        return self._ancestor(tree)

    def _parent(self, tree: Any) -> Any:
        parent = ARTIFACTS.alias(f"parent_{next(self._names)}")
        found = exists().where(parent.c.id == ARTIFACTS.c.parent_id, self._data_atom(parent, tree))
        # A root has no parent: its parent.data.x is missing, which only `is null` matches.
        if isinstance(tree, IsNull) and not tree.negated:
            return or_(ARTIFACTS.c.parent_id.is_(None), found)
        return found

    def _ancestor(self, tree: Any) -> Any:
        """Some ancestor satisfies the atom: the artifact descends from one that does."""
        number = next(self._names)
        matching = ARTIFACTS.alias(f"ancestor_{number}")
        child, below = ARTIFACTS.alias(f"child_{number}"), ARTIFACTS.alias(f"below_{number}")
        start = select(child.c.id).where(
            child.c.parent_id.in_(select(matching.c.id).where(self._data_atom(matching, tree)))
        )
        walk = start.cte(f"descendants_{number}", recursive=True)
        walk = walk.union(select(below.c.id).where(below.c.parent_id == walk.c.id))
        return ARTIFACTS.c.id.in_(select(walk.c.id))

    def _data_atom(self, table: Table, tree: Any) -> Any:
        path = tree.field.path
        value, kind = self.value(table, path), self.kind(table, path)
        if isinstance(tree, Exists):
            return value.is_not(None) if self.pg else kind.is_not(None)
        if isinstance(tree, IsNull):
            missing_or_null = func.coalesce(kind, "null") == "null"
            return missing_or_null.is_not(true()) if tree.negated else missing_or_null
        if isinstance(tree, Contains):
            text = self._text(value) if self.pg else value
            return and_(self._is(kind, "string"), self._position(func.lower(text), tree.value) > 0)
        if isinstance(tree, In):
            return self._in(value, kind, tree.values, tree.negated)
        return self._compare(value, kind, tree.op, tree.value)

    def _position(self, haystack: Any, needle: str) -> Any:
        return (func.strpos if self.pg else func.instr)(haystack, func.lower(literal(needle, Text)))

    def _compare(self, value: Any, kind: Any, op: str, literal_value: Scalar) -> Any:
        json_kind = kind_of(literal_value)
        if json_kind in ("null", "boolean"):
            # Only = and != mean anything for these; != null is never true (a null is not unequal to null).
            if op == "=" and json_kind == "null":
                return self._is(kind, "null")
            if op in ("=", "!=") and json_kind == "boolean":
                wanted = literal_value if op == "=" else not literal_value
                return self._boolean(value, kind, bool(wanted))
            return false()
        if json_kind == "number":
            operand = self._json(literal_value) if self.pg else literal(literal_value)
            return and_(self._is(kind, "number"), _apply(op, value, operand))
        if self.pg and op in ("=", "!="):  # jsonb equality: what an expression index answers
            return and_(self._is(kind, "string"), _apply(op, value, self._json(literal_value)))
        return and_(self._is(kind, "string"), _apply(op, self._text(value), literal(literal_value, Text)))

    def _boolean(self, value: Any, kind: Any, wanted: bool) -> Any:
        if self.pg:
            return value == self._json(wanted)
        return kind == ("true" if wanted else "false")

    def _in(self, value: Any, kind: Any, values: tuple[Scalar, ...], negated: bool) -> Any:
        matched = or_(*(self._compare(value, kind, "=", item) for item in values))
        if not negated:
            return matched
        # not in: a value of one of the listed types that is none of them (missing: false).
        kinds = sorted({kind_of(item) for item in values})
        return and_(or_(*(self._is(kind, k) for k in kinds)), matched.is_not(true()))

    def _column_atom(self, tree: Any) -> Any:
        name = tree.field.name
        if isinstance(tree, Exists):  # refused by the grammar
            raise FilterError("exists() takes a data path", tree.field.position, "data.<path>", self.parameter)
        if name == "level_label":
            return self._label_atom(tree)
        column = ARTIFACTS.c[name]
        if isinstance(tree, IsNull):
            if name != "parent_id":
                return true() if tree.negated else false()
            return column.is_not(None) if tree.negated else column.is_(None)
        if isinstance(tree, Contains):
            if name in ("level", "created_at", "updated_at"):
                return false()
            return self._position(func.lower(column), tree.value) > 0
        if isinstance(tree, In):
            tests = [self._column_compare(tree.field, column, "=", v) for v in tree.values]
            tests = [t for t in tests if t is not _NEVER]
            if not tests:
                return false()
            matched = or_(*tests)
            return and_(column.is_not(None), matched.is_not(true())) if tree.negated else matched
        result = self._column_compare(tree.field, column, tree.op, tree.value)
        return false() if result is _NEVER else result

    def _column_compare(self, field_: Field, column: Any, op: str, value: Scalar) -> Any:
        name = field_.name
        if name in ("created_at", "updated_at"):
            if not isinstance(value, str):
                return _NEVER
            return _apply(op, column, literal(parse_timestamp(value, field_.position, self.parameter), column.type))
        if name == "level":
            if kind_of(value) != "number":
                return _NEVER
            return _apply(op, column, literal(value))
        if not isinstance(value, str):
            return _NEVER
        text = value.upper() if name in _ULID_COLUMNS else value  # ULIDs are case-insensitive
        if op in ("=", "!="):
            return _apply(op, column, literal(text, Text))
        return _apply(op, column.collate("C") if self.pg else column, literal(text, Text))

    def _label_atom(self, tree: Any) -> Any:
        if isinstance(tree, IsNull):  # every level has a label (`level_<n>` at least)
            return true() if tree.negated else false()
        equal_to = [v for v in tree.values if isinstance(v, str)] if isinstance(tree, In) else None
        if isinstance(tree, Compare) and tree.op == "=" and isinstance(tree.value, str):
            equal_to = [tree.value]
        if equal_to is not None and not getattr(tree, "negated", False):
            return or_(false(), *(self.labels.labelled(ARTIFACTS, label) for label in equal_to))
        label = self.labels.label_sql(ARTIFACTS)
        if isinstance(tree, Contains):
            return self._position(func.lower(label), tree.value) > 0
        if isinstance(tree, In):
            if not any(isinstance(v, str) for v in tree.values):
                return false()
            return or_(*(label == v for v in tree.values if isinstance(v, str))).is_not(true())
        if not isinstance(tree.value, str):
            return false()
        return _apply(tree.op, label.collate("C") if self.pg else label, literal(tree.value, Text))

    # Sorting and facets --------------------------------------------------------------

    def order_by(self, sort: Field | None, descending: bool) -> list[Any]:
        """ORDER BY terms: the field (missing and null last either way), then id ascending."""
        if sort is None:
            return [ARTIFACTS.c.id.desc() if descending else ARTIFACTS.c.id.asc()]
        direction = (lambda e: e.desc()) if descending else (lambda e: e.asc())
        if sort.source == "column":
            if sort.name == "level_label":
                expression = self.labels.label_sql(ARTIFACTS)
            else:
                expression = ARTIFACTS.c[sort.name]
            if self.pg and sort.name not in ("level", "created_at", "updated_at"):
                expression = expression.collate("C")
            missing = case((expression.is_(None), 1), else_=0)
            return [missing.asc(), direction(expression), ARTIFACTS.c.id.asc()]
        if sort.source != "data":
            raise FilterError("sort takes data.<path> or a column", sort.position, "data.<path> or a column", "sort")
        keys = self.sort_keys(ARTIFACTS, sort.path)
        return [keys[0].asc(), *(direction(key) for key in keys[1:]), ARTIFACTS.c.id.asc()]

    def matches_first_order(self, descending: bool) -> list[Any]:
        """Id order that the planner cannot read from the primary key, so it finds the matches
        first (SQLite's `+` operator; PostgreSQL's planner weighs that itself)."""
        if self.pg:
            return self.order_by(None, descending)
        key = literal_column("+artifacts.id")
        return [key.desc() if descending else key.asc()]

    # Sorts read from an expression index (index-field) ---------------------------------
    #
    # The full sort order (sort_keys) is not the index's: SQLite's index holds numbers with
    # the booleans (as 1 and 0) before text, PostgreSQL's jsonb order is strings < numbers <
    # booleans < arrays < objects. But numbers come first ascending and last descending, and
    # the index holds them in order: a page that lies among the numbers is read from it.

    def number_sort(self, path: Sequence[str], descending: bool) -> tuple[list[Any], list[Any]]:
        """WHERE terms selecting the numbers at `path` by a range of its index, and their
        ORDER BY (ties by id), which the index gives without sorting every row.

        On PostgreSQL the range (below false, the least boolean) holds, below the numbers, any
        strings, JSON nulls and empty arrays too: ascending, the caller checks that the range
        starts with a number (least_below_booleans); descending, that the page ends with one.
        A type test in the WHERE instead would make the
        planner guess (it has no statistics of jsonb_typeof) and sort every row after all."""
        value, kind = self.value(ARTIFACTS, path), self.kind(ARTIFACTS, path)
        if self.pg:
            where = [value < literal_column("'false'::jsonb")]
            order = value.desc().nulls_first() if descending else value.asc()  # the index read backwards
        else:  # numbers (and booleans, as 1 and 0) sort below any text in SQLite
            where = [value < literal(""), kind.in_(["integer", "real"])]
            order = value.desc() if descending else value.asc()
        return where, [order, ARTIFACTS.c.id.asc()]

    def kind_of(self, path: Sequence[str]) -> Any:
        """The JSON type of the value at `path` (jsonb_typeof's names on PostgreSQL)."""
        return self.kind(ARTIFACTS, path)

    def least_below_booleans(self, path: Sequence[str]) -> tuple[list[Any], list[Any]]:
        """(WHERE, ORDER BY) of the least value of number_sort's range (PostgreSQL): a number
        when the range holds numbers only."""
        value = self.value(ARTIFACTS, path)
        return [value < literal_column("'false'::jsonb")], [value.asc()]

    def before_numbers(self, path: Sequence[str]) -> Any:
        """A WHERE term selecting values that a descending sort puts before the numbers, in
        short ranges of the index: if none matches, the numbers come first. On PostgreSQL
        strings are found by smallest_present instead (they sort below numbers)."""
        value, kind = self.value(ARTIFACTS, path), self.kind(ARTIFACTS, path)
        if self.pg:  # booleans, arrays, objects; and the empty array, which jsonb puts below null
            return or_(value >= literal_column("'false'::jsonb"), value == literal_column("'[]'::jsonb"))
        return or_(value >= literal(""), and_(value.in_([literal(0), literal(1)]), kind.in_(["true", "false"])))

    def smallest_present(self, path: Sequence[str]) -> tuple[list[Any], list[Any]]:
        """(WHERE, ORDER BY) of the least value at `path` in jsonb order, null aside: a string
        when there is any (PostgreSQL only)."""
        value = self.value(ARTIFACTS, path)
        return [value > literal_column("'null'::jsonb")], [value.asc()]

    def sort_keys(self, table: Table, path: Sequence[str]) -> list[Any]:
        """(last, rank, number, string, boolean): numbers, then strings, then booleans, then
        arrays and objects (by id); missing and null last. Each key is NULL outside its rank."""
        value, kind = self.value(table, path), self.kind(table, path)
        if self.pg:
            ranks = {"number": 0, "string": 1, "boolean": 2, "array": 3, "object": 3}
            rank = case(*((kind == k, r) for k, r in ranks.items()), else_=4)
            number = case((kind == "number", cast(value, Numeric)), else_=None)
            string = case((kind == "string", self._text(value)), else_=None)
            boolean = case((kind == "boolean", case((value == self._json(True), 1), else_=0)), else_=None)
        else:
            ranks = {"integer": 0, "real": 0, "text": 1, "true": 2, "false": 2, "array": 3, "object": 3}
            rank = case(*((kind == k, r) for k, r in ranks.items()), else_=4)
            number = case((kind.in_(["integer", "real"]), value), else_=None)
            string = case((kind == "text", value), else_=None)
            boolean = case((kind == "true", 1), (kind == "false", 0), else_=None)
        last = case((rank == 4, 1), else_=0)
        return [last, rank, number, string, boolean]

    def facet_value(self, facet: Field) -> tuple[Any, bool]:
        """(a SQL expression grouping the field's values, whether it is JSON text to decode)."""
        if facet.source == "data":
            if self.pg:
                return cast(self.value(ARTIFACTS, facet.path), Text), True
            return ARTIFACTS.c.data.op("->", return_type=Text)(literal_column(_sql_string(_sqlite_path(facet.path)))), True
        if facet.source != "column":
            raise FilterError("facets take data.<path> or a column", facet.position, "data.<path> or a column", "facets")
        if facet.name == "level_label":
            return self.labels.label_sql(ARTIFACTS), False
        return ARTIFACTS.c[facet.name], False


class _Never:
    """A comparison that can never hold (a literal of another type than the column's)."""


_NEVER: Any = _Never()


def _apply(op: str, left: Any, right: Any) -> Any:
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


