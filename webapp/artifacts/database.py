"""Engines and sessions for scripts and for the app: SQLite pragmas, PostgreSQL as-is."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from .models import Base

SQLITE_BUSY_TIMEOUT_MS = 30_000


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL, a busy timeout and real foreign keys on every SQLite connection.

    The driver's own transaction handling is switched off so that "begin" below can
    choose BEGIN IMMEDIATE for writers: a deferred transaction that reads first and
    writes later fails at once with "database is locked" when another worker wrote in
    between, without waiting for the busy timeout.
    """
    if type(dbapi_connection).__module__ not in {"sqlite3", "pysqlite2.dbapi2"}:
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite(connection: Any) -> None:
    if connection.dialect.name == "sqlite":
        mode = "IMMEDIATE" if connection.get_execution_options().get("sqlite_write") else "DEFERRED"
        connection.exec_driver_sql(f"BEGIN {mode}")


def engine_options(url: str) -> dict[str, Any]:
    """Options shared by scripts and the Flask app."""
    return {
        "json_serializer": lambda value: json.dumps(value, ensure_ascii=False, allow_nan=False),
        "pool_pre_ping": not url.startswith("sqlite"),
    }


def open_session(url: str = "sqlite:///instance/artifacts.db", *, create: bool = True) -> Session:
    """A session on `url` for scripts, creating the table if needed.

    >>> session = open_session("sqlite:///instance/artifacts.db")
    >>> manager = ArtifactManager(ArtifactRepository(session), hierarchy=hierarchy)
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, **engine_options(url))
    if create:
        Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)()
