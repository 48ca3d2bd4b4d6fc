"""Files are part of a revision; a deleted table artifact keeps its table.

- artifact_revision_files: the file manifest of each revision (name → blob, size, type).
  Revisions made before this migration list the files the artifact has now that were
  stored by then (the newest revision lists all of them): what they held before is not
  known, and a revert to such a revision never removes a file it cannot know about.
- artifact_frames loses its foreign key (ON DELETE CASCADE): a table's rows stay while the
  artifact's history does, so delete → restore brings the table back (retention, `prune`,
  removes them). A table whose artifact was deleted before this migration is gone already.

Each step checks what is there first: a database made by create_all() may have the table
already and no foreign key (webapp.database.TABLES_BY_REVISION).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from webapp.artifacts.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if not inspector.has_table("artifact_revision_files"):
        op.create_table(
            "artifact_revision_files",
            sa.Column("artifact_id", sa.String(length=26), nullable=False),
            sa.Column("revision", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("name", sa.String(length=255), nullable=False),
            sa.Column("sha256", sa.String(length=64), nullable=False),
            sa.Column("size", sa.BigInteger(), nullable=False),
            sa.Column("media_type", sa.String(length=255), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("artifact_id", "revision", "name", name="pk_artifact_revision_files"),
        )
        op.create_index("ix_artifact_revision_files_sha256", "artifact_revision_files", ["sha256"])
        bind.execute(sa.text(
            "INSERT INTO artifact_revision_files (artifact_id, revision, name, sha256, size, media_type, created_at) "
            "SELECT r.artifact_id, r.revision, f.name, f.sha256, f.size, f.media_type, f.created_at "
            "FROM artifact_revisions AS r JOIN artifact_files AS f ON f.artifact_id = r.artifact_id "
            "WHERE f.created_at <= r.at OR r.revision = "
            "(SELECT max(n.revision) FROM artifact_revisions AS n WHERE n.artifact_id = r.artifact_id)"
        ))
    foreign_keys = [fk["name"] for fk in inspector.get_foreign_keys("artifact_frames") if fk.get("name")]
    if foreign_keys:
        with op.batch_alter_table("artifact_frames") as batch:  # SQLite: the table is rebuilt
            for name in foreign_keys:
                batch.drop_constraint(name, type_="foreignkey")


def downgrade():
    # Tables of deleted artifacts go: the foreign key would refuse them.
    op.execute("DELETE FROM artifact_frames WHERE artifact_id NOT IN (SELECT id FROM artifacts)")
    with op.batch_alter_table("artifact_frames") as batch:
        batch.create_foreign_key(
            "fk_artifact_frames_artifact_id", "artifacts", ["artifact_id"], ["id"], ondelete="CASCADE"
        )
    op.drop_index("ix_artifact_revision_files_sha256", table_name="artifact_revision_files")
    op.drop_table("artifact_revision_files")
