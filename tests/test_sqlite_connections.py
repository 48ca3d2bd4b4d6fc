"""Every SQLite connection gets WAL, a busy timeout and foreign keys, and waits out locks."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import create_engine, text

from webapp.artifacts import database


def test_a_new_connection_switches_an_old_database_to_wal(tmp_path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()  # rollback-journal mode
    engine = database.open_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == database.SQLITE_BUSY_TIMEOUT_MS
    engine.dispose()


def test_connecting_waits_for_a_writer_that_holds_the_database(tmp_path):
    """Switching to WAL needs the write lock: a new connection waits instead of failing."""
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    engine = database.open_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("SELECT COUNT(*) FROM t")).scalar() == 1
    finally:
        release.join()
        holder.close()
        engine.dispose()


def test_other_engines_in_the_process_are_left_as_they_are(tmp_path):
    """The pragmas are set on the store's engines only, not on every SQLAlchemy engine."""
    ours = database.open_engine(f"sqlite:///{tmp_path / 'ours.db'}")
    theirs = create_engine(f"sqlite:///{tmp_path / 'theirs.db'}")
    with ours.connect() as mine, theirs.connect() as other:
        assert mine.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert other.execute(text("PRAGMA journal_mode")).scalar() == "delete"
        assert other.execute(text("PRAGMA foreign_keys")).scalar() == 0
    ours.dispose()
    theirs.dispose()


def test_postgresql_urls_name_the_psycopg_driver():
    for url in ("postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"):
        assert database.database_url(url) == "postgresql+psycopg://u@h/db"
    assert database.database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_locked_answers_that_skip_the_busy_handler_are_retried():
    answers = iter([sqlite3.OperationalError("database is locked")] * 3 + ["wal"])

    def statement() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert database._retry_while_locked(statement) == "wal"


def test_other_errors_are_not_retried():
    calls = []

    def statement() -> None:
        calls.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        database._retry_while_locked(statement)
    assert len(calls) == 1
