"""The full-text index of `data`, kept in the write transaction, behind the text filter (`q=`,
the search box's plain words): "the data contains this text", case-insensitive.

- SQLite: an FTS5 table with the trigram tokenizer (any substring of 3+ characters is a
  phrase of trigrams), external-content over `artifacts` (no second copy of the text), kept
  by triggers. The text filter asks it for candidate rowids, then checks LIKE on those rows
  only; a needle under 3 characters has no trigram and scans, as before.
- PostgreSQL: a pg_trgm GIN index on `data::text`, which `CAST(data AS TEXT) ILIKE '%…%'`
  uses as it is.

Migration 0009 installs both; create_all() (tests, open_store) installs them with the table.
Rowids: SQLite's VACUUM may renumber a table's rowids; after one, run rebuild() (the online
backup of webapp/ops.py copies pages and keeps them).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, MetaData, event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType

from .models import Base

MIN_INDEXED_LENGTH = 3  # one trigram

_SQLITE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS artifacts_fts USING fts5("
    "data, content='artifacts', content_rowid='rowid', tokenize='trigram')",
    """CREATE TRIGGER IF NOT EXISTS artifacts_fts_insert AFTER INSERT ON artifacts BEGIN
        INSERT INTO artifacts_fts (rowid, data) VALUES (NEW.rowid, NEW.data);
    END""",
    """CREATE TRIGGER IF NOT EXISTS artifacts_fts_delete AFTER DELETE ON artifacts BEGIN
        INSERT INTO artifacts_fts (artifacts_fts, rowid, data) VALUES ('delete', OLD.rowid, OLD.data);
    END""",
    """CREATE TRIGGER IF NOT EXISTS artifacts_fts_update AFTER UPDATE OF data ON artifacts BEGIN
        INSERT INTO artifacts_fts (artifacts_fts, rowid, data) VALUES ('delete', OLD.rowid, OLD.data);
        INSERT INTO artifacts_fts (rowid, data) VALUES (NEW.rowid, NEW.data);
    END""",
)
_SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS artifacts_fts_insert",
    "DROP TRIGGER IF EXISTS artifacts_fts_delete",
    "DROP TRIGGER IF EXISTS artifacts_fts_update",
    "DROP TABLE IF EXISTS artifacts_fts",
)
PG_INDEX = "ix_artifacts_data_trgm"


def create_fulltext(connection: Connection) -> None:
    """Install the index (idempotent) and fill it from the rows already there."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON artifacts USING gin ((data::text) gin_trgm_ops)"
        )
        return
    for statement in _SQLITE:
        connection.exec_driver_sql(statement)
    rebuild(connection)


def drop_fulltext(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {PG_INDEX}")
        return
    for statement in _SQLITE_DROP:
        connection.exec_driver_sql(statement)


def rebuild(connection: Connection) -> None:
    """Re-read every row into SQLite's index (after a bulk load without triggers, or a VACUUM)."""
    if connection.dialect.name != "postgresql":
        connection.exec_driver_sql("INSERT INTO artifacts_fts (artifacts_fts) VALUES ('rebuild')")


class TextCandidates(ColumnElement[bool]):
    """On SQLite, "the row is among those whose text holds every trigram of `needle`"
    (a bound parameter, 3+ characters); elsewhere always true (pg_trgm serves ILIKE itself).
    Callers still check the exact condition on the candidates."""

    type = NullType()  # a Boolean would make SQLite compare it with 1, hiding it from the planner
    inherit_cache = True

    def __init__(self, needle: Any) -> None:
        self.needle = needle

    _traverse_internals: Any = [("needle", InternalTraversal.dp_clauseelement)]


@compiles(TextCandidates)
def _everywhere_true(element: TextCandidates, compiler: Any, **kw: Any) -> str:
    return "true"


@compiles(TextCandidates, "sqlite")
def _sqlite_candidates(element: TextCandidates, compiler: Any, **kw: Any) -> str:
    needle = compiler.process(element.needle, **kw)
    # The needle as one FTS5 phrase: double quotes doubled inside "…".
    phrase = f"""'"' || replace({needle}, '"', '""') || '"'"""
    return f"artifacts.rowid IN (SELECT rowid FROM artifacts_fts WHERE artifacts_fts MATCH {phrase})"


@event.listens_for(Base.metadata, "after_create")
def _fulltext_for_new_tables(metadata: MetaData, connection: Connection, tables: Any = (), **_kw: Any) -> None:
    """create_all(): install the index with a new `artifacts` table."""
    if any(table.name == "artifacts" for table in tables):
        create_fulltext(connection)
