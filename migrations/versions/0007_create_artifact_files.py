"""Create artifact_files: the named files of artifacts, each naming its blob by SHA-256.

The bytes live in the blob store (BLOB_STORE_URL), not in the database. A database made
by create_all() may have the table already (it is then stamped here by
webapp.database.TABLES_BY_REVISION): the step checks first.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from webapp.artifacts.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    if "artifact_files" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "artifact_files",
        sa.Column("artifact_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name="fk_artifact_files_artifact_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("artifact_id", "name", name="pk_artifact_files"),
    )
    op.create_index("ix_artifact_files_sha256", "artifact_files", ["sha256"])


def downgrade():
    op.drop_index("ix_artifact_files_sha256", table_name="artifact_files")
    op.drop_table("artifact_files")
