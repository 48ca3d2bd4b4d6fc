"""Integrity and cleanup of the stored bytes: `flask --app webapp verify` and `gc-blobs`.

No Flask and no click here (webapp/cli.py wraps them):

    store = open_store(url, blobs=open_blob_store("s3://bucket/prefix"))
    report = verify(store)          # report.problems: one line per missing or changed blob/table
    collect_garbage(store, dry_run=True).deleted
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from webapp.files import GCResult, VerifyReport
from webapp.frames import ArtifactFrame

if TYPE_CHECKING:
    from webapp.store import Store


def verify(store: Store) -> VerifyReport:
    """Re-hash every blob a file uses and decode every stored table; `problems` names each
    blob that is missing or whose bytes are no longer its SHA-256, and each table that no
    longer reads back as the rows and columns recorded beside it."""
    report = store.files.verify()
    with store.reading():
        tables = store.session.execute(
            select(ArtifactFrame.artifact_id, ArtifactFrame.row_count, ArtifactFrame.column_count)
        ).all()
    for artifact_id, rows, columns in tables:
        report.tables += 1
        with store.reading():  # one table in memory at a time
            content = store.frames.repo.content(artifact_id)
        problem = _table_problem(content, rows, columns)
        if problem:
            report.problems.append(f"corrupted table of artifact {artifact_id}: {problem}")
    return report


def _table_problem(content: bytes, rows: int, columns: int) -> str | None:
    """Why the stored Parquet file is not the table recorded (None when it is): every row
    group is decoded, so a damaged page or compressed block is found, not just the footer."""
    try:
        parquet = pq.ParquetFile(pa.BufferReader(content), page_checksum_verification=True)
        found_rows = 0
        for group in range(parquet.num_row_groups):
            found_rows += parquet.read_row_group(group).num_rows
    except (OSError, ValueError, pa.ArrowException) as error:
        return f"it cannot be read ({str(error)[:200]})"
    if found_rows != rows or parquet.schema_arrow.__len__() != columns:
        return f"it holds {found_rows} rows × {len(parquet.schema_arrow)} columns, not {rows} × {columns}"
    return None


def collect_garbage(store: Store, *, dry_run: bool = False, now: datetime | None = None) -> GCResult:
    """Delete blobs no file uses, once older than BLOB_GC_GRACE (FileService.collect_garbage)."""
    return store.files.collect_garbage(dry_run=dry_run, now=now)
