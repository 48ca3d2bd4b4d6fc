"""FrameService: the use cases on tables held by artifacts. No Flask here.

    store = open_store("sqlite:///instance/artifacts.db")
    with open("sales.csv", "rb") as file:
        artifact = store.frames.create_from_csv(file, "sales.csv")
    df = store.frames.load_dataframe(artifact.id)
"""

from __future__ import annotations

import io
import threading
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from webapp.artifacts import ArtifactIn, ArtifactManager, ArtifactOut, ArtifactValidationError
from webapp.artifacts.attachments import Attachments
from webapp.artifacts.manager import normalize_id
from webapp.artifacts.unit_of_work import read_use_case
from webapp.files import FileNameError, FileService, check_name

from .cache import FrameCache
from .columns import CHARTED_COLUMNS, ColumnChart, column_charts
from .diff import frame_diff
from .models import PARQUET, ArtifactFrame
from .repository import FrameRepository
from .tables import (
    FrameNotFoundError,
    FramePage,
    LoadedFrame,
    clean_file_name,
    parse_csv,
    read_inline,
    return_freed_memory,
    rows_of,
    to_pandas,
)


_PARSING = threading.Lock()
_CHARTING = threading.Lock()
# Up to this many values (rows × charted columns) a table's column charts take about 20 ms
# to compute, so a page draws them at once (docs/performance.md, "Column charts"); a bigger
# table's page is sent without them, and fetches them after.
QUICK_CHART_CELLS = 200_000


class FrameService(Attachments):
    """Tables held by artifacts: stored beside them (`artifact_frames`) or inline in their data.

    It reaches the artifacts only through the manager's use cases, and shares its unit of
    work, so a table and its artifact are written in one transaction. A stored table lives
    as long as its artifact's history: deleting the artifact keeps it (restore brings it
    back), retention removes it (`purged`).
    """

    def __init__(
        self,
        repo: FrameRepository,
        artifacts: ArtifactManager,
        cache: FrameCache | None = None,
        files: FileService | None = None,
    ) -> None:
        self.repo = repo
        self.files = files  # where an uploaded CSV itself is kept, as a file of its artifact
        self.artifacts = artifacts
        self.work = artifacts.work
        self.policy = artifacts.policy
        self.cache = cache if cache is not None else FrameCache(self.policy.frame_cache_bytes)

    # Writes ---------------------------------------------------------------------------

    def create_from_csv(
        self, stream: BinaryIO, file_name: str, parent_id: object | None = None, *, hierarchy: str | None = None
    ) -> ArtifactOut:
        """A new artifact holding the CSV's table, with its stored rows, in one transaction;
        a root in `hierarchy` (None: the default), a child in its parent's.

        Raises InvalidULIDError, ArtifactNotFoundError (parent), UnknownHierarchyError,
        InvalidCSVError, CSVTooLargeError, HierarchyDepthError. Nothing is stored when it raises.
        """
        if parent_id is not None:
            parent_id = normalize_id(parent_id)
        elif hierarchy is not None:
            self.artifacts.hierarchies.require(hierarchy)  # refused before the file is read
        # The new table joins the cache: make room first, so that a worker's memory stays
        # near its budget however many tables it had cached.
        self.cache.make_room(stream.seek(0, io.SEEK_END))
        # Parse and compress before the write transaction: no lock is held meanwhile.
        # One parse at a time per worker, whatever its threads: each one's memory is
        # bounded (docs/performance.md, "Memory"), and so is the worker's.
        with _PARSING:
            parsed = parse_csv(
                stream, clean_file_name(file_name),
                max_bytes=self.policy.max_upload_bytes, max_rows=self.policy.max_table_rows,
            )  # fmt: skip
        artifact_in = ArtifactIn(parent_id=parent_id, data=parsed.artifact_data(), hierarchy=hierarchy)
        stored = {
            "format": PARQUET,
            "source_sha256": parsed.source.sha256,
            "source": parsed.source.model_dump(),
            "row_count": parsed.row_count,
            "column_count": len(parsed.column_names),
            "dtypes": parsed.dtypes,
            "summary": parsed.summary,
            "content": parsed.content,
        }
        stored["size_bytes"] = len(stored["content"])
        file_name = parsed.source.file_name
        del parsed  # the decoded rows: from here on the Parquet copy is all this worker keeps
        return_freed_memory()
        original = None
        if self.files is not None:  # the uploaded bytes themselves, downloadable as they came
            stream.seek(0)
            original = self.files.stage(stream, stored["source_sha256"])
        try:
            with self.work.writing():
                artifact = self.artifacts.create(artifact_in)
                self.repo.add(ArtifactFrame(artifact_id=str(artifact.id), **stored))
                if self.files is not None and original is not None:  # part of the `created` revision
                    self.files.attach(str(artifact.id), _file_name(file_name), original, "text/csv", new_revision=False)
        finally:
            if self.files is not None and original is not None:
                self.files.discard(original)
        key = ("stored", str(artifact.id), stored["source_sha256"])
        loaded = LoadedFrame(key, stored["content"], stored["dtypes"], stored["summary"], stored["source"])
        self.cache.put(key, loaded, loaded.nbytes)  # its first page needs no database read
        return artifact

    # Reads ----------------------------------------------------------------------------

    @read_use_case
    def frame_of(self, artifact: ArtifactOut) -> LoadedFrame | None:
        """The artifact's table: its stored rows, else a valid inline `data["dataframe"]`; or None."""
        stored = self.repo.get(str(artifact.id))
        if stored is not None:
            key = ("stored", stored.artifact_id, stored.source_sha256)
            return self.cache.get(key, lambda: self._read_stored(key, stored), _frame_size)
        value = artifact.data.get("dataframe") if isinstance(artifact.data, dict) else None
        if not isinstance(value, dict):
            return None
        key = ("inline", str(artifact.id), artifact.updated_at.isoformat())
        try:
            return self.cache.get(key, lambda: read_inline(key, value), _frame_size)
        except ValueError:  # not a table we can page: the artifact page shows it as plain JSON
            return None

    @read_use_case
    def require_frame(self, artifact_id: object) -> LoadedFrame:
        """Raises InvalidULIDError, ArtifactNotFoundError, FrameNotFoundError."""
        artifact = self.artifacts.get(artifact_id)
        loaded = self.frame_of(artifact)
        if loaded is None:
            raise FrameNotFoundError(artifact.id)
        return loaded

    def page(
        self, loaded: LoadedFrame, page: int = 1, size: int = 50, sort: str | None = None, order: str = "asc"
    ) -> FramePage:
        """Rows of one page (1-based, clamped to the last page), sorted by `sort` when given.

        Sorting is stable with missing values last, whichever the order. Raises
        ArtifactValidationError for a size over the policy's maximum, an unknown column or order.
        """
        columns, size = loaded.schema.names, max(self.policy.check_page_size(size), 1)
        if order not in ("asc", "desc"):
            raise _query_error("order", "Input should be 'asc' or 'desc'", f"Unknown sort order {order[:20]!r}.")
        if sort is not None and sort not in columns:
            raise _query_error("sort", f"No column named {sort[:100]!r}", f"No column named {sort[:100]!r} to sort by.")
        pages = max(-(-loaded.row_count // size), 1)
        page = min(max(page, 1), pages)
        offset = (page - 1) * size
        if sort is None:
            rows = loaded.slice(offset, size)
        else:
            indices = self._sort_indices(loaded, sort, order).slice(offset, size)
            rows = self._decoded(loaded).take(indices) if self._fits(loaded) else loaded.take(indices)
        return FramePage(
            columns=columns,
            dtypes=loaded.dtypes,
            data=rows_of(rows),
            total=loaded.row_count,
            page=page,
            size=size,
            pages=pages,
            sort=sort,
            order=order,  # type: ignore[arg-type]
        )

    def column_charts(self, loaded: LoadedFrame) -> list[ColumnChart]:
        """How each of the first CHARTED_COLUMNS columns' values are spread (webapp.frames.columns),
        computed once per worker while it stays in the cache: a big table takes seconds."""
        key = self._charts_key(loaded)

        def compute() -> list[ColumnChart]:
            # One at a time per worker, as parsing: each takes up to ~200 MB while it runs
            # (docs/performance.md, "Column charts"); and a second request for the same
            # table's charts waits for the first's instead of computing them again.
            with _CHARTING:
                cached = self.cache.peek(key)
                return cached if cached is not None else column_charts(loaded)

        return self.cache.get(key, compute, _charts_size)

    def cached_column_charts(self, loaded: LoadedFrame) -> list[ColumnChart] | None:
        """column_charts() when they are cheap: cached already, or a small table's."""
        cells = loaded.row_count * min(len(loaded.schema.names), CHARTED_COLUMNS)
        if cells <= QUICK_CHART_CELLS:
            return self.column_charts(loaded)
        return self.cache.peek(self._charts_key(loaded))

    @staticmethod
    def _charts_key(loaded: LoadedFrame) -> tuple[str, ...]:
        return (*loaded.key, "column charts")

    @read_use_case
    def load_dataframe(self, artifact_id: object) -> pd.DataFrame:
        """The whole table as pandas. Raises ArtifactNotFoundError, FrameNotFoundError."""
        return to_pandas(self.require_frame(artifact_id).table())

    @read_use_case
    def diff(self, a: ArtifactOut, b: ArtifactOut, key: str | None = None) -> dict[str, Any] | None:
        """The `frame` part of the diff from table artifact `a` to `b`; None unless both hold a
        table. Raises ArtifactValidationError for a `key` not in both, or not unique."""
        old, new = self.frame_of(a), self.frame_of(b)
        if old is None or new is None:
            return None
        return frame_diff(to_pandas(old.table()), to_pandas(new.table()), old.dtypes, new.dtypes, key)

    # History (webapp.artifacts.attachments) ------------------------------------------

    def purged(self, ids: list[str]) -> None:
        self.repo.remove(ids)

    def reborn(self, artifact_id: str) -> None:
        self.repo.remove([artifact_id])  # the deleted artifact's table is not the new one's

    # Export and import (webapp.ops) -----------------------------------------------------

    def export_payloads(self, artifact_ids: list[str]) -> dict[str, Any]:
        """The stored tables of these artifacts, JSON-safe, keyed by artifact id."""
        return self.repo.dump(artifact_ids)

    def import_payloads(self, payloads: dict[str, Any]) -> None:
        """Store tables written by export_payloads (their artifacts exist by then)."""
        self.repo.load(payloads)

    # Helpers --------------------------------------------------------------------------

    def _decoded(self, loaded: LoadedFrame) -> pa.Table:
        """All of a table's rows, decoded once per process while they stay in the cache."""
        if isinstance(loaded.rows, pa.Table):
            return loaded.rows
        return self.cache.get((*loaded.key, "decoded"), loaded.table, lambda table: table.nbytes)

    def _fits(self, loaded: LoadedFrame) -> bool:
        """Whether the table, decoded, takes at most half the cache: then it is decoded once
        and kept; a bigger one is never decoded whole (pages read its row groups one by one)."""
        if isinstance(loaded.rows, pa.Table):
            return True
        metadata = loaded._parquet().metadata
        decoded = sum(metadata.row_group(group).total_byte_size for group in range(metadata.num_row_groups))
        return decoded <= self.cache.max_bytes // 2

    def _sort_indices(self, loaded: LoadedFrame, column: str, order: str) -> pa.Array:
        def sort() -> pa.Array:
            direction = "ascending" if order == "asc" else "descending"
            # Only the sort column is decoded for a big table: a stable sort of it alone
            # gives the same order as sorting the whole table by it.
            values = self._decoded(loaded).column(column) if self._fits(loaded) else loaded.column(column)
            indices = pc.array_sort_indices(values, order=direction, null_placement="at_end")
            del values
            indices = indices.cast(pa.uint32()) if len(indices) <= 2**32 else indices  # half the cache space
            return_freed_memory()  # the decoded column and the 64-bit indices
            return indices

        return self.cache.get((*loaded.key, "sort", column, order), sort, lambda indices: indices.nbytes)

    def _read_stored(self, key: tuple[str, ...], stored: ArtifactFrame) -> LoadedFrame:
        """The stored rows, with the provenance recorded beside them (never the artifact's
        editable data): a table stored before that was recorded has its SHA-256 only."""
        content = self.repo.content(stored.artifact_id)
        source = {**(stored.source if isinstance(stored.source, dict) else {}), "sha256": stored.source_sha256}
        return LoadedFrame(key, content, stored.dtypes, stored.summary, source)


def _file_name(name: str) -> str:
    """The uploaded name when it is a valid file name, else "upload.csv"."""
    try:
        return check_name(name)
    except FileNameError:
        return "upload.csv"


def _frame_size(loaded: LoadedFrame) -> int:
    return loaded.nbytes


def _charts_size(charts: list[ColumnChart]) -> int:
    """Roughly the bytes the charts hold: their values' text and a few numbers each."""
    size = 0
    for chart in charts:
        parts = chart.bins if chart.kind == "histogram" else chart.top  # type: ignore[union-attr]
        size += 200 + sum(100 + len(str(part)) for part in parts)
    return size


def _query_error(name: str, message: str, detail: str) -> ArtifactValidationError:
    return ArtifactValidationError([{"loc": ["query", name], "msg": message, "type": "value_error"}], detail)
