"""Immutable history: artifact_revisions, and each artifact's current revision number.

Every change of an artifact now writes a revision in its transaction
(webapp.artifacts.revisions). Artifacts that exist get revision 1, `created`, holding their
current row and dated their created_at: what they were before this migration is not known.

Each step checks what is there first: a database made by create_all() may have the table
and the column already (webapp.database.TABLES_BY_REVISION).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DELETED = sa.text("action = 'deleted'")


def upgrade():
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if "revision" not in {column["name"] for column in inspector.get_columns("artifacts")}:
        op.add_column("artifacts", sa.Column("revision", sa.Integer(), server_default=sa.text("1"), nullable=False))
    if not inspector.has_table("artifact_revisions"):
        op.create_table(
            "artifact_revisions",
            sa.Column("artifact_id", sa.String(length=26), nullable=False),
            sa.Column("revision", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("action", sa.String(length=16), nullable=False),
            sa.Column("data", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
            sa.Column("parent_id", sa.String(length=26), nullable=True),
            sa.Column("level", sa.Integer(), nullable=False),
            sa.Column("hierarchy", sa.String(length=64), nullable=False),
            sa.Column("actor_user", sa.String(length=200), nullable=True),
            sa.Column("actor_token", sa.String(length=200), nullable=True),
            sa.Column("actor_address", sa.String(length=100), nullable=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("artifact_id", "revision", name="pk_artifact_revisions"),
        )
        op.create_index("ix_artifact_revisions_artifact_id_at", "artifact_revisions", ["artifact_id", "at"])
        op.create_index("ix_artifact_revisions_parent_id", "artifact_revisions", ["parent_id", "artifact_id"])
        op.create_index(
            "ix_artifact_revisions_deleted", "artifact_revisions", ["at"], postgresql_where=DELETED, sqlite_where=DELETED
        )
    # The first revision of every artifact that has none (all of them, on a first upgrade).
    # No write falls in between: SQLite migrates in BEGIN IMMEDIATE and PostgreSQL under
    # the migration lock (migrations/env.py), before the app serves.
    bind.execute(sa.text(
        "INSERT INTO artifact_revisions (artifact_id, revision, action, data, parent_id, level, hierarchy, at, created_at) "
        "SELECT a.id, a.revision, 'created', a.data, a.parent_id, a.level, a.hierarchy, a.created_at, a.created_at "
        "FROM artifacts AS a "
        "WHERE NOT EXISTS (SELECT 1 FROM artifact_revisions AS r WHERE r.artifact_id = a.id)"
    ))


def downgrade():
    op.drop_table("artifact_revisions")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("revision")
