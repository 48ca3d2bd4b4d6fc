"""Schema management for the app: migrations on start-up, and the revision in use."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import stamp, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from webapp.extensions import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

# The table each migration creates, oldest first: how to tell which revision a database
# made by create_all() (tests, or a script's open_session()) is at. 0003 and 0004 have no
# entry: they change existing tables, which create_all() never alters, so a table alone
# would not prove them; such a database is stamped 0002, and each checks what is missing.
# artifact_counts came with 0005's columns: create_all() made them together; 0006 creates
# artifact_revisions (and adds artifacts.revision beside it).
TABLES_BY_REVISION = (
    ("0001", "artifacts"), ("0002", "artifact_frames"), ("0005", "artifact_counts"), ("0006", "artifact_revisions"),
    ("0007", "artifact_files"), ("0010", "users"),
)


def upgrade_schema(app: Flask) -> None:
    """Bring the database to the latest migration (a no-op when it is already there).

    Safe when several gunicorn workers start at once: migrations/env.py serialises them
    (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL).
    """
    with app.app_context():
        if schema_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head():
            return  # the usual start-up: one query instead of loading Alembic's environment
        tables = set(inspect(db.engine).get_table_names())
        if "artifacts" in tables and "alembic_version" not in tables:
            # Made by create_all(): record the revision its tables match, so that upgrade()
            # adds only what is missing instead of re-creating what is there.
            present = [revision for revision, table in TABLES_BY_REVISION if table in tables]
            stamp(directory=str(MIGRATIONS), revision=present[-1])
        upgrade(directory=str(MIGRATIONS))


def schema_revision() -> str | None:
    """The Alembic revision the database is at, or None when it was not migrated."""
    try:
        return db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        db.session.rollback()
        return None
