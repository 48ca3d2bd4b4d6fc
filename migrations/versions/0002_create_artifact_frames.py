"""Create artifact_frames: an artifact's table rows as one Parquet file beside it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from webapp.artifacts.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "artifact_frames",
        sa.Column("artifact_id", sa.String(length=26), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("column_count", sa.Integer(), nullable=False),
        sa.Column("dtypes", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name="fk_artifact_frames_artifact_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("artifact_id", name="pk_artifact_frames"),
    )


def downgrade():
    op.drop_table("artifact_frames")
