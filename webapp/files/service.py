"""FileService: the use cases on the files of artifacts. No Flask here.

    store = open_store("sqlite:///instance/artifacts.db")
    with open("model.onnx", "rb") as body:
        file, created = store.files.put(artifact_id, "model.onnx", body)
    for chunk in store.files.read(file): ...
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from webapp.artifacts import ArtifactManager
from webapp.artifacts.attachments import Attachments
from webapp.artifacts.history import RevisionFile
from webapp.artifacts.manager import normalize_id
from webapp.artifacts.models import utcnow
from webapp.artifacts.unit_of_work import read_use_case

from .blobs import SHA256, BlobStore, Staged
from .errors import (
    ArtifactFileNotFoundError,
    BadDigestError,
    BlobMissingError,
    DigestMismatchError,
    FileContentGoneError,
    FileImportError,
)
from .models import ArtifactFile
from .names import check_name, media_type_of
from .repository import FileRepository

MIB = 1024 * 1024


class FileOut(BaseModel):
    """A file of an artifact, as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="The file's name within its artifact")
    size: int = Field(description="Bytes")
    sha256: str = Field(description="SHA-256 of the bytes, hex; also the download's ETag")
    media_type: str = Field(description="Sniffed from the bytes (images, pickles), else as sent, else guessed from the name")
    created_at: datetime = Field(description="When these bytes were stored under this name")


class FileList(BaseModel):
    items: list[FileOut]
    total: int


Manifest = dict[str, RevisionFile]  # name → file, in name order


def _contents(files: list[Any]) -> dict[str, tuple[str, int, str]]:
    """name → (sha256, size, media_type): what a file list holds, whenever each was stored."""
    return {file.name: (file.sha256, file.size, file.media_type) for file in files}


def parse_content_digest(header: str | None) -> str | None:
    """The SHA-256 (hex) a Content-Digest header (RFC 9530) names; None without a header.

    Other algorithms are allowed beside it; a header without a valid sha-256 member
    raises BadDigestError (a client that asked for a check must not silently get none).
    """
    if header is None or not header.strip():
        return None
    for member in header.split(","):
        key, _, value = member.strip().partition("=")
        if key.strip().lower() != "sha-256":
            continue
        value = value.strip().split(";", 1)[0]
        if len(value) >= 2 and value[0] == value[-1] == ":":
            try:
                raw = base64.b64decode(value[1:-1], validate=True)
            except (binascii.Error, ValueError):
                break
            if len(raw) == 32:
                return raw.hex()
        break
    raise BadDigestError(header)


def digest_header(sha256: str) -> str:
    """`sha-256=:<base64>:` for a hex SHA-256 (RFC 9530 Content-Digest and Repr-Digest)."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode('ascii')}:"


@dataclass
class VerifyReport:
    blobs: int = 0
    files: int = 0
    tables: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class GCResult:
    deleted: list[tuple[str, int]] = field(default_factory=list)  # (sha256, size)
    in_use: int = 0
    recent: int = 0  # unused, but younger than the grace period
    staging_removed: int = 0
    dry_run: bool = False

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.deleted)


class FileService(Attachments):
    """Files held by artifacts: rows in `artifact_files`, bytes in the blob store.

    Files are part of the artifact's history: adding, replacing or removing one writes an
    `updated` revision, and every revision keeps the file list it had (its manifest, in
    `artifact_revision_files`), which revert and restore bring back.

    A file row is written in the artifacts' unit of work, after its blob is in the blob
    store: a crash between the two leaves an unused blob (collected by gc-blobs), never a
    row without bytes. Only `collect_garbage` deletes blobs, under the exclusive write
    lock, and only blobs no row uses that are older than the grace period.
    """

    # Blobs up to this size travel inside an export file (base64); larger ones are named
    # by their SHA-256 only and must be in the importing store's blob store already.
    EXPORT_INLINE_BYTES = 16 * MIB

    def __init__(self, repo: FileRepository, artifacts: ArtifactManager, blobs: BlobStore) -> None:
        self.repo = repo
        self.artifacts = artifacts
        self.work = artifacts.work
        self.policy = artifacts.policy
        self.blobs = blobs

    # Writes ---------------------------------------------------------------------------

    def put(
        self, artifact_id: object, name: str, body: BinaryIO, *, digest: str | None = None, media_type: str | None = None
    ) -> tuple[FileOut, bool]:
        """Store `body` as the artifact's file `name` (replacing one of that name); returns
        the file and whether it is new.

        `digest`: the SHA-256 (hex) the body must have, checked before anything is stored.
        Raises InvalidULIDError, FileNameError, ArtifactNotFoundError (before reading the
        body), FileTooLargeError, DigestMismatchError. Nothing is stored when it raises.
        """
        key = normalize_id(artifact_id)
        check_name(name)
        self.artifacts.require_writable(key)  # a 404 (or 403) before a possibly large body is read
        staged = self.stage(body, digest)
        try:
            return self.attach(key, name, staged, media_type)
        finally:
            self.blobs.discard(staged)

    def stage(self, body: BinaryIO, digest: str | None = None) -> Staged:
        """Receive `body` into the blob store's staging area, within MAX_FILE_BYTES, and
        check its digest. The caller discards the result once it is attached."""
        staged = self.blobs.receive(body, self.policy.max_file_bytes)
        if digest is not None and staged.sha256 != digest:
            self.blobs.discard(staged)
            raise DigestMismatchError(digest, staged.sha256)
        return staged

    def discard(self, staged: Staged) -> None:
        """Remove a staging file (once attached, or when the upload is abandoned)."""
        self.blobs.discard(staged)

    def attach(
        self, artifact_id: str, name: str, staged: Staged, media_type: str | None = None, *, new_revision: bool = True
    ) -> tuple[FileOut, bool]:
        """Make staged bytes the artifact's file `name` (joins an open write transaction), as
        a new revision of the artifact; without `new_revision` the file joins its newest
        revision instead (one created in the same transaction). The same bytes and type
        again change nothing: no revision."""
        check_name(name)
        if not self.work.writing_now:
            self.blobs.put(staged)  # before taking the write lock: an S3 upload may take minutes
        with self.work.writing():
            self.artifacts.require_writable(artifact_id)  # still there: deletes hold the exclusive lock
            if not self.blobs.exists(staged.sha256):
                # gc-blobs took it meanwhile (it was unused and old); it cannot now, as it
                # runs under the exclusive lock and this row will use it.
                self.blobs.put(staged)
            kind = media_type_of(staged.head, name, media_type)
            file = self.repo.get(artifact_id, name)
            created = file is None
            if file is not None and (file.sha256, file.media_type) == (staged.sha256, kind):
                return FileOut.model_validate(file), False
            if file is None:
                file = ArtifactFile(artifact_id=artifact_id, name=name)
            file.sha256, file.size, file.media_type, file.created_at = staged.sha256, staged.size, kind, utcnow()
            self.repo.add(file)
            out = FileOut.model_validate(file)
            if new_revision:
                self.artifacts.attachments_changed(artifact_id)
            else:
                self.repo.rerecord_newest(artifact_id)
        return out, created

    def delete(self, artifact_id: object, name: str) -> None:
        """Remove the artifact's file `name`; its blob stays until gc-blobs finds it unused.
        Raises InvalidULIDError, FileNameError, ArtifactNotFoundError, ArtifactFileNotFoundError."""
        key = normalize_id(artifact_id)
        check_name(name)
        with self.work.writing():
            self.artifacts.require_writable(key)
            self.repo.remove(self._require(key, name))
            self.artifacts.attachments_changed(key)

    # Reads ----------------------------------------------------------------------------

    @read_use_case
    def list(self, artifact_id: object, *, as_of: datetime | None = None) -> FileList:
        """The artifact's files by name; `as_of`: those it had at that moment (its revision
        then). Raises InvalidULIDError, ArtifactNotFoundError (also: it did not exist then)."""
        key = normalize_id(artifact_id)
        if as_of is not None:
            files: list[Any] = self.repo.manifest(key, self.artifacts.get_as_of(key, as_of).revision)
        else:
            self.artifacts.get(key)
            files = self.repo.of_artifact(key)
        items = [FileOut.model_validate(file) for file in files]
        return FileList(items=items, total=len(items))

    @read_use_case
    def get(self, artifact_id: object, name: str, *, as_of: datetime | None = None) -> FileOut:
        """The file (`as_of`: the one of that name the artifact had then).
        Raises InvalidULIDError, FileNameError, ArtifactNotFoundError, ArtifactFileNotFoundError."""
        key = normalize_id(artifact_id)
        check_name(name)
        self.artifacts.require_visible(key)
        if as_of is not None:
            revision = self.artifacts.get_as_of(key, as_of).revision
            found = next((file for file in self.repo.manifest(key, revision) if file.name == name), None)
            if found is None:
                raise ArtifactFileNotFoundError(key, name)
            return FileOut.model_validate(found)
        return FileOut.model_validate(self._require(key, name))

    def manifests(self, artifact_id: str, revisions: list[int]) -> dict[int, Manifest]:
        """{revision: its manifest} for these revisions of an artifact (history pages, diffs)."""
        return {
            number: {row.name: RevisionFile.model_validate(row) for row in rows}
            for number, rows in self.repo.manifests(artifact_id, revisions).items()
        }

    @read_use_case
    def current_manifest(self, artifact_id: str) -> Manifest:
        return {file.name: RevisionFile.model_validate(file) for file in self.repo.of_artifact(artifact_id)}

    # History (webapp.artifacts.attachments: the manager calls these in its transactions) --

    def recorded(self, ids: Any) -> None:
        self.repo.record(ids)

    def reinstate(self, artifact_id: str, revision: int) -> bool:
        """Raises FileContentGoneError for a listed file whose blob is not here."""
        wanted = self.repo.manifest(artifact_id, revision)
        current = _contents(self.repo.of_artifact(artifact_id))
        if _contents(wanted) == current:
            return False
        for row in wanted:
            if current.get(row.name) != (row.sha256, row.size, row.media_type) and not self.blobs.exists(row.sha256):
                raise FileContentGoneError(artifact_id, row.name, row.sha256)
        self.repo.replace_files(artifact_id, wanted)  # references only: blobs are kept by SHA-256
        return True

    def purged(self, ids: list[str]) -> None:
        self.repo.purge_manifests(ids)

    def thinned(self, before: datetime) -> None:
        self.repo.drop_orphan_manifests()

    def export_manifests(self, artifact_id: str, revisions: list[int]) -> dict[int, Any]:
        """{revision: manifest}, JSON-safe, for an export's history."""
        return {
            number: {name: entry.model_dump(mode="json") for name, entry in manifest.items()}
            for number, manifest in self.manifests(artifact_id, revisions).items()
        }

    def import_manifests(self, artifact_id: str, manifests: dict[int, Any]) -> None:
        """Replace the manifests of an (imported) artifact's revisions by those of an
        export; its newest revision always lists its files now (exports without manifests)."""
        self.repo.purge_manifests([artifact_id])
        self.repo.add_manifest([
            {"artifact_id": artifact_id, "revision": number, "name": check_name(name), "sha256": _sha256(entry["sha256"]),
             "size": int(entry["size"]), "media_type": str(entry["media_type"])[:255],
             "created_at": datetime.fromisoformat(entry["created_at"])}
            for number, manifest in manifests.items() for name, entry in manifest.items()
        ])
        newest = max(manifests, default=None)
        if newest is None or not manifests[newest]:
            self.repo.rerecord_newest(artifact_id)

    def read(self, file: FileOut, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """The file's bytes [start, stop), in chunks, straight from the blob store (no
        transaction is held while they are sent). Raises BlobMissingError."""
        try:
            return self.blobs.read(file.sha256, start, stop)
        except FileNotFoundError:
            raise BlobMissingError(file.sha256) from None

    def head(self, file: FileOut, limit: int) -> bytes:
        """Up to `limit` first bytes of the file (for previews)."""
        out = bytearray()
        for chunk in self.read(file, 0, min(limit, file.size)):
            out += chunk
        return bytes(out)

    def _require(self, artifact_id: str, name: str) -> ArtifactFile:
        file = self.repo.get(artifact_id, name)
        if file is None:
            self.artifacts.get(artifact_id)  # ArtifactNotFoundError when the artifact is missing
            raise ArtifactFileNotFoundError(artifact_id, name)
        return file

    # Integrity and cleanup (flask verify, flask gc-blobs) ------------------------------

    def verify(self, report: VerifyReport | None = None) -> VerifyReport:
        """Re-hash every blob a file uses; a problem for each missing or changed one."""
        report = report or VerifyReport()
        with self.work.reading():
            uses = list(self.repo.blobs_in_use())
            only_revisions = list(self.repo.revision_only_blobs())  # reverting to them needs them too
        by_blob: dict[str, list[tuple[int, str, str]]] = {}
        for sha256, size, artifact_id, name in uses:
            by_blob.setdefault(sha256, []).append((size, artifact_id, name))
        report.files += len(uses)
        for sha256, size, artifact_id, name in only_revisions:
            by_blob.setdefault(sha256, []).append((size, artifact_id, name))
        for sha256, files in by_blob.items():
            report.blobs += 1
            found = self.blobs.rehash(sha256)
            users = ", ".join(f"{artifact_id}/{name}" for _, artifact_id, name in files[:3])
            users += f" and {len(files) - 3} more" if len(files) > 3 else ""
            if found is None:
                report.problems.append(f"missing blob {sha256} (used by {users})")
            elif found != sha256:
                report.problems.append(f"corrupted blob {sha256}: its bytes hash to {found} (used by {users})")
        return report

    def collect_garbage(self, *, dry_run: bool = False, now: datetime | None = None) -> GCResult:
        """Delete the blobs no file uses that are older than BLOB_GC_GRACE, and staging
        files that old (uploads that died). `dry_run` lists them and deletes nothing."""
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=self.policy.blob_gc_grace_seconds)
        result = GCResult(dry_run=dry_run)
        found = list(self.blobs.list())  # listed before the lock: it may be a long walk
        old = {blob.sha256: blob for blob in found if blob.modified < cutoff}
        # Exclusive: no upload can attach a blob between this check and the delete.
        with self.work.writing(exclusive=True, commit=False):
            in_use = self.repo.referenced(old)
            result.in_use = len(self.repo.referenced(blob.sha256 for blob in found))
            result.recent = sum(1 for blob in found if blob.sha256 not in old and blob.sha256 not in in_use)
            for sha256, blob in sorted(old.items()):
                if sha256 not in in_use:
                    result.deleted.append((sha256, blob.size))
                    if not dry_run:
                        self.blobs.delete(sha256)
        for path in self.blobs.stale_staging(cutoff):
            result.staging_removed += 1
            if not dry_run:
                path.unlink(missing_ok=True)
        return result

    # Export and import (webapp.ops) ---------------------------------------------------

    def export_payloads(self, artifact_ids: list[str]) -> dict[str, Any]:
        """{artifact id: [file, …]} for the artifacts that have files; each file's bytes
        as base64 `content` when the blob is at most EXPORT_INLINE_BYTES."""
        payloads: dict[str, Any] = {}
        for file in self.repo.of_artifacts(artifact_ids):
            entry = FileOut.model_validate(file).model_dump(mode="json")
            if file.size <= self.EXPORT_INLINE_BYTES:
                entry["content"] = base64.b64encode(self.head(FileOut.model_validate(file), file.size)).decode("ascii")
            payloads.setdefault(file.artifact_id, []).append(entry)
        return payloads

    def import_payloads(self, payloads: dict[str, Any]) -> None:
        """Store files written by export_payloads (their artifacts exist by then). A file
        without `content` needs its blob in this blob store already. Raises ValueError
        (FileImportError), KeyError or TypeError for what cannot be imported."""
        for artifact_id, entries in payloads.items():
            for entry in entries:
                name, sha256 = check_name(entry["name"]), str(entry["sha256"])
                if not SHA256.match(sha256):
                    raise FileImportError(f"file {name!r} of {artifact_id}: {sha256[:80]!r} is not a SHA-256")
                if entry.get("content") is not None:
                    staged = self.blobs.receive(io.BytesIO(base64.b64decode(entry["content"], validate=True)),
                                                self.policy.max_file_bytes)
                    try:
                        if staged.sha256 != sha256:
                            raise FileImportError(f"file {name!r} of {artifact_id}: its content is not SHA-256 {sha256}")
                        self.blobs.put(staged)
                    finally:
                        self.blobs.discard(staged)
                elif not self.blobs.exists(sha256):
                    raise FileImportError(
                        f"file {name!r} of {artifact_id} ({entry.get('size')} bytes) is too large to travel in an "
                        f"export, and its blob {sha256} is not in this blob store: copy it there first "
                        "(docs/operations.md)"
                    )
                self.repo.add(
                    ArtifactFile(
                        artifact_id=artifact_id, name=name, sha256=sha256, size=int(entry["size"]),
                        media_type=str(entry["media_type"])[:255], created_at=datetime.fromisoformat(entry["created_at"]),
                    )
                )
            self.repo.rerecord_newest(artifact_id)  # its newest revision lists the files it has


def _sha256(value: Any) -> str:
    if not isinstance(value, str) or not SHA256.match(value):
        raise FileImportError(f"{str(value)[:80]!r} is not a SHA-256")
    return value
