"""The files' domain errors: each carries its HTTP status and RFC 9457 problem type."""

from __future__ import annotations

from webapp.artifacts.errors import ArtifactConflictError, ArtifactError, ArtifactNotFoundError, ArtifactValidationError


class FileNameError(ArtifactValidationError):
    """A file name that breaks one of the rules of webapp.files.names (422, naming the rule)."""

    title = "Invalid file name"
    slug = "file-name"

    def __init__(self, rule: str) -> None:
        super().__init__(
            [{"loc": ["path", "name"], "msg": rule, "type": "file_name"}],
            detail=f"Invalid file name: {rule}.",
        )
        self.rule = rule


class ArtifactFileNotFoundError(ArtifactNotFoundError):
    title = "File not found"
    slug = "file-not-found"

    def __init__(self, artifact_id: object, name: str) -> None:
        ArtifactError.__init__(self, f"Artifact {artifact_id} has no file named {name[:100]!r}.")
        self.artifact_id = str(artifact_id)


class DigestMismatchError(ArtifactError):
    """The body is not the bytes its Content-Digest names: nothing was stored."""

    status = 422
    title = "Digest mismatch"
    slug = "digest-mismatch"

    def __init__(self, expected: str, received: str) -> None:
        super().__init__(
            f"The body's SHA-256 is {received}, not {expected} as its Content-Digest says; nothing was stored.",
            expected_sha256=expected,
            received_sha256=received,
        )


class BadDigestError(ArtifactError):
    status = 422
    title = "Invalid Content-Digest"
    slug = "content-digest"

    def __init__(self, header: str) -> None:
        super().__init__(
            f"Content-Digest {header[:100]!r} holds no sha-256=:<base64 of 32 bytes>: member (RFC 9530); "
            "send one, or no Content-Digest at all."
        )


class FileTooLargeError(ArtifactError):
    status = 413
    title = "File too large"
    slug = "file-too-large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"The file is larger than MAX_FILE_BYTES ({max_bytes:,} bytes); nothing was stored.",
                         max_bytes=max_bytes)


class BlobMissingError(ArtifactError):
    """The database names a blob the blob store does not hold: lost or deleted by hand
    (`flask --app webapp verify` lists them). Not the client's doing, hence a 5xx."""

    status = 500
    title = "File content missing"
    slug = "blob-missing"

    def __init__(self, sha256: str) -> None:
        super().__init__(f"The blob store holds no blob {sha256}; restore it from a backup (docs/operations.md).")


class FileContentGoneError(ArtifactConflictError):
    """A revert or restore would list a file whose blob this blob store does not hold (an
    import that did not carry an old revision's bytes, a blob deleted by hand): refused."""

    title = "File content gone"
    slug = "file-content-gone"

    def __init__(self, artifact_id: object, name: str, sha256: str) -> None:
        super().__init__(
            f"That revision of artifact {artifact_id} lists the file {name[:100]!r}, whose bytes (blob {sha256}) "
            "this blob store does not hold; nothing was changed. Copy the blob into the blob store first "
            "(docs/operations.md), or choose another revision.",
            name=name[:255],
            sha256=sha256,
        )


class FileImportError(ValueError):
    """An export's file that cannot be imported (its content missing, or not its SHA-256)."""
