"""The `artifact_files` table: which named file of which artifact holds which blob.

The bytes are not here: they are in the blob store (webapp.files.blobs), kept once per
SHA-256 however many artifacts or names refer to them. Deleting an artifact deletes its
rows (in the database, so whole subtrees need no ORM cascade); only `gc-blobs` deletes
bytes, and only those no row refers to.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.artifacts.models import Base, UTCDateTime, utcnow


class ArtifactFile(Base):
    __tablename__ = "artifact_files"

    artifact_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True
    )
    # ≤ 255 bytes of UTF-8 (webapp.files.names): 255 characters always hold it.
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    media_type: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    # gc-blobs asks "does any row still use this blob?" for each blob it finds.
    __table_args__ = (Index("ix_artifact_files_sha256", "sha256"),)

    def __repr__(self) -> str:
        return f"<ArtifactFile {self.artifact_id}/{self.name} {self.sha256[:12]} {self.size}>"


class ArtifactRevisionFile(Base):
    """One file of one revision: the manifest of what an artifact held after each change.

    Every revision lists the files the artifact had then (so revert and restore bring a
    file list back by reference: the blobs are content-addressed), and `gc-blobs` keeps
    every blob a revision names. No foreign key, as for artifact_revisions: a deleted
    artifact keeps its manifests; retention removes them with the revisions.
    """

    __tablename__ = "artifact_revision_files"

    artifact_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    media_type: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_artifact_revision_files_sha256", "sha256"),)

    def __repr__(self) -> str:
        return f"<ArtifactRevisionFile {self.artifact_id}#{self.revision}/{self.name} {self.sha256[:12]}>"
