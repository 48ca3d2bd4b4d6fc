"""The `artifact_frames` table: the rows of an artifact's table, kept beside the artifact.

An uploaded CSV becomes one Parquet file stored in this table (a BLOB on SQLite, bytea
on PostgreSQL), so backups, transactions and both databases keep working unchanged,
while the artifact's JSON `data` stays small. Why: docs/tables.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.artifacts.models import Base, UTCDateTime, utcnow

PARQUET = "parquet"


class ArtifactFrame(Base):
    __tablename__ = "artifact_frames"

    # One frame per artifact, kept as long as the artifact's history: no foreign key, as
    # for artifact_revisions, so a deleted table artifact is restored whole (its rows are
    # immutable, never copied into revisions). Retention removes it (FrameService.purged).
    artifact_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    format: Mapped[str] = mapped_column(String(16), nullable=False, default=PARQUET)
    # SHA-256 of the uploaded file: with the artifact id, it names the frame in caches.
    source_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # How the file was read, as uploaded (CSVSource: file_name, size_bytes, sha256, encoding,
    # delimiter, header): the provenance the pages show, which editing the artifact's data
    # cannot change. Null for tables stored before migration 0003 without matching data.
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    row_count: Mapped[int] = mapped_column(Integer, nullable=False)
    column_count: Mapped[int] = mapped_column(Integer, nullable=False)
    # {column: pandas dtype} in column order; JSON (not JSONB) keeps that order.
    dtypes: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False)
    # describe() of the numeric columns as a PandasDataFrame dict, or null when none.
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    # Deferred: listing or checking a frame never pulls the (possibly large) file.
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<ArtifactFrame {self.artifact_id} {self.row_count}×{self.column_count} {self.format}>"
