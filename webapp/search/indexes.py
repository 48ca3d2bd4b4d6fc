"""Expression indexes on data paths (`flask --app webapp index-field data.metrics.rmse`).

The index expression is compiler.path_literal's text, the very expression compiled filters
on that path compare, so the planner matches one to the other (tests/test_search_indexes.py
reads the plans). parent.data.x and ancestor.data.x filters use the same index, and so do
sorts by the path, for pages among its numbers (SearchService.list_page).
"""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import Connection

from .compiler import path_literal
from .grammar import FilterError, parse_field

PREFIX = "ix_artifacts_data_"


def index_name(path: tuple[str, ...]) -> str:
    """A name within PostgreSQL's 63 characters, readable and unique per path."""
    readable = re.sub(r"[^a-z0-9]+", "_", "_".join(path).lower()).strip("_")[:32]
    digest = hashlib.sha256("\x00".join(path).encode()).hexdigest()[:8]
    return f"{PREFIX}{readable}_{digest}"


def data_path(field_text: str) -> tuple[str, ...]:
    field = parse_field(field_text, "field")
    if not field.is_data:
        raise FilterError("an index takes a data path", field.position, "data.<path>", "field")
    return field.path


def create_index(connection: Connection, field_text: str) -> str:
    """Create the expression index of a data path (idempotent); returns its name."""
    path = data_path(field_text)
    name = index_name(path)
    expression = path_literal(connection.dialect.name, path)
    if connection.dialect.name == "postgresql":
        expression = f"({expression})"  # PostgreSQL wants an expression in its own parentheses
    connection.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON artifacts ({expression})")
    # Statistics of the new expression: without them the planners guess its selectivity, and
    # SQLite preferred walking the id order of a first page past every row that fails it.
    connection.exec_driver_sql(f"ANALYZE {name}" if connection.dialect.name == "sqlite" else "ANALYZE artifacts")
    return name


def index_exists(connection: Connection, path: tuple[str, ...]) -> bool:
    """Whether index-field created the index of this data path (a catalog lookup)."""
    name = index_name(path)
    if connection.dialect.name == "postgresql":
        return connection.exec_driver_sql("SELECT to_regclass(%(name)s) IS NOT NULL", {"name": name}).scalar() is True
    found = connection.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,))
    return found.scalar() is not None


def drop_index(connection: Connection, field_text: str) -> str:
    name = index_name(data_path(field_text))
    connection.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    return name
