"""FileRepository: the queries on `artifact_files`. It may flush, never commits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, literal, select, union
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.orm import Session

from webapp.artifacts.models import ArtifactRevision

from .models import ArtifactFile, ArtifactRevisionFile

BATCH = 500  # ids per IN (…): well within every database's limit on bound parameters

F, RF, R = ArtifactFile, ArtifactRevisionFile, ArtifactRevision
_MANIFEST_COLUMNS = ["artifact_id", "revision", "name", "sha256", "size", "media_type", "created_at"]


def _current_files(ids: Any) -> Any:
    """The current files of artifacts `ids` (a bind parameter, a list or a select of ids) as
    manifest rows of each one's newest revision."""
    newest = select(func.max(R.revision)).where(R.artifact_id == F.artifact_id).scalar_subquery()
    where = F.artifact_id == ids if isinstance(ids, BindParameter) else F.artifact_id.in_(ids)
    return select(F.artifact_id, newest, F.name, F.sha256, F.size, F.media_type, F.created_at).where(where)


# The write of every revision of one artifact: built once.
_RECORD_ONE = insert(RF).from_select(_MANIFEST_COLUMNS, _current_files(bindparam("artifact_id")))


class FileRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, artifact_id: str, name: str) -> ArtifactFile | None:
        return self.session.get(ArtifactFile, (artifact_id, name))

    def of_artifact(self, artifact_id: str) -> list[ArtifactFile]:
        statement = select(ArtifactFile).where(ArtifactFile.artifact_id == artifact_id).order_by(ArtifactFile.name)
        return list(self.session.scalars(statement))

    def of_artifacts(self, artifact_ids: list[str]) -> Iterator[ArtifactFile]:
        for start in range(0, len(artifact_ids), BATCH):
            chunk = artifact_ids[start : start + BATCH]
            statement = select(ArtifactFile).where(ArtifactFile.artifact_id.in_(chunk))
            yield from self.session.scalars(statement.order_by(ArtifactFile.artifact_id, ArtifactFile.name))

    def add(self, file: ArtifactFile) -> None:
        self.session.add(file)
        self.session.flush()

    def remove(self, file: ArtifactFile) -> None:
        self.session.execute(
            delete(ArtifactFile).where(ArtifactFile.artifact_id == file.artifact_id, ArtifactFile.name == file.name)
        )
        self.session.expunge(file)

    def referenced(self, sha256s: Iterable[str]) -> set[str]:
        """Which of these blobs some file, or some revision's manifest, still uses (an index
        lookup each): a blob an old revision names must stay, or reverting to it breaks."""
        wanted, found = list(sha256s), set()
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start : start + BATCH]
            found.update(self.session.scalars(union(
                select(F.sha256).where(F.sha256.in_(chunk)), select(RF.sha256).where(RF.sha256.in_(chunk))
            )))
        return found

    def revision_only_blobs(self) -> Iterator[tuple[str, int, str, str]]:
        """(sha256, size, artifact_id, "name (revision N)") of the blobs only revisions name (verify)."""
        current = select(F.sha256)
        statement = (
            select(RF.sha256, RF.size, RF.artifact_id, RF.name, func.max(RF.revision))
            .where(RF.sha256.not_in(current))
            .group_by(RF.sha256, RF.size, RF.artifact_id, RF.name)
            .order_by(RF.sha256)
        )
        for sha256, size, artifact_id, name, revision in self.session.execute(statement):
            yield sha256, size, artifact_id, f"{name} (revision {revision})"

    # Revision manifests -------------------------------------------------------------

    def record(self, ids: Any) -> None:
        """Copy the current files of the artifacts `ids` (a list, or a select of ids) into
        the manifest of each one's newest revision (just written, so still empty)."""
        connection = self.session.connection()
        if isinstance(ids, list) and len(ids) == 1:
            connection.execute(_RECORD_ONE, {"artifact_id": ids[0]})
            return
        chunks = [ids[start : start + BATCH] for start in range(0, len(ids), BATCH)] if isinstance(ids, list) else [ids]
        for chunk in chunks:
            connection.execute(insert(RF).from_select(_MANIFEST_COLUMNS, _current_files(chunk)))

    def rerecord_newest(self, artifact_id: str) -> None:
        """The manifest of the artifact's newest revision, made again from its files now
        (a file attached in the transaction that created the artifact joins that revision)."""
        newest = select(func.max(R.revision)).where(R.artifact_id == artifact_id).scalar_subquery()
        self.session.execute(delete(RF).where(RF.artifact_id == artifact_id, RF.revision == newest))
        self.record([artifact_id])

    def manifest(self, artifact_id: str, revision: int) -> list[ArtifactRevisionFile]:
        statement = select(RF).where(RF.artifact_id == artifact_id, RF.revision == revision).order_by(RF.name)
        return list(self.session.scalars(statement))

    def manifests(self, artifact_id: str, revisions: list[int]) -> dict[int, list[ArtifactRevisionFile]]:
        """{revision: its files by name} for these revisions of one artifact (one query)."""
        found: dict[int, list[ArtifactRevisionFile]] = {number: [] for number in revisions}
        for start in range(0, len(revisions), BATCH):
            chunk = revisions[start : start + BATCH]
            statement = select(RF).where(RF.artifact_id == artifact_id, RF.revision.in_(chunk))
            for row in self.session.scalars(statement.order_by(RF.revision, RF.name)):
                found[row.revision].append(row)
        return found

    def replace_files(self, artifact_id: str, rows: list[ArtifactRevisionFile]) -> None:
        """Make the artifact's files exactly these manifest rows (revert, restore)."""
        for file in self.of_artifact(artifact_id):  # none left stale in the session
            self.session.expunge(file)
        self.session.execute(delete(F).where(F.artifact_id == artifact_id))
        if rows:
            self.session.execute(insert(F), [
                {"artifact_id": artifact_id, "name": row.name, "sha256": row.sha256, "size": row.size,
                 "media_type": row.media_type, "created_at": row.created_at}
                for row in rows
            ])

    def add_manifest(self, values: list[dict[str, Any]]) -> None:
        if values:
            self.session.execute(insert(RF), values)

    def purge_manifests(self, ids: list[str]) -> None:
        for start in range(0, len(ids), BATCH):
            self.session.execute(delete(RF).where(RF.artifact_id.in_(ids[start : start + BATCH])))

    def drop_orphan_manifests(self) -> int:
        """Remove the manifest rows of revisions that are gone (thinned)."""
        gone = ~select(literal(1)).where(and_(R.artifact_id == RF.artifact_id, R.revision == RF.revision)).exists()
        return self.session.execute(delete(RF).where(gone)).rowcount

    def blobs_in_use(self) -> Iterator[tuple[str, int, str, str]]:
        """(sha256, size, artifact_id, name) of every file, blob by blob (verify)."""
        statement = select(ArtifactFile.sha256, ArtifactFile.size, ArtifactFile.artifact_id, ArtifactFile.name)
        for sha256, size, artifact_id, name in self.session.execute(statement.order_by(ArtifactFile.sha256)):
            yield sha256, size, artifact_id, name

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(ArtifactFile)) or 0

