"""ArtifactRepository: the queries. It may flush, never commits (the manager owns transactions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Text, bindparam, cast, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from .models import Artifact

COLUMNS = (
    Artifact.id,
    Artifact.parent_id,
    Artifact.level,
    Artifact.data,
    Artifact.created_at,
    Artifact.updated_at,
)

# Hot-path statements, built once and run on the session's Core connection: building a
# statement and the ORM execution path cost more than running the query on SQLite.
_ROW_BY_ID = select(*COLUMNS).where(Artifact.id == bindparam("artifact_id"))
_LEVEL_BY_ID = select(Artifact.level).where(Artifact.id == bindparam("artifact_id"))
_INSERT = insert(Artifact.__table__)


def _iso_text(column: Any, session: Session) -> Any:
    """A timestamp column rendered by the database as ISO-8601 UTC text ("…T…Z")."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" (UTC, see UTCDateTime).
    return func.replace(cast(column, Text), " ", "T") + "Z"


class ArtifactRepository:
    """Data access for `artifacts`, on one SQLAlchemy session."""

    def __init__(self, session: Session) -> None:
        self.session = session

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
        return self.session.connection().execute(_ROW_BY_ID, {"artifact_id": artifact_id}).first()

    def level_of(self, artifact_id: str) -> int | None:
        """The level of an artifact, or None when it does not exist."""
        return self.session.connection().scalar(_LEVEL_BY_ID, {"artifact_id": artifact_id})

    def insert(self, values: dict[str, Any]) -> None:
        """Insert one artifact row with a single Core INSERT (no ORM unit of work)."""
        self.session.connection().execute(_INSERT, values)

    def exists(self, artifact_id: str) -> bool:
        return self.session.scalar(select(literal(1)).where(Artifact.id == artifact_id)) is not None

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

    def count_children(self, artifact_id: str) -> int:
        return self.session.scalar(select(func.count()).where(Artifact.parent_id == artifact_id)) or 0

    def child_counts(self, ids: Sequence[str]) -> dict[str, int]:
        """Number of children of each of `ids` (missing ids have none), in one query."""
        if not ids:
            return {}
        rows = self.session.execute(
            select(Artifact.parent_id, func.count())
            .where(Artifact.parent_id.in_(list(ids)))
            .group_by(Artifact.parent_id)
        )
        return {parent_id: count for parent_id, count in rows}

    def _filtered(
        self,
        *,
        parent_id: str | None = None,
        roots_only: bool = False,
        level: int | None = None,
        text: str | None = None,
    ) -> Any:
        query = select(Artifact)
        if roots_only:
            query = query.where(Artifact.parent_id.is_(None))
        elif parent_id is not None:
            query = query.where(Artifact.parent_id == parent_id)
        if level is not None:
            query = query.where(Artifact.level == level)
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(cast(Artifact.data, Text).ilike(f"%{escaped}%", escape="\\"))
        return query

    def page(
        self, *, offset: int, limit: int, newest_first: bool = False, **filters: Any
    ) -> tuple[list[Artifact], int]:
        """One page of artifacts in a stable order (by ULID), and the total matching."""
        query = self._filtered(**filters)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        order = Artifact.id.desc() if newest_first else Artifact.id.asc()
        items = list(self.session.scalars(query.order_by(order).offset(offset).limit(limit)))
        return items, total

    def all(self) -> list[Artifact]:
        return list(self.session.scalars(select(Artifact).order_by(Artifact.id)))

    def count_by_level(self) -> dict[int, int]:
        """{level: how many artifacts are at it}, for the levels that have any."""
        query = select(Artifact.level, func.count()).group_by(Artifact.level).order_by(Artifact.level)
        return {level: count for level, count in self.session.execute(query)}

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Artifact)) or 0

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

        Rows are (id, parent_id, level, data, created_at, updated_at, depth) with `data`
        as JSON text and the timestamps as UTC ISO-8601 text: skipping per-value type
        processing keeps a 10,000-node tree cheap. Every parent precedes its children;
        siblings are in id order.
        """
        walk = self._subtree(root_id, max_depth)
        query = (
            select(
                Artifact.id,
                Artifact.parent_id,
                Artifact.level,
                cast(Artifact.data, Text).label("data"),
                _iso_text(Artifact.created_at, self.session).label("created_at"),
                _iso_text(Artifact.updated_at, self.session).label("updated_at"),
                walk.c.depth,
            )
            .join(walk, Artifact.id == walk.c.id)
            .order_by(walk.c.depth, Artifact.id)
        )
        return self.session.execute(query).all()

    def subtree_ids(self, root_id: str) -> list[str]:
        """Ids of the root and all its descendants, deepest first (a safe delete order)."""
        walk = self._subtree(root_id)
        return list(self.session.scalars(select(walk.c.id).order_by(walk.c.depth.desc())))

    def subtree_max_level(self, root_id: str) -> int:
        walk = self._subtree(root_id)
        query = select(func.max(Artifact.level)).join(walk, Artifact.id == walk.c.id)
        return self.session.scalar(query) or 0

    def shift_levels(self, root_id: str, delta: int) -> None:
        """Add `delta` to the level of the root and every descendant, in one UPDATE."""
        walk = self._subtree(root_id)
        self.session.execute(
            update(Artifact)
            .where(Artifact.id.in_(select(walk.c.id)))
            .values(level=Artifact.level + delta)
            .execution_options(synchronize_session=False)
        )

    def ancestors(self, artifact_id: str) -> list[Artifact]:
        """The chain of ancestors of an artifact, root first (excluding the artifact)."""
        walk = (
            select(Artifact.parent_id.label("id"), literal(1).label("distance"))
            .where(Artifact.id == artifact_id)
            .cte("ancestry", recursive=True)
        )
        walk = walk.union_all(
            select(Artifact.parent_id, walk.c.distance + 1).join(walk, Artifact.id == walk.c.id)
        )
        query = select(Artifact).join(walk, Artifact.id == walk.c.id).order_by(walk.c.distance.desc())
        return list(self.session.scalars(query))

    def is_descendant_or_self(self, candidate_id: str, artifact_id: str) -> bool:
        """True when `candidate_id` is `artifact_id` or lies in its subtree."""
        if candidate_id == artifact_id:
            return True
        return any(a.id == artifact_id for a in self.ancestors(candidate_id))
