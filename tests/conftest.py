"""Fixtures: an app on a fresh database per test, on SQLite and (with TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.support.databases import postgres_url, reset_postgres
from webapp import create_app
from webapp.artifacts import ArtifactIn, ArtifactManager, ArtifactOut
from webapp.extensions import db
from webapp.store import Store

from tests.support.s3 import CREDENTIALS, moto_server, new_bucket

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so `-m "not slow"` leaves browser tests out
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test starts gunicorn and Chromium, so every one is slow."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database: a fresh SQLite file, or the emptied PostgreSQL test database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite'}"
    url = postgres_url()
    reset_postgres(url)
    return url


@pytest.fixture
def app_config(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> dict[str, Any]:
    """The test app's settings; a module or test adds its own with
    `pytest.mark.app_config(KEY=value)` (overriding this fixture would lose the database parameter)."""
    overrides = {k: v for marker in reversed(list(request.node.iter_markers("app_config"))) for k, v in marker.kwargs.items()}
    return {
        "TESTING": True,
        "SECRET_KEY": "test",
        "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "AUTO_MIGRATE": False,  # create_all() below is faster; test_app proves the migrations
        "BLOB_STORE_URL": (tmp_path / "blobs").as_uri(),  # each test's own, never instance/blobs
        # Open to anonymous users, as before accounts: tests of access (tests/test_access.py)
        # set AUTH_ANONYMOUS="none" with pytest.mark.app_config.
        "AUTH_ANONYMOUS": "write",
        "METRICS_ANONYMOUS": True,
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
    store = Store(
        Session(engine, expire_on_commit=False), app.extensions["store_policy"], blobs=app.extensions["blob_store"]
    )
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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server (a real S3-protocol server over HTTP), one per test process."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def blob_backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Settings for a blob store on each backend: a directory of the test's own, or a fresh
    bucket on the moto server. A module runs its tests on both by adding these settings
    to its app's configuration (see tests/test_files_api.py)."""
    if request.param == "local":
        return {"BLOB_STORE_URL": (tmp_path / "blobs").as_uri()}
    endpoint = request.getfixturevalue("s3_endpoint")
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return {"BLOB_STORE_URL": f"s3://{new_bucket(endpoint)}/blobs", "S3_ENDPOINT_URL": endpoint}
