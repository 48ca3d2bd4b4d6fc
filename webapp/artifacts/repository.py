"""ArtifactRepository: the queries. It may flush, never commits (the manager owns transactions)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import (
    Integer,
    LargeBinary,
    Row,
    Text,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from .fulltext import MIN_INDEXED_LENGTH, TextCandidates
from .models import Artifact, ArtifactCount, ArtifactCountDelta

COLUMNS = (
    Artifact.id,
    Artifact.parent_id,
    Artifact.level,
    Artifact.data,
    Artifact.created_at,
    Artifact.updated_at,
    Artifact.hierarchy,
    Artifact.revision,
)

# Hot-path statements, built once and run on the session's Core connection: building a
# statement and the ORM execution path cost more than running the query on SQLite.
_ROW_BY_ID = select(*COLUMNS).where(Artifact.id == bindparam("artifact_id"))
# The trees a request may not read (TreeAccess.hidden_roots): every read leaves them out.
_HIDDEN = bindparam("hidden", expanding=True)
_VISIBLE = Artifact.root_id.not_in(_HIDDEN)
_VISIBLE_ROW_BY_ID = _ROW_BY_ID.where(_VISIBLE)
_LEVEL_BY_ID = select(Artifact.level).where(Artifact.id == bindparam("artifact_id"))
_PLACE_BY_ID = select(Artifact.level, Artifact.hierarchy, Artifact.root_id).where(Artifact.id == bindparam("artifact_id"))
_INSERT = insert(Artifact.__table__)


def _iso_text(column: Any, dialect: str) -> Any:
    """A timestamp column rendered by the database as ISO-8601 UTC text ("…T…Z")."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" (UTC, see UTCDateTime).
    return func.replace(cast(column, Text), " ", "T") + "Z"


def _walk_down(bounded: bool) -> Any:
    """The recursive CTE of ArtifactRepository._subtree, on bound parameters."""
    walk = (
        select(Artifact.id.label("id"), literal(0).label("depth"))
        .where(Artifact.id == bindparam("root_id"))
        .cte("subtree", recursive=True)
    )
    child = select(Artifact.id, (walk.c.depth + 1).label("depth")).join(walk, Artifact.parent_id == walk.c.id)
    if bounded:
        child = child.where(walk.c.depth < bindparam("max_depth"))
    return walk.union_all(child)


@cache
def _subtree_rows_statement(dialect: str, bounded: bool) -> Any:
    """subtree_rows' query, built once per database and depth bound: building it cost more
    than running it for a small subtree (the $expand of a leaf)."""
    walk = _walk_down(bounded)
    return (
        _list_columns(dialect)
        .add_columns(walk.c.depth)
        .join(walk, Artifact.id == walk.c.id)
        .order_by(walk.c.depth, Artifact.id)
    )


def _ancestry() -> Any:
    """Recursive CTE (id, distance) up from an artifact: its parent at 1, the root furthest."""
    walk = (
        select(Artifact.parent_id.label("id"), literal(1).label("distance"))
        .where(Artifact.id == bindparam("artifact_id"))
        .cte("ancestry", recursive=True)
    )
    return walk.union_all(select(Artifact.parent_id, walk.c.distance + 1).join(walk, Artifact.id == walk.c.id))


@cache
def _ancestors_statement(dialect: str) -> Any:
    """An artifact's ancestors, root first, as listing rows: breadcrumbs need no more than a
    listing does, so a huge ancestor's data stays in the database (_capped_data)."""
    walk = _ancestry()
    return _list_columns(dialect).join(walk, Artifact.id == walk.c.id).order_by(walk.c.distance.desc())


@cache
def _expansion_rows_statement(dialect: str) -> Any:
    """The subtree under an artifact (depth 0, 1, …) and its ancestors (depth -1 for the parent,
    …), in one statement: one round trip for $expand."""
    down, up = _walk_down(False), _ancestry()
    descendants = _list_columns(dialect).add_columns(down.c.depth).join(down, Artifact.id == down.c.id)
    ancestors = _list_columns(dialect).add_columns((-up.c.distance).label("depth")).join(up, Artifact.id == up.c.id)
    # By position: SQLite orders a compound select only by its result columns (9: depth, 1: id).
    return union_all(descendants, ancestors).order_by(literal_column("9"), literal_column("1"))


def _pending(*where: Any) -> Any:
    """This transaction's own count changes not applied yet (PostgreSQL applies them at
    COMMIT, see models.COUNT_TRIGGERS; other transactions' rows are invisible, and SQLite
    writes none): added to the counts, they are exact inside a write too."""
    return select(func.coalesce(func.sum(ArtifactCountDelta.n), 0)).where(*where).scalar_subquery()


def _count_of(hierarchy: bool, level: bool) -> Any:
    """The maintained count of every artifact, or those of a hierarchy, a level, or both:
    a few (hierarchy, level) rows read, plus this transaction's pending changes."""
    counted, pending = [], [ArtifactCountDelta.level.is_not(None)]
    if hierarchy:
        counted.append(ArtifactCount.hierarchy == bindparam("hierarchy"))
        pending.append(ArtifactCountDelta.hierarchy == bindparam("hierarchy"))
    if level:
        counted.append(ArtifactCount.level == bindparam("level"))
        pending.append(ArtifactCountDelta.level == bindparam("level"))
    stored = select(func.sum(ArtifactCount.artifacts)).where(*counted).scalar_subquery()
    return select(func.coalesce(stored, 0) + _pending(*pending))


_COUNTS = {(hierarchy, level): _count_of(hierarchy, level) for hierarchy in (False, True) for level in (False, True)}
_CHILD_COUNT = (Artifact.child_count + _pending(ArtifactCountDelta.parent_id == Artifact.id)).label("child_count")


# List pages: one statement per shape of filters, built once on bound parameters (building
# one per request cost a fifth of a list page's CPU).

# roots only, by parent, by level, by text ("indexed": 3+ characters), by hierarchy, some trees hidden
Shape = tuple[bool, bool, bool, bool | str, bool, bool]


def _listing(
    parent_id: str | None = None,
    roots_only: bool = False,
    level: int | None = None,
    text: str | None = None,
    hierarchy: str | None = None,
    hidden: frozenset[str] = frozenset(),
) -> tuple[Shape, dict[str, Any]]:
    """The filters as a statement shape and the parameters it binds."""
    params: dict[str, Any] = {}
    if hidden:
        params["hidden"] = sorted(hidden)
    if not roots_only and parent_id is not None:
        params["parent_id"] = parent_id
    if level is not None:
        params["level"] = level
    if hierarchy is not None:
        params["hierarchy"] = hierarchy
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["pattern"] = f"%{escaped}%"
        if len(text) >= MIN_INDEXED_LENGTH:
            params["needle"] = text
    by_text: bool | str = "indexed" if "needle" in params else "pattern" in params
    return (roots_only, "parent_id" in params, "level" in params, by_text, "hierarchy" in params, "hidden" in params), params


def _filtered(query: Any, shape: Shape, values: dict[str, Any] | None = None) -> Any:
    """The filters of `shape` on `query`: on bound parameters, or on `values` when given."""
    roots_only, by_parent, by_level, by_text, by_hierarchy, by_visibility = shape
    value = bindparam if values is None else lambda name: literal(values[name])
    if by_visibility:
        query = query.where(_VISIBLE if values is None else Artifact.root_id.not_in(values["hidden"]))
    if by_hierarchy:
        query = query.where(Artifact.hierarchy == value("hierarchy"))
    if roots_only and by_hierarchy:
        query = query.where(Artifact.level == 0)  # a hierarchy's roots: one range of (hierarchy, level, id)
    elif roots_only:
        query = query.where(Artifact.parent_id.is_(None))
    elif by_parent:
        query = query.where(Artifact.parent_id == value("parent_id"))
    if by_level:
        query = query.where(Artifact.level == value("level"))
    if by_text == "indexed":  # the full-text index narrows, ILIKE decides (see fulltext.py)
        query = query.where(TextCandidates(value("needle")))
    if by_text:
        query = query.where(cast(Artifact.data, Text).ilike(value("pattern"), escape="\\"))
    return query


# Listings and trees carry at most this many bytes of each artifact's `data` (as JSON text):
# past it, the database sends a stand-in, so a few huge artifacts cannot make a list page
# cost gigabytes. Every statement built on _list_columns binds it; 0 in the policy means no cap.
ITEM_DATA_CAP = bindparam("max_item_data_bytes", type_=Integer)
TRUNCATED = "$truncated"
HEAD = "$head"  # the first characters of the data's text, for listed_data to find the name in
HEAD_CHARACTERS = 1024
NAME_BYTES = 200  # a text `name` up to this long is kept in the stand-in (pages show it)


def _capped_data(dialect: str) -> Any:
    """`data` as JSON text, or, when that text is longer than ITEM_DATA_CAP, a stand-in the
    database builds without sending the value:

        {"name": "big.json",
         "$truncated": {"bytes": 62914560, "limit": 16384, "href": "/api/v1/artifacts/<id>"}}

    with `name` when it is short text. PostgreSQL looks it up in the jsonb; SQLite would
    have to parse the whole text (3.40 caches a few parses per statement: a list of five
    60 MB artifacts peaked a worker at 1.5 GB), so it sends the text's first characters
    instead ("$head") and listed_data finds the name there.
    """
    text = cast(Artifact.data, Text)
    href = literal("/api/v1/artifacts/", Text) + Artifact.id
    if dialect == "postgresql":  # jsonb: finding `name` in it is a lookup, not a parse
        size = func.octet_length(text)
        details = func.jsonb_build_object("bytes", size, "limit", ITEM_DATA_CAP, "href", href)
        name = Artifact.data["name"]
        short_name = (func.jsonb_typeof(name) == "string") & (func.octet_length(name.astext) <= NAME_BYTES)
        named = case((short_name, func.jsonb_build_object("name", name)), else_=cast(literal("{}"), Artifact.data.type))
        stand_in = cast(named.op("||")(func.jsonb_build_object(TRUNCATED, details)), Text)
    else:  # SQLite keeps JSON as text: the length of its bytes needs no parsing (nor do these)
        size = func.length(cast(Artifact.data, LargeBinary))
        details = func.json_object("bytes", size, "limit", ITEM_DATA_CAP, "href", href)
        stand_in = func.json_object(TRUNCATED, details, HEAD, func.substr(text, 1, HEAD_CHARACTERS))
    return case((size > ITEM_DATA_CAP, stand_in), else_=text).label("data")


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def listed_data(value: Any) -> Any:
    """A listed item's data: as stored, or the stand-in of _capped_data, finished: SQLite's
    "$head" gives way to the top-level `name` when that is short text found whole in those
    first characters (SQLite keeps keys in the order they were written)."""
    if type(value) is not dict or HEAD not in value or TRUNCATED not in value:
        return value
    name = _top_level_text(value.pop(HEAD), "name")
    return {"name": name, **value} if name is not None else value


def _top_level_text(head: str, key: str) -> str | None:
    """The text value of `key` in the JSON object whose text begins with `head`, if it is there whole."""
    at = _WHITESPACE.match(head, 1).end() if head.startswith("{") else len(head)
    while at < len(head):
        try:
            found, at = _DECODER.raw_decode(head, at)
            at = _WHITESPACE.match(head, at).end()
            if head[at : at + 1] != ":":
                return None
            value, at = _DECODER.raw_decode(head, _WHITESPACE.match(head, at + 1).end())
        except ValueError:  # cut off within this entry
            return None
        if found == key:
            return value if isinstance(value, str) and len(value.encode()) <= NAME_BYTES else None
        at = _WHITESPACE.match(head, at).end()
        if head[at : at + 1] != ",":
            return None
        at = _WHITESPACE.match(head, at + 1).end()
    return None


def _list_columns(dialect: str) -> Any:
    """A listing's columns as subtree_rows reads them: `data` as JSON text (capped, see
    _capped_data) and timestamps as ISO-8601 text, decoded by the manager (orjson,
    pydantic) faster than per-value types."""
    return select(
        Artifact.id,
        Artifact.parent_id,
        Artifact.level,
        _capped_data(dialect),
        _iso_text(Artifact.created_at, dialect).label("created_at"),
        _iso_text(Artifact.updated_at, dialect).label("updated_at"),
        Artifact.hierarchy,
        Artifact.revision,
    )


@cache
def _page_statement(shape: Shape, descending: bool, dialect: str) -> Any:
    order = Artifact.id.desc() if descending else Artifact.id.asc()
    ids = (
        _filtered(select(Artifact.id), shape)
        .order_by(order)
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
        .subquery()
    )
    # No outer ORDER BY (the databases would add a sort step): page() sorts the rows.
    return _list_columns(dialect).join(ids, Artifact.id == ids.c.id)


@cache
def _after_statement(shape: Shape, descending: bool, dialect: str) -> Any:
    if descending:
        query, order = _list_columns(dialect).where(Artifact.id < bindparam("after")), Artifact.id.desc()
    else:
        query, order = _list_columns(dialect).where(Artifact.id > bindparam("after")), Artifact.id.asc()
    return _filtered(query, shape).order_by(order).limit(bindparam("limit", type_=Integer))


@cache
def _count_statement(shape: Shape) -> Any:
    return select(func.count()).select_from(_filtered(select(Artifact.id), shape).subquery())


_CHILDREN_OF = select(Artifact.level, Artifact.hierarchy, Artifact.root_id, _CHILD_COUNT).where(Artifact.id == bindparam("artifact_id"))


def _by_id(row: Row[Any]) -> str:
    return row.id


class ArtifactRepository:
    """Data access for `artifacts`, on one SQLAlchemy session."""

    def __init__(self, session: Session, *, max_item_data_bytes: int = 0) -> None:
        self.session = session
        # Policy.max_item_data_bytes (the manager sets it): the cap on `data` in listings.
        self.max_item_data_bytes = max_item_data_bytes
        # The roots of the trees the caller may not read (the manager sets them from its
        # TreeAccess): lists, totals, search and single reads leave those trees out.
        self.hidden_roots: frozenset[str] = frozenset()

    @property
    def _hidden(self) -> dict[str, list[str]]:
        return {"hidden": sorted(self.hidden_roots)}

    def _visible(self, query: Any) -> Any:
        return query.where(Artifact.root_id.not_in(sorted(self.hidden_roots))) if self.hidden_roots else query

    @property
    def _cap(self) -> dict[str, int]:
        return {"max_item_data_bytes": self.max_item_data_bytes if self.max_item_data_bytes > 0 else 2**31 - 1}

    # Single rows ---------------------------------------------------------------

    def get(self, artifact_id: str, *, for_update: bool = False) -> Artifact | None:
        """The artifact as an ORM object; `for_update` re-reads it and locks its row until
        the transaction ends (FOR NO KEY UPDATE on PostgreSQL, so creating children of it
        is not blocked; SQLite's write lock already covers the whole database)."""
        if for_update:
            return self.session.get(
                Artifact, artifact_id, with_for_update={"key_share": True}, populate_existing=True
            )
        return self.session.get(Artifact, artifact_id)

    def get_row(self, artifact_id: str) -> Row[Any] | None:
        """The artifact as a plain row: cheaper than an ORM object for read-only use."""
        if self.hidden_roots:
            return self.session.connection().execute(_VISIBLE_ROW_BY_ID, {"artifact_id": artifact_id, **self._hidden}).first()
        return self.session.connection().execute(_ROW_BY_ID, {"artifact_id": artifact_id}).first()

    def level_of(self, artifact_id: str) -> int | None:
        """The level of an artifact, or None when it does not exist."""
        return self.session.connection().scalar(_LEVEL_BY_ID, {"artifact_id": artifact_id})

    def place_of(self, artifact_id: str) -> Row[Any] | None:
        """(level, hierarchy, root_id) of an artifact: where a child of it goes. None when missing."""
        return self.session.connection().execute(_PLACE_BY_ID, {"artifact_id": artifact_id}).first()

    def insert(self, values: dict[str, Any]) -> None:
        """Insert one artifact row with a single Core INSERT (no ORM unit of work)."""
        self.session.connection().execute(_INSERT, values)

    def exists(self, artifact_id: str) -> bool:
        return self.session.scalar(select(literal(1)).where(Artifact.id == artifact_id)) is not None

    def hides(self, root_id: str | None) -> bool:
        """True when the tree of `root_id` is one the caller may not read."""
        return root_id is not None and root_id in self.hidden_roots

    def delete(self, artifact: Artifact) -> None:
        self.session.delete(artifact)
        self.session.flush()

    def delete_all(self) -> int:
        """Remove every artifact (foreign keys are checked at the end of the statement)."""
        return self.session.execute(delete(Artifact)).rowcount

    def delete_many(self, ids: Sequence[str]) -> int:
        """Delete the given artifacts in one statement; callers pass whole subtrees."""
        deleted = 0
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            deleted += self.session.execute(delete(Artifact).where(Artifact.id.in_(chunk))).rowcount
        return deleted

    # Counting and listing -----------------------------------------------------------
    #
    # Totals come from the counts the triggers keep (models.COUNT_TRIGGERS): one row read,
    # whatever the size of the store. Only the text filter still counts by scanning.

    def count_children(self, artifact_id: str) -> int:
        """Counted, not read from child_count: exact inside this transaction too (see
        models.COUNT_TRIGGERS), as deleting an artifact depends on it."""
        return self.session.scalar(select(func.count()).where(Artifact.parent_id == artifact_id)) or 0

    def child_counts(self, ids: Sequence[str]) -> dict[str, int]:
        """Number of children of each of `ids` (missing ids have none), in one query."""
        if not ids:
            return {}
        rows = self.session.execute(select(Artifact.id, _CHILD_COUNT).where(Artifact.id.in_(list(ids))))
        return {artifact_id: count for artifact_id, count in rows}

    def count_at_level(self, level: int, hierarchy: str | None = None) -> int:
        statement = _COUNTS[hierarchy is not None, True]
        if self.hidden_roots:
            return self.total(level=level, hierarchy=hierarchy)
        return self.session.connection().scalar(statement, {"level": level, "hierarchy": hierarchy}) or 0

    def total(
        self,
        *,
        parent_id: str | None = None,
        roots_only: bool = False,
        level: int | None = None,
        text: str | None = None,
        hierarchy: str | None = None,
    ) -> int:
        """How many artifacts match the filters: from the maintained counts, except with a
        `text` filter, which scans (full-text search would index it)."""
        if text or (self.hidden_roots and parent_id is None):
            # The kept counts cover every tree: with some hidden, the visible ones are counted.
            shape, params = _listing(parent_id, roots_only, level, text, hierarchy, self.hidden_roots)
            return self.session.connection().scalar(_count_statement(shape), params) or 0
        if roots_only:  # roots are exactly the artifacts at level 0
            return self.count_at_level(0, hierarchy) if level in (None, 0) else 0
        if parent_id is not None:
            row = self.session.connection().execute(_CHILDREN_OF, {"artifact_id": parent_id}).first()
            if row is None or self.hides(row.root_id) or (level is not None and level != row.level + 1):
                return 0
            if hierarchy is not None and hierarchy != row.hierarchy:
                return 0  # children are in their parent's hierarchy
            return row.child_count
        if level is not None:
            return self.count_at_level(level, hierarchy)
        return self.count(hierarchy)

    def page(
        self, *, offset: int, limit: int, newest_first: bool = False, **filters: Any
    ) -> tuple[list[Row[Any]], int]:
        """One page of artifacts in a stable order (by ULID), and the total matching. Rows
        are (id, parent_id, level, data, created_at, updated_at), as text like subtree_rows'.

        A page past the middle is read from the other end, so the offset the database
        steps over is at most half the matches. The ids are picked first from the index
        alone (an index-only scan), and only the page's rows are read.
        """
        total = self.total(**filters)
        end = min(offset + limit, total)
        if offset >= end:
            return [], total
        descending = newest_first
        if total - end < offset:
            descending, offset, limit = not descending, total - end, end - offset
        shape, params = _listing(**filters, hidden=self.hidden_roots)
        connection = self.session.connection()
        rows = connection.execute(
            _page_statement(shape, descending, connection.dialect.name), {**params, "offset": offset, "limit": limit, **self._cap}
        )
        return sorted(rows, key=_by_id, reverse=newest_first), total

    def after(
        self, after_id: str, *, limit: int, newest_first: bool = False, **filters: Any
    ) -> list[Row[Any]]:
        """The next `limit` artifacts (rows as page()'s) beyond `after_id` in the listing's order (keyset
        pagination): an index range from that id, however deep into the listing."""
        shape, params = _listing(**filters, hidden=self.hidden_roots)
        connection = self.session.connection()
        statement = _after_statement(shape, newest_first, connection.dialect.name)
        return list(connection.execute(statement, {**params, "after": after_id, "limit": limit, **self._cap}))

    # Filtered listings (webapp/search compiles the filter language into `where` and `order_by`)

    def listing_where(
        self,
        *,
        parent_id: str | None = None,
        roots_only: bool = False,
        level: int | None = None,
        text: str | None = None,
        hierarchy: str | None = None,
    ) -> list[Any]:
        """The listing's own filters as WHERE terms, to combine with a compiled filter."""
        shape, params = _listing(parent_id, roots_only, level, text, hierarchy, self.hidden_roots)
        clause = _filtered(select(Artifact.id), shape, params).whereclause
        return [] if clause is None else [clause]

    def rows_where(self, where: Sequence[Any], order_by: Sequence[Any], *, offset: int, limit: int) -> list[Row[Any]]:
        """One page of rows (as page()'s) matching every term of `where`, in `order_by` order."""
        connection = self.session.connection()
        statement = _list_columns(connection.dialect.name).where(*where).order_by(*order_by).offset(offset).limit(limit)
        return list(connection.execute(statement, self._cap))

    def count_where(self, where: Sequence[Any]) -> int:
        """How many artifacts match (a scan of the matches: compiled filters have no kept counts)."""
        return self.session.connection().scalar(select(func.count()).select_from(Artifact).where(*where)) or 0

    def first_value_where(self, where: Sequence[Any], value: Any, order_by: Sequence[Any]) -> Any:
        statement = select(value).select_from(Artifact).where(*where).order_by(*order_by).limit(1)
        return self.session.connection().scalar(statement)

    def value_counts(self, where: Sequence[Any], value: Any, limit: int) -> list[Row[Any]]:
        """(value, count) of `value` over the matches, most frequent first, ties by value;
        NULL (a missing value) left out."""
        count = func.count().label("count")
        statement = (
            select(value.label("value"), count)
            .where(*where, value.is_not(None))
            .group_by(value)
            .order_by(count.desc(), value.asc())
            .limit(limit)
        )
        return list(self.session.connection().execute(statement))

    def rows_by_ids(self, ids: Sequence[str]) -> list[Row[Any]]:
        """The rows (as page()'s) of the given ids that exist, in no particular order."""
        connection = self.session.connection()
        statement = self._visible(_list_columns(connection.dialect.name).where(Artifact.id.in_(list(ids))))
        return list(connection.execute(statement, self._cap))

    def all(self) -> list[Artifact]:
        return list(self.session.scalars(select(Artifact).order_by(Artifact.id)))

    def count_by_hierarchy_level(self) -> dict[tuple[str, int], int]:
        """{(hierarchy, level): how many artifacts are at it}, for those that have any: the
        maintained counts (a handful of rows), not a scan (unless some trees are hidden)."""
        if self.hidden_roots:
            scan = self._visible(select(Artifact.hierarchy, Artifact.level, func.count()).group_by(Artifact.hierarchy, Artifact.level))
            return {(hierarchy, level): n for hierarchy, level, n in sorted(self.session.execute(scan)) if n}
        stored = select(ArtifactCount.hierarchy, ArtifactCount.level, ArtifactCount.artifacts)
        counts = {(hierarchy, level): n for hierarchy, level, n in self.session.execute(stored)}
        pending = (
            select(ArtifactCountDelta.hierarchy, ArtifactCountDelta.level, func.sum(ArtifactCountDelta.n))
            .where(ArtifactCountDelta.level.is_not(None))
            .group_by(ArtifactCountDelta.hierarchy, ArtifactCountDelta.level)
        )
        for hierarchy, level, n in self.session.execute(pending):
            counts[hierarchy, level] = counts.get((hierarchy, level), 0) + n
        return {key: count for key, count in sorted(counts.items()) if count > 0}

    def count_by_level(self) -> dict[int, int]:
        """{level: how many artifacts are at it, in every hierarchy}, for the levels that have any."""
        counts: dict[int, int] = {}
        for (_, level), n in self.count_by_hierarchy_level().items():
            counts[level] = counts.get(level, 0) + n
        return dict(sorted(counts.items()))

    def count(self, hierarchy: str | None = None) -> int:
        """All artifacts (of one hierarchy): the sum of a handful of maintained counts."""
        if self.hidden_roots:
            query = self._visible(select(func.count()).select_from(Artifact))
            if hierarchy is not None:
                query = query.where(Artifact.hierarchy == hierarchy)
            return self.session.scalar(query) or 0
        return self.session.connection().scalar(_COUNTS[hierarchy is not None, False], {"hierarchy": hierarchy}) or 0

    # Trees -------------------------------------------------------------------------

    def _subtree(self, root_id: str, max_depth: int | None = None) -> Any:
        """Recursive CTE (id, depth) over the root and its descendants.

        The depth bound sits inside the recursive step, so the database never visits
        nodes deeper than asked.
        """
        walk = (
            select(Artifact.id.label("id"), literal(0).label("depth"))
            .where(Artifact.id == root_id)
            .cte("subtree", recursive=True)
        )
        child = select(Artifact.id, (walk.c.depth + 1).label("depth")).join(
            walk, Artifact.parent_id == walk.c.id
        )
        if max_depth is not None:
            child = child.where(walk.c.depth < max_depth)
        return walk.union_all(child)

    def subtree_rows(self, root_id: str, max_depth: int | None = None) -> Sequence[Row[Any]]:
        """The root and its descendants down to `max_depth` levels below it, in ONE query.

        Rows are (id, parent_id, level, data, created_at, updated_at, hierarchy, revision, depth) with `data`
        as JSON text and the timestamps as UTC ISO-8601 text: skipping per-value type
        processing keeps a 10,000-node tree cheap. Every parent precedes its children;
        siblings are in id order.
        """
        connection = self.session.connection()
        statement = _subtree_rows_statement(connection.dialect.name, max_depth is not None)
        return connection.execute(statement, {"root_id": root_id, "max_depth": max_depth, **self._cap}).all()

    def subtree_ids(self, root_id: str) -> list[str]:
        """Ids of the root and all its descendants, deepest first (a safe delete order)."""
        walk = self._subtree(root_id)
        return list(self.session.scalars(select(walk.c.id).order_by(walk.c.depth.desc())))

    def subtree_max_level(self, root_id: str) -> int:
        walk = self._subtree(root_id)
        query = select(func.max(Artifact.level)).join(walk, Artifact.id == walk.c.id)
        return self.session.scalar(query) or 0

    def descendant_ids_query(self, root_id: str) -> Any:
        """A select of the ids of the artifact's descendants (not the artifact itself)."""
        walk = self._subtree(root_id)
        return select(walk.c.id).where(walk.c.depth > 0)

    def relocate(self, root_id: str, delta: int, hierarchy: str, tree_root: str) -> None:
        """Add `delta` to the level of the root and every descendant, and put them all in
        `hierarchy` and the tree rooted at `tree_root`, in one UPDATE (a move)."""
        walk = self._subtree(root_id)
        self.session.execute(
            update(Artifact)
            .where(Artifact.id.in_(select(walk.c.id)))
            .values(level=Artifact.level + delta, hierarchy=hierarchy, root_id=tree_root)
            .execution_options(synchronize_session=False)
        )

    def ancestors(self, artifact_id: str) -> list[Row[Any]]:
        """The chain of ancestors of an artifact, root first (excluding the artifact), as
        listing rows (data and times as text, data capped)."""
        connection = self.session.connection()
        statement = _ancestors_statement(connection.dialect.name)
        return list(connection.execute(statement, {"artifact_id": artifact_id, **self._cap}))

    def expansion_rows(self, artifact_id: str) -> Sequence[Row[Any]]:
        """subtree_rows(artifact_id), preceded by the artifact's ancestors, root first, at
        negative depths (-1 is the parent), in ONE query."""
        connection = self.session.connection()
        statement = _expansion_rows_statement(connection.dialect.name)
        return connection.execute(statement, {"root_id": artifact_id, "artifact_id": artifact_id, **self._cap}).all()

    def is_descendant_or_self(self, candidate_id: str, artifact_id: str) -> bool:
        """True when `candidate_id` is `artifact_id` or lies in its subtree."""
        if candidate_id == artifact_id:
            return True
        return any(a.id == artifact_id for a in self.ancestors(candidate_id))
