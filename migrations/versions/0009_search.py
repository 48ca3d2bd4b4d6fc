"""Full-text index of `data` for the text filter and the search box: SQLite FTS5 (trigram,
kept by triggers), PostgreSQL pg_trgm GIN on data::text. See webapp/artifacts/fulltext.py.

Each step is idempotent (IF NOT EXISTS): a database made by create_all() already has it.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

from webapp.artifacts.fulltext import create_fulltext, drop_fulltext

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    create_fulltext(op.get_bind())


def downgrade():
    drop_fulltext(op.get_bind())
