"""Policy: every limit the use cases enforce, read once from the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ArtifactValidationError
from .hierarchy import HIERARCHIES, ArtifactHierarchy, Hierarchies
from .schemas import json_depth

MIB = 1024 * 1024


@dataclass(frozen=True)
class Policy:
    """The store's rules and limits. The manager and the services check them where each use
    case runs, so no door (API, pages, CLI, scripts) can forget one."""

    # Every hierarchy the store's trees may belong to, and the default for new roots.
    hierarchies: Hierarchies = field(default=HIERARCHIES)
    # Containers (objects and arrays) nested in `data`, the data object itself included.
    # Real documents (configs, parsed ASTs) go past 64; orjson, which writes every answer,
    # stops at 255 levels below the top, so 256 is as deep as every response can go.
    max_json_depth: int = 256
    default_page_size: int = 50
    max_page_size: int = 1000
    # CSV uploads (the JSON body limit is MAX_CONTENT_LENGTH, checked by Flask).
    max_upload_bytes: int = 100 * MIB
    # Rows of an uploaded table: more is refused while the file is read (413). Sorting a
    # table reads its sort column whole; at this many rows that stays within a worker's
    # memory bound (docs/performance.md, "Memory").
    max_table_rows: int = 10_000_000
    # Per worker process: loaded tables and sort orders kept for quick paging.
    frame_cache_bytes: int = 192 * MIB
    # Bytes of `data` (as JSON text) each item of a list, a tree or $expand carries: past
    # it, a stand-in with a link (ArtifactRepository, _capped_data). 0: no cap. A list page
    # of MAX_PAGE_SIZE items then holds at most 1000 × 16 KiB of data text.
    max_item_data_bytes: int = 16 * 1024

    @property
    def hierarchy(self) -> ArtifactHierarchy:
        """The default hierarchy: the one roots created without naming one belong to."""
        return self.hierarchies.default
    # Files of artifacts (PUT /artifacts/{id}/files/{name}), streamed to the blob store.
    max_file_bytes: int = 5 * 1024 * MIB
    # gc-blobs leaves unused blobs younger than this: an upload in flight has put its blob
    # but not yet committed the row that uses it.
    blob_gc_grace_seconds: int = 3600

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policy:
        """The policy an app's (or a script's) configuration asks for.

        ARTIFACT_HIERARCHIES (declarations, see webapp.config) are added to the spec's three,
        replacing any of the same name; ARTIFACT_HIERARCHY names the default, and
        ARTIFACT_LEVEL_LABELS / ARTIFACT_MAX_DEPTH, when set, change that one's labels and depth
        (or declare it, if no other declaration does).
        """
        hierarchies = Hierarchies([*HIERARCHIES.values(), *config.get("ARTIFACT_HIERARCHIES", ())])
        name = config["ARTIFACT_HIERARCHY"]
        default = hierarchies.get(name) or ArtifactHierarchy(name=name)
        changes = {
            key: value
            for key, value in (("level_labels", config.get("ARTIFACT_LEVEL_LABELS")), ("max_depth", config.get("ARTIFACT_MAX_DEPTH")))
            if value is not None
        }
        default = default.model_copy(update=changes) if changes else default
        return cls(
            hierarchies=hierarchies.with_hierarchy(default, default=True),
            max_json_depth=config["MAX_JSON_DEPTH"],
            default_page_size=config["DEFAULT_PAGE_SIZE"],
            max_page_size=config["MAX_PAGE_SIZE"],
            max_upload_bytes=config["MAX_UPLOAD_BYTES"],
            frame_cache_bytes=config["FRAME_CACHE_BYTES"],
            max_table_rows=config.get("MAX_TABLE_ROWS", cls.max_table_rows),
            max_item_data_bytes=config.get("MAX_ITEM_DATA_BYTES", cls.max_item_data_bytes),
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
