"""The `artifacts` table. Plain SQLAlchemy, so scripts can use it without Flask."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Connection, DateTime, ForeignKey, Index, Integer, MetaData, String, TypeDecorator, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from ulid import ULID


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(ULID())


class ArtifactJSON(JSON):
    """JSON (JSONB on PostgreSQL) whose elements also offer PostgreSQL's `.astext`.

    So the spec's indexing recipe, `Index("ix_artifact_experiment",
    Artifact.data["experiment_name"].astext)`, works on both databases: it indexes
    `data ->> 'experiment_name'` on PostgreSQL and `json_extract(data, '$."experiment_name"')`
    on SQLite, and queries written the same way can use that index.
    """

    class Comparator(JSON.Comparator):
        @property
        def astext(self) -> Any:
            return self.as_string()

    comparator_factory = Comparator


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
        }
    )


class Artifact(Base):
    __tablename__ = "artifacts"
    # (parent_id, id) and (level, id): a filtered listing in id order walks one index range
    # and stops after its page, instead of collecting and sorting every match. The roots
    # have their own partial index: PostgreSQL reads (parent_id, id) in id order only for
    # `parent_id = x`, never for `parent_id IS NULL`.
    __table_args__ = (
        Index("ix_artifacts_parent_id_id", "parent_id", "id"),
        Index("ix_artifacts_level_id", "level", "id"),
        Index("ix_artifacts_roots", "id", postgresql_where=text("parent_id IS NULL"), sqlite_where=text("parent_id IS NULL")),
        # ?hierarchy= alone, and with a level (its roots: level 0), in id order as above.
        Index("ix_artifacts_hierarchy_id", "hierarchy", "id"),
        Index("ix_artifacts_hierarchy_level_id", "hierarchy", "level", "id"),
        Index("ix_artifacts_root_id", "root_id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    parent_id: Mapped[str | None] = mapped_column(String(26), ForeignKey("artifacts.id"))
    level: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The tree's hierarchy and root, set when the artifact is created or moved (a root is
    # its own root_id): what a tree belongs to is one column away, never a walk up.
    hierarchy: Mapped[str] = mapped_column(String(64), nullable=False)
    root_id: Mapped[str] = mapped_column(String(26), nullable=False)
    data: Mapped[Any] = mapped_column(ArtifactJSON().with_variant(JSONB(), "postgresql"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    # Kept by the database (COUNT_TRIGGERS below), never written by the application.
    child_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # The number of its newest revision in artifact_revisions (1 when created).
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default=text("1"))

    def __repr__(self) -> str:
        return f"<Artifact {self.id} level={self.level}>"


class ArtifactRevision(Base):
    """One immutable revision of an artifact: what it was after each change (webapp.artifacts.revisions).

    `artifact_id` is no foreign key: a deleted artifact keeps its history (and can be
    restored from it). Revisions are written in the transaction of their change, and
    never updated; only retention (ops.prune) removes them.
    """

    __tablename__ = "artifact_revisions"
    __table_args__ = (
        # As-of reads: the newest revision of an artifact at or before a moment.
        Index("ix_artifact_revisions_artifact_id_at", "artifact_id", "at"),
        # As-of trees: the revisions that ever named a parent, walked down from a root.
        Index("ix_artifact_revisions_parent_id", "parent_id", "artifact_id"),
        # $deleted, newest first, without reading the other revisions.
        Index(
            "ix_artifact_revisions_deleted",
            "at",
            postgresql_where=text("action = 'deleted'"),
            sqlite_where=text("action = 'deleted'"),
        ),
    )

    artifact_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    data: Mapped[Any] = mapped_column(ArtifactJSON().with_variant(JSONB(), "postgresql"), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(String(26))
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    hierarchy: Mapped[str] = mapped_column(String(64), nullable=False)  # of its tree, then
    # The root of its tree then: who may read a deleted artifact (per-tree grants) is decided
    # by it. NULL for revisions whose tree could not be told (made before 0012, orphaned).
    root_id: Mapped[str | None] = mapped_column(String(26))
    actor_user: Mapped[str | None] = mapped_column(String(200))
    actor_token: Mapped[str | None] = mapped_column(String(200))
    actor_address: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # when the change was made
    # The artifact's own created_at, kept so that an as-of read or a restore gives it back
    # even once retention has thinned the early revisions.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    def __repr__(self) -> str:
        return f"<ArtifactRevision {self.artifact_id}#{self.revision} {self.action}>"


class ArtifactCount(Base):
    """How many artifacts each level of each hierarchy holds (level 0: its trees); kept by COUNT_TRIGGERS."""

    __tablename__ = "artifact_counts"

    hierarchy: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    artifacts: Mapped[int] = mapped_column(Integer, nullable=False)


class ArtifactCountDelta(Base):
    """PostgreSQL only: count changes waiting for their transaction's commit (see below)."""

    __tablename__ = "artifact_count_deltas"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    parent_id: Mapped[str | None] = mapped_column(String(26))  # a child count, or
    hierarchy: Mapped[str | None] = mapped_column(String(64))  # a hierarchy's level's count
    level: Mapped[int | None] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer, nullable=False)


# Maintained counts -----------------------------------------------------------------------
#
# Totals and child counts are kept in the transaction of every write by triggers, so no
# code path (the manager, ops import/prune, delete_subtree, the level shift of a move, a
# script's raw SQL) can forget them, and reading them costs one row instead of a scan.
# SQLite has only row triggers, and one writer at a time.
#
# PostgreSQL runs creates side by side (UnitOfWork.writing), and a counter row
# updated by one create stays locked until it commits: two creates under one parent, or
# at one level, would run in turn (tests/test_load.py). So its statement triggers (with
# transition tables: one row per parent and per level, not per artifact) only append the
# changes to artifact_count_deltas, which nobody contends for, and a deferred constraint
# trigger applies each one at COMMIT: the counter rows are locked for the commit alone.
# Inside a write transaction the repository adds that transaction's own pending deltas
# (visible to it alone) to the counts, so they are exact there too.

_SQLITE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS artifacts_count_insert AFTER INSERT ON artifacts BEGIN
        UPDATE artifacts SET child_count = child_count + 1 WHERE id = NEW.parent_id;
        INSERT INTO artifact_counts (hierarchy, level, artifacts) VALUES (NEW.hierarchy, NEW.level, 1)
            ON CONFLICT (hierarchy, level) DO UPDATE SET artifacts = artifacts + 1;
    END""",
    """CREATE TRIGGER IF NOT EXISTS artifacts_count_delete AFTER DELETE ON artifacts BEGIN
        UPDATE artifacts SET child_count = child_count - 1 WHERE id = OLD.parent_id;
        UPDATE artifact_counts SET artifacts = artifacts - 1 WHERE hierarchy = OLD.hierarchy AND level = OLD.level;
    END""",
    """CREATE TRIGGER IF NOT EXISTS artifacts_count_move AFTER UPDATE OF parent_id, level, hierarchy ON artifacts
    WHEN OLD.parent_id IS NOT NEW.parent_id OR OLD.level <> NEW.level OR OLD.hierarchy <> NEW.hierarchy BEGIN
        UPDATE artifacts SET child_count = child_count - 1
            WHERE id = OLD.parent_id AND OLD.parent_id IS NOT NEW.parent_id;
        UPDATE artifacts SET child_count = child_count + 1
            WHERE id = NEW.parent_id AND OLD.parent_id IS NOT NEW.parent_id;
        UPDATE artifact_counts SET artifacts = artifacts - 1
            WHERE hierarchy = OLD.hierarchy AND level = OLD.level AND (OLD.level <> NEW.level OR OLD.hierarchy <> NEW.hierarchy);
        INSERT INTO artifact_counts (hierarchy, level, artifacts) SELECT NEW.hierarchy, NEW.level, 1
            WHERE OLD.level <> NEW.level OR OLD.hierarchy <> NEW.hierarchy
            ON CONFLICT (hierarchy, level) DO UPDATE SET artifacts = artifacts + 1;
    END""",
)

_PG_FUNCTIONS = {
    "artifacts_count_added": """
        INSERT INTO artifact_count_deltas (parent_id, hierarchy, level, n)
            SELECT parent_id, NULL, NULL, count(*) FROM changed_rows WHERE parent_id IS NOT NULL GROUP BY parent_id
            UNION ALL
            SELECT NULL, hierarchy, level, count(*) FROM changed_rows GROUP BY hierarchy, level
            ORDER BY 2 NULLS FIRST, 3, 1;
    """,
    "artifacts_count_removed": """
        INSERT INTO artifact_count_deltas (parent_id, hierarchy, level, n)
            SELECT parent_id, NULL, NULL, -count(*) FROM changed_rows WHERE parent_id IS NOT NULL GROUP BY parent_id
            UNION ALL
            SELECT NULL, hierarchy, level, -count(*) FROM changed_rows GROUP BY hierarchy, level
            ORDER BY 2 NULLS FIRST, 3, 1;
    """,
    "artifacts_count_moved": """
        IF pg_trigger_depth() > 1 THEN
            RETURN NULL;  -- the child_count updates of artifacts_count_apply
        END IF;
        INSERT INTO artifact_count_deltas (parent_id, hierarchy, level, n)
            SELECT parent_id, NULL, NULL, sum(n) FROM (
                SELECT o.parent_id, -1 AS n FROM old_rows AS o JOIN changed_rows AS w ON w.id = o.id
                    WHERE o.parent_id IS DISTINCT FROM w.parent_id AND o.parent_id IS NOT NULL
                UNION ALL
                SELECT w.parent_id, 1 FROM old_rows AS o JOIN changed_rows AS w ON w.id = o.id
                    WHERE o.parent_id IS DISTINCT FROM w.parent_id AND w.parent_id IS NOT NULL
            ) AS m GROUP BY parent_id HAVING sum(n) <> 0
            UNION ALL
            SELECT NULL, hierarchy, level, sum(n) FROM (
                SELECT o.hierarchy, o.level, -1 AS n FROM old_rows AS o JOIN changed_rows AS w ON w.id = o.id
                    WHERE o.level <> w.level OR o.hierarchy <> w.hierarchy
                UNION ALL
                SELECT w.hierarchy, w.level, 1 FROM old_rows AS o JOIN changed_rows AS w ON w.id = o.id
                    WHERE o.level <> w.level OR o.hierarchy <> w.hierarchy
            ) AS m GROUP BY hierarchy, level HAVING sum(n) <> 0
            ORDER BY 2 NULLS FIRST, 3, 1;
    """,
    "artifacts_count_apply": """
        IF NEW.parent_id IS NOT NULL THEN
            UPDATE artifacts SET child_count = child_count + NEW.n WHERE id = NEW.parent_id;
        ELSE
            INSERT INTO artifact_counts AS l (hierarchy, level, artifacts) VALUES (NEW.hierarchy, NEW.level, NEW.n)
                ON CONFLICT (hierarchy, level) DO UPDATE SET artifacts = l.artifacts + EXCLUDED.artifacts;
        END IF;
        DELETE FROM artifact_count_deltas WHERE id = NEW.id;
    """,
}

# (name, table, definition); the last one is deferred to COMMIT.
_PG_TRIGGERS = (
    ("artifacts_count_insert", "artifacts", "AFTER INSERT ON artifacts REFERENCING NEW TABLE AS changed_rows"
     " FOR EACH STATEMENT EXECUTE FUNCTION artifacts_count_added()"),
    ("artifacts_count_delete", "artifacts", "AFTER DELETE ON artifacts REFERENCING OLD TABLE AS changed_rows"
     " FOR EACH STATEMENT EXECUTE FUNCTION artifacts_count_removed()"),
    ("artifacts_count_move", "artifacts", "AFTER UPDATE ON artifacts"
     " REFERENCING OLD TABLE AS old_rows NEW TABLE AS changed_rows"
     " FOR EACH STATEMENT EXECUTE FUNCTION artifacts_count_moved()"),
    ("artifact_count_deltas_apply", "artifact_count_deltas", "AFTER INSERT ON artifact_count_deltas"
     " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION artifacts_count_apply()"),
)

COUNT_TRIGGERS = ("artifacts_count_insert", "artifacts_count_delete", "artifacts_count_move")


def drop_count_triggers(connection: Connection) -> None:
    """Remove the count triggers (and PostgreSQL's functions), where they exist."""
    if connection.dialect.name != "postgresql":
        for name in COUNT_TRIGGERS:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        return
    for name, table, _ in _PG_TRIGGERS:
        connection.exec_driver_sql(f"DO $$ BEGIN IF to_regclass('{table}') IS NOT NULL THEN "
                                   f"DROP TRIGGER IF EXISTS {name} ON {table}; END IF; END $$")
    for function in _PG_FUNCTIONS:
        connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function}()")


def create_count_triggers(connection: Connection) -> None:
    """Install the triggers that keep `child_count` and `artifact_counts` (idempotent)."""
    if connection.dialect.name != "postgresql":
        for statement in _SQLITE_TRIGGERS:
            connection.exec_driver_sql(statement)
        return
    for function, body in _PG_FUNCTIONS.items():
        connection.exec_driver_sql(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n{body}\n    RETURN NULL;\nEND\n$$"
        )
    for name, table, definition in _PG_TRIGGERS:
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        constraint = "CONSTRAINT " if "DEFERRABLE" in definition else ""
        connection.exec_driver_sql(f"CREATE {constraint}TRIGGER {name} {definition}")


def recount(connection: Connection) -> None:
    """Recompute every maintained count from the rows (migrations 0003 and 0005, and bulk loads that
    ran with the triggers off). Take the write lock first: a concurrent write would be lost."""
    # Only the rows that are off: an unchanged row would still be rewritten (and passed
    # to PostgreSQL's update trigger).
    actual = "(SELECT count(*) FROM artifacts AS c WHERE c.parent_id = artifacts.id)"
    connection.execute(text(f"UPDATE artifacts SET child_count = {actual} WHERE child_count <> {actual}"))
    connection.execute(text("DELETE FROM artifact_counts"))
    connection.execute(
        text(
            "INSERT INTO artifact_counts (hierarchy, level, artifacts)"
            " SELECT hierarchy, level, count(*) FROM artifacts GROUP BY hierarchy, level"
        )
    )


@event.listens_for(Base.metadata, "after_create")
def _counts_for_new_tables(_metadata: MetaData, connection: Connection, tables: Any = (), **_kw: Any) -> None:
    """create_all(): install the triggers with a new `artifacts` table. (A table that already
    existed may predate `child_count`; migration 0003 brings it up to date.)"""
    if any(table.name == "artifacts" for table in tables):
        create_count_triggers(connection)
