"""Fixtures: an app on a fresh database per test, on SQLite and (with TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from webapp import create_app
from webapp.artifacts import ArtifactIn, ArtifactManager, ArtifactOut, Base
from webapp.artifacts import database
from webapp.extensions import db
from webapp.store import Store

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def postgres_url() -> str:
    return database.database_url(os.environ["TEST_DATABASE_URL"])


def reset_postgres(url: str) -> None:
    """Drop every table the app owns, so each test starts from an empty database."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        Base.metadata.drop_all(connection)
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database: a fresh SQLite file, or the emptied PostgreSQL test database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite'}"
    url = postgres_url()
    reset_postgres(url)
    return url


@pytest.fixture
def app_config(request: pytest.FixtureRequest, database_url: str) -> dict[str, Any]:
    """The test app's settings; a module or test adds its own with
    `pytest.mark.app_config(KEY=value)` (overriding this fixture would lose the database parameter)."""
    overrides = {k: v for marker in reversed(list(request.node.iter_markers("app_config"))) for k, v in marker.kwargs.items()}
    return {
        "TESTING": True,
        "SECRET_KEY": "test",
        "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "AUTO_MIGRATE": False,  # create_all() below is faster; test_app proves the migrations
        **overrides,
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Any]:
    app = create_app(app_config)
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def store(app: Any) -> Iterator[Store]:
    """A Store on its own session, the way a script would use one.

    No app context stays pushed meanwhile: the test client's requests must each get their
    own (and their own `g`), as they do in production.
    """
    with app.app_context():
        engine = db.engine
    store = Store(Session(engine, expire_on_commit=False), app.extensions["store_policy"])
    yield store
    store.close()


@pytest.fixture
def manager(store: Store) -> ArtifactManager:
    return store.artifacts


@pytest.fixture
def make_artifact(manager: ArtifactManager):
    """Create an artifact through the service layer: make_artifact(parent=..., **data)."""

    def make(parent: ArtifactOut | None = None, **data: Any) -> ArtifactOut:
        return manager.save(ArtifactIn(parent_id=parent.id if parent else None, data=data or {"name": "x"}))

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn_server(
    database_url: str, *, workers: int = 2, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[str]:
    """A real `gunicorn wsgi:app` on a free loopback port; yields its base URL."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "e2e-test-secret",
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "gunicorn", "wsgi:app",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "warning", *args,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=environment)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}")
            try:
                if requests.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still booting
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not become healthy within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
