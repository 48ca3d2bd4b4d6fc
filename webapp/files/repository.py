"""FileRepository: the queries on `artifact_files`. It may flush, never commits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .models import ArtifactFile

BATCH = 500  # ids per IN (…): well within every database's limit on bound parameters


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
        """Which of these blobs some file row still uses (an index lookup each)."""
        wanted, found = list(sha256s), set()
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start : start + BATCH]
            found.update(self.session.scalars(select(ArtifactFile.sha256).where(ArtifactFile.sha256.in_(chunk)).distinct()))
        return found

    def blobs_in_use(self) -> Iterator[tuple[str, int, str, str]]:
        """(sha256, size, artifact_id, name) of every file, blob by blob (verify)."""
        statement = select(ArtifactFile.sha256, ArtifactFile.size, ArtifactFile.artifact_id, ArtifactFile.name)
        for sha256, size, artifact_id, name in self.session.execute(statement.order_by(ArtifactFile.sha256)):
            yield sha256, size, artifact_id, name

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(ArtifactFile)) or 0
