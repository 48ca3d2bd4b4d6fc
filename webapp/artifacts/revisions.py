"""RevisionRepository: the queries on `artifact_revisions`. It may flush, never commits.

Every change of an artifact (create, data update, move, revert, delete, restore) adds one
row here in the transaction of the change; the manager calls `add` or `snapshot` next to
every statement that changes `artifacts`, and tests/test_history_concurrency.py proves
that the count of revisions equals the count of changes under concurrent writers.

As-of reads rebuild the store at a moment from these rows alone: an artifact as it was at
T is its newest revision with `at <= T`, unless that revision is a delete.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Integer, Row, Text, and_, bindparam, cast, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session, aliased

from .actor import Actor
from .models import Artifact, ArtifactRevision
from .repository import _iso_text

ACTIONS = ("created", "updated", "moved", "reverted", "deleted", "restored")
MAX_REVISION = 2_147_483_647  # revision numbers are 32-bit integers on PostgreSQL

R = ArtifactRevision
_INSERT = insert(R.__table__)
_BY_NUMBER = select(R).where(R.artifact_id == bindparam("artifact_id"), R.revision == bindparam("revision"))
_NEWEST = select(R).where(R.artifact_id == bindparam("artifact_id")).order_by(R.revision.desc()).limit(1)
_AS_OF = (
    select(R)
    .where(R.artifact_id == bindparam("artifact_id"), R.at <= bindparam("at"))
    .order_by(R.at.desc(), R.revision.desc())
    .limit(1)
)


def actor_values(actor: Actor) -> dict[str, str | None]:
    return {"actor_user": actor.user, "actor_token": actor.token, "actor_address": actor.address}


def _newest_at(revision: Any) -> Any:
    """True for the row that is its artifact's newest revision at or before :at."""
    newer = aliased(R)
    return revision.revision == (
        select(func.max(newer.revision))
        .where(newer.artifact_id == revision.artifact_id, newer.at <= bindparam("at"))
        .scalar_subquery()
    )


def _document_columns(revision: Any, dialect: str) -> Any:
    """A revision's columns named and shaped as a listing's (repository._list_columns)."""
    return select(
        revision.artifact_id.label("id"),
        revision.parent_id,
        revision.level,
        cast(revision.data, Text).label("data"),
        _iso_text(revision.created_at, dialect).label("created_at"),
        _iso_text(revision.at, dialect).label("updated_at"),
        revision.hierarchy,
        revision.revision,
    )


@cache
def _subtree_as_of_statement(dialect: str) -> Any:
    """The tree under :root_id as it was at :at, in one recursive query over the revisions:
    each step takes the revisions that named the node as parent and keeps those that were
    their artifact's newest at :at (and not a delete)."""
    top = aliased(R)
    walk = (
        select(top.artifact_id.label("id"), top.revision.label("revision"), literal(0).label("depth"))
        .where(top.artifact_id == bindparam("root_id"), _newest_at(top), top.action != "deleted")
        .cte("subtree_as_of", recursive=True)
    )
    child = aliased(R)
    walk = walk.union_all(
        select(child.artifact_id, child.revision, walk.c.depth + 1)
        .join(walk, child.parent_id == walk.c.id)
        .where(
            child.at <= bindparam("at"),
            _newest_at(child),
            child.action != "deleted",
            walk.c.depth < bindparam("max_depth", type_=Integer),
        )
    )
    shown = aliased(R)
    return (
        _document_columns(shown, dialect)
        .add_columns(walk.c.depth)
        .join(walk, and_(shown.artifact_id == walk.c.id, shown.revision == walk.c.revision))
        .order_by(walk.c.depth, shown.artifact_id)
    )


@cache
def _ancestors_as_of_statement(dialect: str) -> Any:
    """The ancestors of :artifact_id as they were at :at, the parent at depth -1."""
    start = aliased(R)
    walk = (
        select(start.parent_id.label("id"), literal(1).label("distance"))
        .where(start.artifact_id == bindparam("artifact_id"), _newest_at(start))
        .cte("ancestry_as_of", recursive=True)
    )
    up = aliased(R)
    walk = walk.union_all(
        select(up.parent_id, walk.c.distance + 1)
        .join(walk, up.artifact_id == walk.c.id)
        .where(_newest_at(up), walk.c.distance < bindparam("max_depth", type_=Integer))
    )
    shown = aliased(R)
    return (
        _document_columns(shown, dialect)
        .add_columns((-walk.c.distance).label("depth"))
        .join(walk, shown.artifact_id == walk.c.id)
        .where(_newest_at(shown), shown.action != "deleted")
        .order_by(walk.c.distance.desc())
    )


def _deleted_filter() -> Any:
    """Delete revisions that are their artifact's newest: the artifact is deleted now."""
    later = aliased(R)
    return and_(
        R.action == "deleted",
        ~select(literal(1)).where(later.artifact_id == R.artifact_id, later.revision > R.revision).exists(),
    )


class RevisionRepository:
    """Data access for `artifact_revisions`, on the manager's session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # Writes -----------------------------------------------------------------------

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert revisions given as column values (one Core INSERT, executemany for several)."""
        if rows:
            self.session.connection().execute(_INSERT, list(rows))

    def snapshot(
        self, ids: Any, *, action: str, actor: Actor, at: datetime, next_number: bool
    ) -> None:
        """Copy the current rows of the artifacts `ids` (a list, or a select of ids) into revisions,
        in one INSERT … SELECT: numbered their `revision` + 1 when `next_number` (a delete,
        whose row then goes), else their `revision` (already bumped by the caller)."""
        values = actor_values(actor)
        number = Artifact.revision + 1 if next_number else Artifact.revision
        source = select(
            Artifact.id,
            number,
            literal(action),
            Artifact.data,
            Artifact.parent_id,
            Artifact.level,
            Artifact.hierarchy,
            Artifact.root_id,
            literal(values["actor_user"], type_=R.actor_user.type),
            literal(values["actor_token"], type_=R.actor_token.type),
            literal(values["actor_address"], type_=R.actor_address.type),
            literal(at, type_=R.at.type),
            Artifact.created_at,
        )
        columns = ["artifact_id", "revision", "action", "data", "parent_id", "level", "hierarchy", "root_id",
                   "actor_user", "actor_token", "actor_address", "at", "created_at"]
        if isinstance(ids, list):
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                self.session.execute(insert(R).from_select(columns, source.where(Artifact.id.in_(chunk))))
        else:
            self.session.execute(insert(R).from_select(columns, source.where(Artifact.id.in_(ids))))

    def bump(self, ids: Any) -> None:
        """Add 1 to the current revision number of the artifacts `ids` (a select of ids)."""
        self.session.execute(
            update(Artifact)
            .where(Artifact.id.in_(ids))
            .values(revision=Artifact.revision + 1)
            .execution_options(synchronize_session=False)
        )

    def purge(self, ids: Sequence[str]) -> int:
        """Remove every revision of these artifacts (retention: ops.prune)."""
        removed = 0
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            removed += self.session.execute(delete(R).where(R.artifact_id.in_(chunk))).rowcount
        return removed

    def thin(self, before: datetime) -> int:
        """Remove revisions made before `before`, except each artifact's newest."""
        newest = aliased(R)
        is_newest = R.revision == (
            select(func.max(newest.revision)).where(newest.artifact_id == R.artifact_id).scalar_subquery()
        )
        return self.session.execute(delete(R).where(R.at < before, ~is_newest)).rowcount

    # Reads ------------------------------------------------------------------------

    def get(self, artifact_id: str, revision: int) -> ArtifactRevision | None:
        return self.session.scalars(_BY_NUMBER, {"artifact_id": artifact_id, "revision": revision}).first()

    def newest(self, artifact_id: str) -> ArtifactRevision | None:
        return self.session.scalars(_NEWEST, {"artifact_id": artifact_id}).first()

    def newest_number(self, artifact_id: str) -> int:
        """The number of the artifact's newest revision; 0 when it has none."""
        return self.session.scalar(select(func.max(R.revision)).where(R.artifact_id == artifact_id)) or 0

    def as_of(self, artifact_id: str, at: datetime) -> ArtifactRevision | None:
        """The artifact's newest revision made at or before `at`."""
        return self.session.scalars(_AS_OF, {"artifact_id": artifact_id, "at": at}).first()

    def page(self, artifact_id: str, *, offset: int, limit: int) -> tuple[list[ArtifactRevision], int]:
        """One page of an artifact's revisions, newest first, and how many it has (one index range)."""
        total = self.session.scalar(select(func.count()).where(R.artifact_id == artifact_id)) or 0
        rows = self.session.scalars(
            select(R).where(R.artifact_id == artifact_id).order_by(R.revision.desc()).offset(offset).limit(limit)
        )
        return list(rows), total

    def previous(self, artifact_id: str, revision: int) -> ArtifactRevision | None:
        """The revision kept just before `revision` (numbers have gaps once thinned)."""
        return self.session.scalars(
            select(R).where(R.artifact_id == artifact_id, R.revision < revision).order_by(R.revision.desc()).limit(1)
        ).first()

    def deleted_page(
        self, *, offset: int, limit: int, hidden: frozenset[str] = frozenset()
    ) -> tuple[list[ArtifactRevision], int]:
        """Artifacts deleted now (their newest revision is the delete), newest delete first,
        but none of the trees `hidden` (nor any whose tree is unknown, when some are hidden).
        Walks the partial index of delete revisions: its cost grows with deletes, not the store."""
        where = _deleted_filter()
        if hidden:
            where = and_(where, R.root_id.is_not(None), R.root_id.not_in(sorted(hidden)))
        total = self.session.scalar(select(func.count()).select_from(R).where(where)) or 0
        rows = self.session.scalars(
            select(R).where(where).order_by(R.at.desc(), R.artifact_id.desc()).offset(offset).limit(limit)
        )
        return list(rows), total

    def deleted_before(self, before: datetime) -> list[str]:
        """Ids of the artifacts deleted now whose delete was made before `before`."""
        return list(self.session.scalars(select(R.artifact_id).where(_deleted_filter(), R.at < before)))

    def subtree_as_of(self, root_id: str, at: datetime, max_depth: int) -> Sequence[Row[Any]]:
        """Rows as repository.subtree_rows gives them, for the tree under `root_id` at `at`."""
        connection = self.session.connection()
        statement = _subtree_as_of_statement(connection.dialect.name)
        return connection.execute(statement, {"root_id": root_id, "at": at, "max_depth": max_depth}).all()

    def ancestors_as_of(self, artifact_id: str, at: datetime, max_depth: int) -> Sequence[Row[Any]]:
        connection = self.session.connection()
        statement = _ancestors_as_of_statement(connection.dialect.name)
        return connection.execute(statement, {"artifact_id": artifact_id, "at": at, "max_depth": max_depth}).all()

    # Export and import ------------------------------------------------------------

    def dump(self, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Every revision of these artifacts, JSON-safe, oldest first, keyed by artifact id."""
        payloads: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows = self.session.scalars(select(R).where(R.artifact_id.in_(chunk)).order_by(R.artifact_id, R.revision))
            for row in rows:
                payloads.setdefault(row.artifact_id, []).append({
                    "revision": row.revision,
                    "action": row.action,
                    "data": row.data,
                    "parent_id": row.parent_id,
                    "level": row.level,
                    "hierarchy": row.hierarchy,
                    "actor": {"user": row.actor_user, "token": row.actor_token, "address": row.actor_address},
                    "at": row.at.isoformat(),
                    "created_at": row.created_at.isoformat(),
                })
        return payloads

    def load(self, payloads: dict[str, Any]) -> list[str]:
        """Replace the revisions of these (just imported) artifacts by those dumped, and set
        each artifact's revision number to its newest. Returns the ids whose newest loaded
        revision no longer says where the artifact is (imported under another parent).
        Raises KeyError, TypeError, ValueError for a malformed payload."""
        misplaced: list[str] = []
        for artifact_id, revisions in payloads.items():
            if not isinstance(revisions, list) or not revisions:
                raise ValueError(f"the history of {artifact_id} is not a list of revisions")
            current = self.session.execute(
                select(Artifact.parent_id, Artifact.level, Artifact.hierarchy, Artifact.root_id)
                .where(Artifact.id == artifact_id)
            ).one()
            # Each revision in the tree the artifact is imported into: an export's own roots mean nothing here.
            rows = [{**_loaded(artifact_id, item, current.hierarchy), "root_id": current.root_id} for item in revisions]
            self.session.execute(delete(R).where(R.artifact_id == artifact_id))
            self.add(rows)
            newest = max(rows, key=lambda row: row["revision"])
            self.session.execute(
                update(Artifact).where(Artifact.id == artifact_id).values(revision=newest["revision"])
            )
            if (current.parent_id, current.level, current.hierarchy) != (
                newest["parent_id"], newest["level"], newest["hierarchy"]
            ):
                misplaced.append(artifact_id)
        return misplaced

    def counts(self) -> tuple[int, int]:
        """(revisions, bytes of their JSON data): for `flask stats`."""
        row = self.session.execute(
            select(func.count(), func.coalesce(func.sum(func.length(cast(R.data, Text))), 0))
        ).one()
        return int(row[0]), int(row[1])


def _loaded(artifact_id: str, item: dict[str, Any], hierarchy: str) -> dict[str, Any]:
    """One dumped revision as column values, checked; `hierarchy` for one dumped without it."""
    if not isinstance(item, dict):
        raise TypeError("a revision must be a JSON object")
    number, action, level = item["revision"], item["action"], item["level"]
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise ValueError(f"revision {number!r} of {artifact_id} is not a positive integer")
    if action not in ACTIONS:
        raise ValueError(f"revision {number} of {artifact_id} has an unknown action {action!r}")
    if not isinstance(level, int) or isinstance(level, bool) or not isinstance(item["data"], dict):
        raise TypeError(f"revision {number} of {artifact_id} has a malformed level or data")
    actor = item.get("actor") or {}
    return {
        "artifact_id": artifact_id,
        "revision": number,
        "action": action,
        "data": item["data"],
        "parent_id": item["parent_id"],
        "level": level,
        "hierarchy": item.get("hierarchy") if isinstance(item.get("hierarchy"), str) else hierarchy,
        "actor_user": actor.get("user"),
        "actor_token": actor.get("token"),
        "actor_address": actor.get("address"),
        "at": _moment(item["at"]),
        "created_at": _moment(item["created_at"]),
    }


def _moment(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)  # TypeError for a non-string
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
