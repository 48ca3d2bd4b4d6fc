"""Policy: every limit the use cases enforce, read once from the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ArtifactValidationError
from .hierarchy import DEFAULT_HIERARCHY, ArtifactHierarchy
from .schemas import json_depth

MIB = 1024 * 1024


@dataclass(frozen=True)
class Policy:
    """The store's rules and limits. The manager and the services check them where each use
    case runs, so no door (API, pages, CLI, scripts) can forget one."""

    hierarchy: ArtifactHierarchy = field(default=DEFAULT_HIERARCHY)
    # Containers (objects and arrays) nested in `data`, the data object itself included.
    # Real documents (configs, parsed ASTs) go past 64; orjson, which writes every answer,
    # stops at 255 levels below the top, so 256 is as deep as every response can go.
    max_json_depth: int = 256
    default_page_size: int = 50
    max_page_size: int = 1000
    # CSV uploads (the JSON body limit is MAX_CONTENT_LENGTH, checked by Flask).
    max_upload_bytes: int = 100 * MIB
    # Per worker process: loaded tables and sort orders kept for quick paging.
    frame_cache_bytes: int = 192 * MIB
    # Files of artifacts (PUT /artifacts/{id}/files/{name}), streamed to the blob store.
    max_file_bytes: int = 5 * 1024 * MIB
    # gc-blobs leaves unused blobs younger than this: an upload in flight has put its blob
    # but not yet committed the row that uses it.
    blob_gc_grace_seconds: int = 3600

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policy:
        """The policy an app's (or a script's) configuration asks for."""
        hierarchy = ArtifactHierarchy(
            name=config["ARTIFACT_HIERARCHY"],
            level_labels=config["ARTIFACT_LEVEL_LABELS"],
            max_depth=config["ARTIFACT_MAX_DEPTH"],
        )
        return cls(
            hierarchy=hierarchy,
            max_json_depth=config["MAX_JSON_DEPTH"],
            default_page_size=config["DEFAULT_PAGE_SIZE"],
            max_page_size=config["MAX_PAGE_SIZE"],
            max_upload_bytes=config["MAX_UPLOAD_BYTES"],
            frame_cache_bytes=config["FRAME_CACHE_BYTES"],
            max_file_bytes=config.get("MAX_FILE_BYTES", cls.max_file_bytes),
            blob_gc_grace_seconds=config.get("BLOB_GC_GRACE", cls.blob_gc_grace_seconds),
        )

    def check_data(self, data: Any, loc: tuple[str, ...] = ("body", "data")) -> None:
        """Refuse data nested deeper than `max_json_depth`. Raises ArtifactValidationError (422)."""
        depth = json_depth(data)
        if depth > self.max_json_depth:
            message = f"Value error, nested deeper than {self.max_json_depth} levels"
            raise ArtifactValidationError(
                [{"loc": list(loc), "msg": message, "type": "value_error"}],
                detail=f"The data is nested deeper than {self.max_json_depth} levels ({depth} levels).",
            )

    def check_page_size(self, size: int, loc: tuple[str, ...] = ("query", "size")) -> int:
        """`size` when it is within `max_page_size`. Raises ArtifactValidationError (422)."""
        if size > self.max_page_size:
            message = f"Input should be less than or equal to {self.max_page_size}"
            raise ArtifactValidationError([{"loc": list(loc), "msg": message, "type": "less_than_equal"}])
        return size
