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

from webapp.artifacts.models import create_count_triggers, drop_count_triggers, recount

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
