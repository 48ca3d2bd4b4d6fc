"""The PostgreSQL test database: its URL for SQLAlchemy, and emptying it between tests."""

from __future__ import annotations

import functools
import os

from sqlalchemy import create_engine, make_url, text

import webapp.store  # noqa: F401 - every feature's tables join Base.metadata, so reset drops them all
from webapp.artifacts import Base
from webapp.artifacts.database import database_url


@functools.cache
def postgres_url() -> str:
    """TEST_DATABASE_URL, or under pytest-xdist (`-n 2`) a database of each worker's own beside it,
    created on first use: workers that shared one would empty it under each other's feet."""
    url = make_url(database_url(os.environ["TEST_DATABASE_URL"]))
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url.render_as_string(hide_password=False)
    own = url.set(database=f"{url.database}_{worker}")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own.database})
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{own.database}"'))
    engine.dispose()
    return own.render_as_string(hide_password=False)


def reset_postgres(url: str) -> None:
    """Drop every table the app owns, so each test starts from an empty database."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        Base.metadata.drop_all(connection)
    engine.dispose()
