"""The PostgreSQL test database: its URL for SQLAlchemy, and emptying it between tests."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text

from webapp.artifacts import Base
from webapp.artifacts.database import database_url


def postgres_url() -> str:
    return database_url(os.environ["TEST_DATABASE_URL"])


def reset_postgres(url: str) -> None:
    """Drop every table the app owns, so each test starts from an empty database."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        Base.metadata.drop_all(connection)
    engine.dispose()
