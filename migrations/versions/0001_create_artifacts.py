"""Create the artifacts table.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from webapp.artifacts.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("parent_id", sa.String(length=26), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["artifacts.id"], name="fk_artifacts_parent_id"),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
    )
    op.create_index("ix_artifacts_parent_id", "artifacts", ["parent_id"])
    op.create_index("ix_artifacts_level", "artifacts", ["level"])
    op.create_index("ix_artifacts_created_at", "artifacts", ["created_at"])


def downgrade():
    op.drop_index("ix_artifacts_created_at", table_name="artifacts")
    op.drop_index("ix_artifacts_level", table_name="artifacts")
    op.drop_index("ix_artifacts_parent_id", table_name="artifacts")
    op.drop_table("artifacts")
