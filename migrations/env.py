"""Alembic environment: runs against the Flask app's database."""

from alembic import context
from flask import current_app
from sqlalchemy import text

from webapp.artifacts.models import Base

# No logging.fileConfig here: migrations also run inside the app at start-up, and must
# not reconfigure the server's logging.
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=current_app.extensions["migrate"].db.engine.url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = current_app.extensions["migrate"].db.engine
    # sqlite_write: BEGIN IMMEDIATE, so workers starting together migrate one at a time.
    with engine.connect().execution_options(sqlite_write=True) as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
