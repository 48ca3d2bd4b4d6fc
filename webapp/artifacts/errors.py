"""Domain errors. Each carries the HTTP status and RFC 9457 problem type that describe it."""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "urn:artifact-store:error:"


class ArtifactError(Exception):
    """Base class: a request the domain refuses. Nothing was changed."""

    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug


class InvalidULIDError(ArtifactError):
    status = 400
    title = "Invalid ULID"
    slug = "invalid-ulid"

    def __init__(self, value: object) -> None:
        super().__init__(f"{str(value)[:80]!r} is not a valid ULID (26 Crockford base32 characters).")


class ArtifactNotFoundError(ArtifactError):
    status = 404
    title = "Artifact not found"
    slug = "not-found"

    def __init__(self, artifact_id: object, what: str = "Artifact") -> None:
        super().__init__(f"{what} {artifact_id} not found.")
        self.artifact_id = str(artifact_id)


class ArtifactConflictError(ArtifactError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class ArtifactHasChildrenError(ArtifactConflictError):
    title = "Artifact has children"
    slug = "has-children"

    def __init__(self, artifact_id: object, children: int) -> None:
        super().__init__(
            f"Artifact {artifact_id} has {children} child artifact(s); delete or move them first.",
            children=children,
        )


class ArtifactExistsError(ArtifactConflictError):
    title = "Artifact already exists"
    slug = "already-exists"

    def __init__(self, artifact_id: object) -> None:
        super().__init__(f"An artifact with id {artifact_id} already exists.")


class ArtifactCycleError(ArtifactConflictError):
    title = "Move would create a cycle"
    slug = "cycle"

    def __init__(self, artifact_id: object, parent_id: object) -> None:
        super().__init__(
            f"Artifact {artifact_id} cannot be moved under {parent_id}: "
            "that is the artifact itself or one of its descendants."
        )


class ArtifactChangedError(ArtifactError):
    """The artifact is no longer the version the client read: someone else changed it."""

    status = 412
    title = "Artifact changed"
    slug = "changed"

    def __init__(self, artifact_id: object, current_version: str) -> None:
        super().__init__(
            f"Artifact {artifact_id} was changed after you read it (it is now version "
            f"{current_version}); read it again and retry. Nothing was changed.",
            current_version=current_version,
        )
        self.current_version = current_version


class HierarchyDepthError(ArtifactError):
    status = 422
    title = "Hierarchy too deep"
    slug = "max-depth"

    def __init__(self, hierarchy: str, max_depth: int, level: int) -> None:
        super().__init__(
            f"Hierarchy {hierarchy!r} allows levels 0 to {max_depth - 1}; "
            f"this change would put an artifact at level {level}.",
            max_depth=max_depth,
        )


class ArtifactValidationError(ArtifactError):
    """Input that does not match the schema; `errors` names each bad field."""

    status = 422
    title = "Validation failed"
    slug = "validation"

    def __init__(self, errors: list[dict[str, Any]], detail: str | None = None) -> None:
        fields = ", ".join(sorted({".".join(str(p) for p in e["loc"]) or "body" for e in errors}))
        super().__init__(detail or f"Invalid input: {fields}.", errors=errors)
        self.errors = errors


class UnknownHierarchyError(ArtifactValidationError):
    """A hierarchy the store does not declare, or not the one the parent's tree belongs to."""

    slug = "hierarchy"

    def __init__(
        self, name: object, allowed: list[str], loc: tuple[str, ...] = ("body", "hierarchy"), detail: str | None = None
    ) -> None:
        shown = repr(name)[:80]
        choices = ", ".join(repr(a) for a in allowed)
        message = f"Input should be {choices}"
        super().__init__(
            [{"loc": list(loc), "msg": message, "type": "enum", "ctx": {"expected": choices}}],
            detail=detail or f"Unknown hierarchy {shown}: this store declares {choices}.",
        )
        self.extra["allowed"] = allowed


class RevisionNotFoundError(ArtifactNotFoundError):
    title = "Revision not found"
    slug = "revision-not-found"

    def __init__(self, artifact_id: object, revision: int) -> None:
        ArtifactError.__init__(self, f"Artifact {artifact_id} has no revision {revision}.", revision=revision)
        self.artifact_id = str(artifact_id)


class ParentGoneError(ArtifactConflictError):
    """A revert or restore would put the artifact under a parent that no longer exists."""

    title = "Parent no longer exists"
    slug = "parent-gone"

    def __init__(self, artifact_id: object, parent_id: str) -> None:
        super().__init__(
            f"Artifact {artifact_id} belonged under {parent_id}, which no longer exists; restore that first.",
            parent_id=parent_id,
        )


class NotDeletedError(ArtifactConflictError):
    title = "Artifact is not deleted"
    slug = "not-deleted"

    def __init__(self, artifact_id: object) -> None:
        super().__init__(f"Artifact {artifact_id} exists: only a deleted artifact can be restored.")


class ForbiddenError(ArtifactError):
    """The caller is known but lacks the right (403); a tree they may not read answers 404
    instead, exactly as a missing artifact (no existence leak)."""

    status = 403
    title = "Forbidden"
    slug = "forbidden"
