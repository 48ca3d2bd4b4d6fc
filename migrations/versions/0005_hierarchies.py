"""Several hierarchies: each tree belongs to one, and every artifact knows its tree's root.

Adds artifacts.hierarchy (the tree's hierarchy, inherited by descendants) and
artifacts.root_id (the tree's root; a root's own id), with indexes for `?hierarchy=`
listings. Every existing tree joins the default hierarchy (ARTIFACT_HIERARCHY when the app
runs the migration, else ml_pipeline): nothing is lost. The maintained counts are now kept
per hierarchy and level, in artifact_counts, which replaces artifact_level_counts.

Each step checks what is there first: a database made by create_all() may have some of it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import context, op
from flask import current_app

from webapp.artifacts.models import create_count_triggers, drop_count_triggers, recount

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_artifacts_hierarchy_id": ["hierarchy", "id"],
    "ix_artifacts_hierarchy_level_id": ["hierarchy", "level", "id"],
    "ix_artifacts_root_id": ["root_id"],
}


def _default_hierarchy() -> str:
    try:
        return current_app.config.get("ARTIFACT_HIERARCHY") or "ml_pipeline"
    except RuntimeError:  # run without an app
        return "ml_pipeline"


def _root_of_every_artifact() -> sa.TextClause:
    """root_id from the parent chains: a recursive walk down from each root."""
    return sa.text(
        "WITH RECURSIVE tree(id, root) AS ("
        " SELECT id, id FROM artifacts WHERE parent_id IS NULL"
        " UNION ALL SELECT a.id, tree.root FROM artifacts AS a JOIN tree ON a.parent_id = tree.id)"
        " UPDATE artifacts SET root_id = (SELECT root FROM tree WHERE tree.id = artifacts.id)"
    )


def upgrade():
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    # The old triggers first: the fill's own updates must not be counted twice.
    drop_count_triggers(bind)
    columns = {column["name"] for column in inspector.get_columns("artifacts")}
    # Plain ADD COLUMN with a default (no table rebuild on SQLite, which would drop the
    # partial roots index's condition); PostgreSQL then drops the defaults, as new rows
    # always name both. SQLite cannot drop a default without a rebuild: it keeps them.
    if "hierarchy" not in columns:
        op.add_column("artifacts", sa.Column("hierarchy", sa.String(64), nullable=False, server_default=_default_hierarchy()))
    if "root_id" not in columns:
        op.add_column("artifacts", sa.Column("root_id", sa.String(26), nullable=False, server_default=""))
        bind.execute(_root_of_every_artifact())
    if bind.dialect.name == "postgresql":
        for name, type_ in (("hierarchy", sa.String(64)), ("root_id", sa.String(26))):
            if name not in columns:
                op.alter_column("artifacts", name, existing_type=type_, server_default=None)
    indexes = {index["name"] for index in sa.inspect(bind).get_indexes("artifacts")}
    for name, index_columns in INDEXES.items():
        if name not in indexes:
            op.create_index(name, "artifacts", index_columns)
    if "hierarchy" not in {column["name"] for column in inspector.get_columns("artifact_count_deltas")}:
        op.add_column("artifact_count_deltas", sa.Column("hierarchy", sa.String(64), nullable=True))
    if not inspector.has_table("artifact_counts"):
        op.create_table(
            "artifact_counts",
            sa.Column("hierarchy", sa.String(64), nullable=False),
            sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("artifacts", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("hierarchy", "level", name="pk_artifact_counts"),
        )
    if inspector.has_table("artifact_level_counts"):
        op.drop_table("artifact_level_counts")
    recount(bind)
    create_count_triggers(bind)


def downgrade():
    """Back to one hierarchy: the columns go (every tree then reads with the configured
    labels), and the per-level counts of 0003 come back."""
    bind = op.get_bind()
    drop_count_triggers(bind)
    op.drop_table("artifact_counts")
    op.drop_column("artifact_count_deltas", "hierarchy")
    for name in INDEXES:
        op.drop_index(name, table_name="artifacts")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("root_id")
        batch.drop_column("hierarchy")
    counts_0003 = context.script.get_revision("0003").module
    op.create_table(
        "artifact_level_counts",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("artifacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("level", name="pk_artifact_level_counts"),
    )
    counts_0003.recount(bind)
    counts_0003.create_count_triggers(bind)
