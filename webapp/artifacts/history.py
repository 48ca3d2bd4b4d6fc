"""HistoryService: reading an artifact's revisions, diffs between them, the deleted artifacts.

The writes (every revision, revert, restore) are the manager's, in the transaction of each
change; this service only reads, and carries the revisions in export files (Store.extras).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from .diff import json_diff
from .errors import ArtifactNotFoundError, RevisionNotFoundError
from .manager import ArtifactManager, normalize_id
from .models import ArtifactRevision, utcnow
from .revisions import RevisionRepository
from .schemas import ArtifactId, ArtifactOut, Page
from .unit_of_work import read_use_case


class RevisionActor(BaseModel):
    user: str | None = None
    token: str | None = None
    address: str | None = None


class RevisionFile(BaseModel):
    """A file as a revision lists it (its name is the key)."""

    model_config = ConfigDict(from_attributes=True)

    sha256: str
    size: int
    media_type: str
    created_at: datetime


class FileManifests(Protocol):
    """Where the files of each revision are kept (webapp.files.FileService)."""

    def manifests(self, artifact_id: str, revisions: list[int]) -> dict[int, Any]: ...

    def current_manifest(self, artifact_id: str) -> Any: ...

    def export_manifests(self, artifact_id: str, revisions: list[int]) -> dict[int, Any]: ...

    def import_manifests(self, artifact_id: str, manifests: dict[int, Any]) -> None: ...


class RevisionOut(BaseModel):
    """One immutable revision: the artifact as it was after a change, and who made it when."""

    artifact_id: ArtifactId
    revision: int
    action: str = Field(..., description="created, updated, moved, reverted, deleted or restored")
    data: Any
    parent_id: ArtifactId | None = None
    level: int
    actor: RevisionActor | None = Field(None, description="Who made the change; null when anonymous")
    at: datetime
    files: dict[str, RevisionFile] | None = Field(
        None, description="The artifact's files after this change, by name (null where files are not kept)"
    )

    @classmethod
    def of(cls, row: ArtifactRevision, files: Any = None) -> RevisionOut:
        actor = None
        if row.actor_user is not None or row.actor_token is not None or row.actor_address is not None:
            actor = RevisionActor(user=row.actor_user, token=row.actor_token, address=row.actor_address)
        return cls(
            artifact_id=row.artifact_id,
            revision=row.revision,
            action=row.action,
            data=row.data,
            parent_id=row.parent_id,
            level=row.level,
            actor=actor,
            at=row.at,
            files=files,
        )


class DeletedArtifact(ArtifactOut):
    """A deleted artifact as it was when deleted."""

    deleted_at: datetime
    deleted_by: RevisionActor | None = None


class DiffSide(BaseModel):
    id: ArtifactId
    revision: int


class FileChange(BaseModel):
    name: str
    old: RevisionFile
    new: RevisionFile


class FilesDiff(BaseModel):
    """How the file lists differ: by name; `changed`: other bytes or type under the same name."""

    added: dict[str, RevisionFile]
    removed: dict[str, RevisionFile]
    changed: list[FileChange]


class Diff(BaseModel):
    """From one artifact (revision) to another: an RFC 6902 patch and the changes it makes."""

    model_config = ConfigDict(extra="allow", serialize_by_alias=True, validate_by_name=True)  # extra: "frame"

    from_: DiffSide = Field(..., alias="from")
    to: DiffSide
    patch: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    files: FilesDiff | None = Field(None, description="How the files differ (null where files are not kept)")


def files_diff(old: dict[str, Any], new: dict[str, Any]) -> FilesDiff:
    """From one manifest (name → file) to another; files with the same bytes and type are unchanged."""
    def content(entry: Any) -> tuple[str, int, str]:
        return entry.sha256, entry.size, entry.media_type

    return FilesDiff(
        added={name: RevisionFile.model_validate(new[name], from_attributes=True) for name in new if name not in old},
        removed={name: RevisionFile.model_validate(old[name], from_attributes=True) for name in old if name not in new},
        changed=[
            FileChange(name=name, old=RevisionFile.model_validate(old[name], from_attributes=True),
                       new=RevisionFile.model_validate(new[name], from_attributes=True))
            for name in old if name in new and content(old[name]) != content(new[name])
        ],
    )


RevisionPage = Page[RevisionOut]
DeletedPage = Page[DeletedArtifact]


@dataclass(frozen=True)
class Compared:
    """Two sides of a diff: their ids, revision numbers and data."""

    from_id: str
    from_revision: int
    from_data: Any
    to_id: str
    to_revision: int
    to_data: Any
    from_files: dict[str, Any] | None = None  # manifests; None where files are not kept
    to_files: dict[str, Any] | None = None

    def diff(self) -> Diff:
        patch, changes = json_diff(self.from_data, self.to_data)
        files = None
        if self.from_files is not None and self.to_files is not None:
            files = files_diff(self.from_files, self.to_files)
        return Diff.model_validate({
            "from": {"id": self.from_id, "revision": self.from_revision},
            "to": {"id": self.to_id, "revision": self.to_revision},
            "patch": patch,
            "changes": changes,
            "files": files,
        })


class HistoryService:
    """Read use cases on `artifact_revisions`, sharing the manager's unit of work."""

    def __init__(self, artifacts: ArtifactManager, files: FileManifests | None = None) -> None:
        self.artifacts = artifacts
        self.files = files
        self.revisions: RevisionRepository = artifacts.revisions
        self.work = artifacts.work
        self.policy = artifacts.policy

    @read_use_case
    def page(self, artifact_id: object, page: int = 1, size: int = 50) -> RevisionPage:
        """An artifact's revisions, newest first (a deleted artifact's too).
        Raises InvalidULIDError, ArtifactNotFoundError (no revisions), ArtifactValidationError (size)."""
        key = normalize_id(artifact_id)
        self.artifacts.require_visible(key)
        size = max(self.policy.check_page_size(size), 1)
        page = max(page, 1)
        rows, total = self.revisions.page(key, offset=(page - 1) * size, limit=size)
        if total == 0:
            raise ArtifactNotFoundError(key)
        files = self._manifests(key, [row.revision for row in rows])
        return RevisionPage.of([RevisionOut.of(row, files.get(row.revision)) for row in rows], total, page, size)

    @read_use_case
    def revision(self, artifact_id: object, revision: int) -> RevisionOut:
        """Raises InvalidULIDError, RevisionNotFoundError."""
        key = normalize_id(artifact_id)
        self.artifacts.require_visible(key)
        return RevisionOut.of(self._revision(key, revision), self._manifests(key, [revision]).get(revision))

    def _manifests(self, key: str, revisions: list[int]) -> dict[int, Any]:
        return self.files.manifests(key, revisions) if self.files is not None else {}

    @read_use_case
    def revisions_diff(self, artifact_id: object, from_revision: int | None = None, to_revision: int | None = None) -> Diff:
        """From revision `from_revision` (default: the one before `to_revision`) to `to_revision`
        (default: the newest). Raises InvalidULIDError, ArtifactNotFoundError, RevisionNotFoundError."""
        key = normalize_id(artifact_id)
        self.artifacts.require_visible(key)
        if to_revision is None:
            to_row = self.revisions.newest(key)
            if to_row is None:
                raise ArtifactNotFoundError(key)
        else:
            to_row = self._revision(key, to_revision)
        if from_revision is None:
            from_row = self.revisions.previous(key, to_row.revision) or to_row
        else:
            from_row = self._revision(key, from_revision)
        files = self._manifests(key, sorted({from_row.revision, to_row.revision}))
        return Compared(
            key, from_row.revision, from_row.data, key, to_row.revision, to_row.data,
            files.get(from_row.revision), files.get(to_row.revision),
        ).diff()

    @read_use_case
    def artifacts_diff(self, a_id: object, b_id: object) -> Diff:
        """From artifact `a_id`'s current data (and files) to `b_id`'s.
        Raises InvalidULIDError, ArtifactNotFoundError."""
        a, b = self.artifacts.get(a_id), self.artifacts.get(b_id)
        a_files = self.files.current_manifest(str(a.id)) if self.files is not None else None
        b_files = self.files.current_manifest(str(b.id)) if self.files is not None else None
        return Compared(str(a.id), a.revision, a.data, str(b.id), b.revision, b.data, a_files, b_files).diff()

    @read_use_case
    def deleted(self, page: int = 1, size: int = 50) -> DeletedPage:
        """Artifacts deleted now, newest delete first, each as it was when deleted."""
        size = max(self.policy.check_page_size(size), 1)
        page = max(page, 1)
        hidden = self.artifacts.repo.hidden_roots
        rows, total = self.revisions.deleted_page(offset=(page - 1) * size, limit=size, hidden=hidden)
        items = []
        for row in rows:
            shown = RevisionOut.of(row)  # (its files: on its $history)
            items.append(DeletedArtifact(
                **self.artifacts.revision_artifact(row).model_dump(),
                deleted_at=row.at,
                deleted_by=shown.actor,
            ))
        return DeletedPage.of(items, total, page, size)

    def _revision(self, key: str, number: int) -> ArtifactRevision:
        row = self.revisions.get(key, number)
        if row is None:
            raise RevisionNotFoundError(key, number)
        return row

    # Export and import (webapp.ops, through Store.extras) ------------------------------

    def export_payloads(self, artifact_ids: list[str]) -> dict[str, Any]:
        """Every revision of these artifacts (with its files, where kept), JSON-safe, keyed by artifact id."""
        payloads = self.revisions.dump(artifact_ids)
        if self.files is not None:
            for artifact_id, revisions in payloads.items():
                manifests = self.files.export_manifests(artifact_id, [item["revision"] for item in revisions])
                for item in revisions:
                    if manifests.get(item["revision"]):
                        item["files"] = manifests[item["revision"]]
        return payloads

    def import_payloads(self, payloads: dict[str, Any]) -> None:
        """Give the imported artifacts the history the file carries, in place of the
        `created` revision their import just wrote; one imported under another parent (or
        at another level) gets a `moved` revision on top, saying where it is now. The
        blobs of files only old revisions list must be in this blob store for a revert
        to them (an export carries the files the artifacts have now)."""
        misplaced = self.revisions.load(payloads)
        if self.files is not None:
            for artifact_id, revisions in payloads.items():
                manifests = {item["revision"]: item.get("files") or {} for item in revisions}
                self.files.import_manifests(artifact_id, manifests)
        if misplaced:
            self.revisions.bump(misplaced)
            self.revisions.snapshot(misplaced, action="moved", actor=self.artifacts.actor, at=utcnow(), next_number=False)
            self.artifacts.record_attachments(misplaced)
