"""Files: binary attachments of artifacts, kept by SHA-256 on local disk or in S3.

    from webapp.store import open_store
    store = open_store("sqlite:///instance/artifacts.db")
    with open("weights.bin", "rb") as body:
        file, created = store.files.put(artifact_id, "weights.bin", body)

Why and how: docs/api.md (Files), docs/operations.md (verify, gc-blobs, backups).
"""

from .blobs import BlobInfo, BlobStore, LocalBlobStore, S3BlobStore, Staged, open_blob_store
from .errors import (
    ArtifactFileNotFoundError,
    BadDigestError,
    BlobMissingError,
    DigestMismatchError,
    FileContentGoneError,
    FileImportError,
    FileNameError,
    FileTooLargeError,
)
from .models import ArtifactFile
from .names import check_name, may_run_code, media_type_of, served_type, shown_inline, sniff
from .repository import FileRepository
from .service import FileList, FileOut, FileService, GCResult, VerifyReport, digest_header, parse_content_digest

__all__ = [
    "ArtifactFile",
    "ArtifactFileNotFoundError",
    "BadDigestError",
    "BlobInfo",
    "BlobMissingError",
    "BlobStore",
    "DigestMismatchError",
    "FileContentGoneError",
    "FileImportError",
    "FileList",
    "FileNameError",
    "FileOut",
    "FileRepository",
    "FileService",
    "FileTooLargeError",
    "GCResult",
    "LocalBlobStore",
    "S3BlobStore",
    "Staged",
    "VerifyReport",
    "check_name",
    "digest_header",
    "may_run_code",
    "media_type_of",
    "open_blob_store",
    "parse_content_digest",
    "served_type",
    "shown_inline",
    "sniff",
]
