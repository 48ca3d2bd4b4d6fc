"""Maintained counts (child_count, artifact_level_counts) and keyset indexes.

Totals and child counts were scans (COUNT, GROUP BY) that grew with the store; they are
now kept by triggers in the transaction of every write (webapp.artifacts.models,
COUNT_TRIGGERS; on PostgreSQL through artifact_count_deltas, applied at commit), and
filled here for the rows that exist. The single-column indexes on
parent_id and level become (parent_id, id) and (level, id), and the roots get a partial
index on id, so a filtered listing in id order reads one index range.

Each step checks what is there first: a database made by create_all() is stamped 0002
(webapp.database.TABLES_BY_REVISION) and may already have some of this.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection, text


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD_INDEXES = {"ix_artifacts_parent_id": ["parent_id"], "ix_artifacts_level": ["level"]}
NEW_INDEXES = {"ix_artifacts_parent_id_id": ["parent_id", "id"], "ix_artifacts_level_id": ["level", "id"]}


def upgrade():
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if "child_count" not in {column["name"] for column in inspector.get_columns("artifacts")}:
        op.add_column(
            "artifacts", sa.Column("child_count", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    if not inspector.has_table("artifact_level_counts"):
        op.create_table(
            "artifact_level_counts",
            sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("artifacts", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("level", name="pk_artifact_level_counts"),
        )
    if not inspector.has_table("artifact_count_deltas"):
        op.create_table(
            "artifact_count_deltas",
            sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
            sa.Column("parent_id", sa.String(length=26), nullable=True),
            sa.Column("level", sa.Integer(), nullable=True),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_artifact_count_deltas"),
        )
    indexes = {index["name"] for index in inspector.get_indexes("artifacts")}
    for name, columns in NEW_INDEXES.items():
        if name not in indexes:
            op.create_index(name, "artifacts", columns)
    if "ix_artifacts_roots" not in indexes:
        roots = sa.text("parent_id IS NULL")
        op.create_index("ix_artifacts_roots", "artifacts", ["id"], postgresql_where=roots, sqlite_where=roots)
    for name in OLD_INDEXES:
        if name in indexes:
            op.drop_index(name, table_name="artifacts")
    # Fill, then install: the triggers never see the fill's own updates. No write falls in
    # between: SQLite migrates in BEGIN IMMEDIATE (migrations/env.py), and on PostgreSQL
    # DROP TRIGGER locks the table against writes until this transaction commits.
    drop_count_triggers(bind)
    recount(bind)
    create_count_triggers(bind)


def downgrade():
    drop_count_triggers(op.get_bind())
    for name, columns in OLD_INDEXES.items():
        op.create_index(name, "artifacts", columns)
    for name in [*NEW_INDEXES, "ix_artifacts_roots"]:
        op.drop_index(name, table_name="artifacts")
    op.drop_table("artifact_count_deltas")
    op.drop_table("artifact_level_counts")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("child_count")


# The counts as this revision keeps them (per level only), frozen here: the app's own
# (webapp.artifacts.models) key them by hierarchy since 0005, whose downgrade uses these.
# Not imported from the app, so this revision stays what it was whatever the app becomes.

_SQLITE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS artifacts_count_insert AFTER INSERT ON artifacts BEGIN
        UPDATE artifacts SET child_count = child_count + 1 WHERE id = NEW.parent_id;
        INSERT INTO artifact_level_counts (level, artifacts) VALUES (NEW.level, 1)
            ON CONFLICT (level) DO UPDATE SET artifacts = artifacts + 1;
    END""",
    """CREATE TRIGGER IF NOT EXISTS artifacts_count_delete AFTER DELETE ON artifacts BEGIN
        UPDATE artifacts SET child_count = child_count - 1 WHERE id = OLD.parent_id;
        UPDATE artifact_level_counts SET artifacts = artifacts - 1 WHERE level = OLD.level;
    END""",
    """CREATE TRIGGER IF NOT EXISTS artifacts_count_move AFTER UPDATE OF parent_id, level ON artifacts
    WHEN OLD.parent_id IS NOT NEW.parent_id OR OLD.level <> NEW.level BEGIN
        UPDATE artifacts SET child_count = child_count - 1
            WHERE id = OLD.parent_id AND OLD.parent_id IS NOT NEW.parent_id;
        UPDATE artifacts SET child_count = child_count + 1
            WHERE id = NEW.parent_id AND OLD.parent_id IS NOT NEW.parent_id;
        UPDATE artifact_level_counts SET artifacts = artifacts - 1
            WHERE level = OLD.level AND OLD.level <> NEW.level;
        INSERT INTO artifact_level_counts (level, artifacts) SELECT NEW.level, 1 WHERE OLD.level <> NEW.level
            ON CONFLICT (level) DO UPDATE SET artifacts = artifacts + 1;
    END""",
)

_PG_FUNCTIONS = {
    "artifacts_count_added": """
        INSERT INTO artifact_count_deltas (parent_id, level, n)
            SELECT parent_id, NULL, count(*) FROM changed_rows WHERE parent_id IS NOT NULL GROUP BY parent_id
            UNION ALL
            SELECT NULL, level, count(*) FROM changed_rows GROUP BY level
            ORDER BY 2 NULLS FIRST, 1;
    """,
    "artifacts_count_removed": """
        INSERT INTO artifact_count_deltas (parent_id, level, n)
            SELECT parent_id, NULL, -count(*) FROM changed_rows WHERE parent_id IS NOT NULL GROUP BY parent_id
            UNION ALL
            SELECT NULL, level, -count(*) FROM changed_rows GROUP BY level
            ORDER BY 2 NULLS FIRST, 1;
    """,
    "artifacts_count_moved": """
        IF pg_trigger_depth() > 1 THEN
            RETURN NULL;  -- the child_count updates of artifacts_count_apply
        END IF;
        INSERT INTO artifact_count_deltas (parent_id, level, n)
            SELECT parent_id, NULL, sum(n) FROM (
                SELECT o.parent_id, -1 AS n FROM old_rows AS o JOIN changed_rows AS w ON w.id = o.id
                    WHERE o.parent_id IS DISTINCT FROM w.parent_id AND o.parent_id IS NOT NULL
                UNION ALL
                SELECT w.parent_id, 1 FROM old_rows AS o JOIN changed_rows AS w ON w.id = o.id
                    WHERE o.parent_id IS DISTINCT FROM w.parent_id AND w.parent_id IS NOT NULL
            ) AS m GROUP BY parent_id HAVING sum(n) <> 0
            UNION ALL
            SELECT NULL, level, sum(n) FROM (
                SELECT o.level, -1 AS n FROM old_rows AS o JOIN changed_rows AS w ON w.id = o.id
                    WHERE o.level <> w.level
                UNION ALL
                SELECT w.level, 1 FROM old_rows AS o JOIN changed_rows AS w ON w.id = o.id
                    WHERE o.level <> w.level
            ) AS m GROUP BY level HAVING sum(n) <> 0
            ORDER BY 2 NULLS FIRST, 1;
    """,
    "artifacts_count_apply": """
        IF NEW.parent_id IS NOT NULL THEN
            UPDATE artifacts SET child_count = child_count + NEW.n WHERE id = NEW.parent_id;
        ELSE
            INSERT INTO artifact_level_counts AS l (level, artifacts) VALUES (NEW.level, NEW.n)
                ON CONFLICT (level) DO UPDATE SET artifacts = l.artifacts + EXCLUDED.artifacts;
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
    """Install the triggers that keep `child_count` and `artifact_level_counts` (idempotent)."""
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
    """Recompute every maintained count from the rows (migration 0003, and bulk loads that
    ran with the triggers off). Take the write lock first: a concurrent write would be lost."""
    # Only the rows that are off: an unchanged row would still be rewritten (and passed
    # to PostgreSQL's update trigger).
    actual = "(SELECT count(*) FROM artifacts AS c WHERE c.parent_id = artifacts.id)"
    connection.execute(text(f"UPDATE artifacts SET child_count = {actual} WHERE child_count <> {actual}"))
    connection.execute(text("DELETE FROM artifact_level_counts"))
    connection.execute(
        text("INSERT INTO artifact_level_counts (level, artifacts) SELECT level, count(*) FROM artifacts GROUP BY level")
    )
