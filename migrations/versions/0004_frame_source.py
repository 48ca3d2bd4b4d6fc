"""Record each stored table's provenance beside it: artifact_frames.source.

The pages showed the file name and SHA-256 from the artifact's data, which any edit can
change. Tables stored before this revision get the provenance their artifact's data holds
when its SHA-256 is the stored file's (so it still describes that file); others keep null.

Each step checks what is there first: a database made by create_all() is stamped 0002
(webapp.database.TABLES_BY_REVISION) and may have the column already.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SOURCE_KEYS = ("file_name", "size_bytes", "sha256", "encoding", "delimiter", "header")


def upgrade():
    connection = op.get_bind()
    if "source" not in {column["name"] for column in sa.inspect(connection).get_columns("artifact_frames")}:
        op.add_column("artifact_frames", sa.Column("source", sa.JSON(), nullable=True))
    frames = sa.table("artifact_frames", sa.column("artifact_id"), sa.column("source_sha256"), sa.column("source", sa.JSON()))
    artifacts = sa.table("artifacts", sa.column("id"), sa.column("data", sa.JSON()))
    rows = connection.execute(
        sa.select(frames.c.artifact_id, frames.c.source_sha256, artifacts.c.data)
        .join(artifacts, artifacts.c.id == frames.c.artifact_id)
        .where(frames.c.source.is_(None))
    ).all()
    for artifact_id, sha256, data in rows:
        data = json.loads(data) if isinstance(data, str) else data
        source = data.get("source") if isinstance(data, dict) else None
        if isinstance(source, dict) and source.get("sha256") == sha256:
            recorded = {key: source[key] for key in SOURCE_KEYS if key in source}
            connection.execute(frames.update().where(frames.c.artifact_id == artifact_id).values(source=recorded))


def downgrade():
    op.drop_column("artifact_frames", "source")
