"""Schema management for the app: migrations on start-up, and the revision in use."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webapp.extensions import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def upgrade_schema(app: Flask) -> None:
    """Bring the database to the latest migration (a no-op when it is already there).

    Safe when several gunicorn workers start at once: migrations/env.py serialises them
    (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL).
    """
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))


def schema_revision() -> str | None:
    """The Alembic revision the database is at, or None when it was not migrated."""
    try:
        return db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        db.session.rollback()
        return None
