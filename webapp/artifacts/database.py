"""Engines and sessions for scripts and for the app: SQLite pragmas, PostgreSQL as-is."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from .models import Base

SQLITE_BUSY_TIMEOUT_MS = 30_000

T = TypeVar("T")


def configure_engine(engine: Engine) -> Engine:
    """Give a SQLite engine its pragmas and writer transactions (a no-op for PostgreSQL).

    Listeners go on this engine only, never on the Engine class: other engines in the
    process (a test's, a migration tool's) keep their own behaviour.
    """
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _configure_sqlite):
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL, a busy timeout and real foreign keys on every SQLite connection.

    The driver's own transaction handling is switched off so that "begin" below can
    choose BEGIN IMMEDIATE for writers: a deferred transaction that reads first and
    writes later fails at once with "database is locked" when another worker wrote in
    between, without waiting for the busy timeout.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        mode = _retry_while_locked(lambda: cursor.execute("PRAGMA journal_mode").fetchone()[0])
        if mode == "memory":
            return
        if mode != "wal":
            # WAL is stored in the file, so this runs once per database, not per connection.
            _retry_while_locked(lambda: cursor.execute("PRAGMA journal_mode = WAL").fetchone())
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
    finally:
        cursor.close()


def _retry_while_locked(statement: Callable[[], T]) -> T:
    """Run `statement`, retrying while SQLite says the database is locked.

    The busy timeout does not cover everything a new connection may meet: SQLite answers
    "locked" at once, without calling the busy handler, while another connection
    recovers the WAL after a crashed process or holds the lock a journal-mode change
    needs. A gunicorn worker that connects at such a moment must wait, not fail to boot.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _begin_sqlite(connection: Any) -> None:
    mode = "IMMEDIATE" if connection.get_execution_options().get("sqlite_write") else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")


def dump_json(value: Any) -> str:
    """`value` as JSON text for the `data` column, such that every number reads back as it was.

    PostgreSQL's jsonb keeps numbers as `numeric`, which writes 1e+20 back as
    100000000000000000000: a float would come back an int. Floats that Python writes
    with a positive exponent (|x| >= 1e16, all of them whole numbers) are therefore
    written out in full with a ".0", which numeric keeps, and which reads back as the
    very same float. (The standard library's encoder only, and only for such values:
    the fast C encoder cannot format floats differently.)
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    if "e+" not in text:  # no such float (the text may only hold "e+" in a string)
        return text
    return "".join(_WHOLE_FLOAT_ENCODER.iterencode(value))


def _float_in_full(number: float) -> str:
    text = float.__repr__(number)
    return f"{int(number)}.0" if "e+" in text else text


class _WholeFloatEncoder(json.JSONEncoder):
    def iterencode(self, o: Any, _one_shot: bool = False) -> Any:
        # json's own pure-Python encoder, given a float formatter that spells big floats out.
        return json.encoder._make_iterencode(  # type: ignore[attr-defined]
            {}, self.default, json.encoder.py_encode_basestring, self.indent, _float_in_full,
            self.key_separator, self.item_separator, self.sort_keys, self.skipkeys, _one_shot,
        )(o, 0)


_WHOLE_FLOAT_ENCODER = _WholeFloatEncoder(ensure_ascii=False, allow_nan=False)


def database_url(url: str) -> str:
    """`url` as SQLAlchemy needs it: PostgreSQL URLs (also Heroku's "postgres://") name psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def engine_options(url: str) -> dict[str, Any]:
    """Options shared by scripts and the Flask app."""
    return {
        "json_serializer": dump_json,
        "pool_pre_ping": not url.startswith("sqlite"),
    }


def open_engine(url: str) -> Engine:
    """An engine on `url` configured as the app's is (SQLite pragmas, JSON that keeps floats)."""
    url = database_url(url)
    return configure_engine(create_engine(url, **engine_options(url)))


def open_session(url: str = "sqlite:///instance/artifacts.db", *, create: bool = True) -> Session:
    """A session on `url` for scripts, creating the tables if needed.

    >>> session = open_session("sqlite:///instance/artifacts.db")
    >>> manager = ArtifactManager(ArtifactRepository(session), hierarchy=hierarchy)
    """
    engine = open_engine(url)
    if create:
        Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)()
