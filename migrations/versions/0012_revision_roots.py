"""Each revision records the root of its tree then, so that per-tree grants decide who may
see a deleted artifact ($deleted, its history, restore) as they do for the living.

Existing revisions are filled in: a root's revision names itself; a child's names its
parent's tree, as the parent is now or, for a deleted parent, as its own revisions say (up
the chain). A revision whose tree cannot be told stays NULL: hidden from any caller who
has a hidden tree, shown to everyone else.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_FROM_ARTIFACTS = """
UPDATE artifact_revisions SET root_id = (
    SELECT a.root_id FROM artifacts AS a WHERE a.id = artifact_revisions.parent_id)
WHERE root_id IS NULL AND parent_id IS NOT NULL
"""
_FROM_PARENT_REVISIONS = """
UPDATE artifact_revisions SET root_id = (
    SELECT p.root_id FROM artifact_revisions AS p
    WHERE p.artifact_id = artifact_revisions.parent_id AND p.root_id IS NOT NULL
    ORDER BY p.revision DESC LIMIT 1)
WHERE root_id IS NULL AND parent_id IS NOT NULL
"""
_UNKNOWN = "SELECT count(*) FROM artifact_revisions WHERE root_id IS NULL"


def upgrade():
    bind = op.get_bind()
    columns = {column["name"] for column in sa.inspect(bind).get_columns("artifact_revisions")}
    if "root_id" not in columns:  # a database made by create_all() has it already
        with op.batch_alter_table("artifact_revisions") as batch:
            batch.add_column(sa.Column("root_id", sa.String(length=26), nullable=True))
    bind.execute(sa.text("UPDATE artifact_revisions SET root_id = artifact_id WHERE root_id IS NULL AND parent_id IS NULL"))
    bind.execute(sa.text(_FROM_ARTIFACTS))
    unknown = bind.scalar(sa.text(_UNKNOWN))
    while unknown:  # one level of deleted ancestors a round; stops when a round tells no more
        bind.execute(sa.text(_FROM_PARENT_REVISIONS))
        unknown, before = bind.scalar(sa.text(_UNKNOWN)), unknown
        if unknown == before:
            break


def downgrade():
    with op.batch_alter_table("artifact_revisions") as batch:
        batch.drop_column("root_id")
