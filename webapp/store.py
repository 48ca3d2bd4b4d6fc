"""The composition root: a Store holds every service of one request or script, built one way.

Views, forms, the CLI and the operations ask for a Store and pass no limits: the Policy
inside it is read once from the configuration, and every use case enforces it.

    store = open_store("sqlite:///instance/artifacts.db")        # a script
    root = store.artifacts.create(ArtifactIn(data={"experiment_name": "v1"}))
    store = get_store()                                           # a Flask request
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

import webapp.accounts.models  # noqa: F401 - its tables join Base.metadata: every table is the Store's to create or drop
from webapp.artifacts import ANONYMOUS, Actor, ArtifactManager, ArtifactRepository, Base, Policy
from webapp.artifacts.actor import EVERYTHING, TreeAccess
from webapp.artifacts.database import open_engine
from webapp.artifacts.history import HistoryService
from webapp.extensions import db
from webapp.files import BlobStore, FileRepository, FileService, open_blob_store
from webapp.frames import FrameCache, FrameRepository, FrameService
from webapp.search import SearchService


class Store:
    """The services of one session, sharing its unit of work.

    `artifacts` is the core (the spec's ArtifactManager); each feature with tables of its
    own (`frames`, `files`, …) reaches it only through its public use cases. `blobs` is
    the blob store that belongs to this database (default: the directory instance/blobs).
    """

    def __init__(
        self,
        session: Session,
        policy: Policy,
        *,
        frame_cache: FrameCache | None = None,
        actor: Actor = ANONYMOUS,
        access: TreeAccess = EVERYTHING,
        blobs: BlobStore | None = None,
    ) -> None:
        self.session = session
        self.policy = policy
        self.artifacts = ArtifactManager(ArtifactRepository(session), policy=policy, actor=actor, access=access)
        self.files = FileService(FileRepository(session), self.artifacts, blobs or open_blob_store(None))
        self.frames = FrameService(FrameRepository(session), self.artifacts, frame_cache, files=self.files)
        self.artifacts.attachments.extend([self.files, self.frames])  # they follow its history
        self.history = HistoryService(self.artifacts, files=self.files)
        self.search = SearchService(self.artifacts, policy)

    @property
    def actor(self) -> Actor:
        """Who this Store's changes are attributed to: every revision it writes names them."""
        return self.artifacts.actor

    @actor.setter
    def actor(self, actor: Actor) -> None:
        self.artifacts.actor = actor

    def reading(self) -> AbstractContextManager[None]:
        """One read use case spanning several services."""
        return self.artifacts.work.reading()

    def writing(self, *, exclusive: bool = False, commit: bool = True) -> AbstractContextManager[None]:
        """One write transaction spanning several use cases: all of them land, or none
        (`commit=False` rolls back at the end: a dry run). See UnitOfWork.writing."""
        return self.artifacts.work.writing(exclusive=exclusive, commit=commit)

    @property
    def extras(self) -> dict[str, Any]:
        """Features whose payloads travel beside the artifacts in an export file, by name:
        each has export_payloads(ids) and import_payloads(payloads)."""
        return {"frames": self.frames, "files": self.files, "history": self.history}

    def close(self) -> None:
        self.session.close()


def open_store(url: str, policy: Policy | None = None, *, create: bool = True, blobs: BlobStore | None = None) -> Store:
    """A Store for a script, on its own engine; `create` makes missing tables. `blobs`:
    the database's blob store (default: instance/blobs, as the app's default)."""
    engine = open_engine(url)
    if create:
        Base.metadata.create_all(engine)
    return Store(sessionmaker(engine, expire_on_commit=False)(), policy or Policy(), blobs=blobs)


def init_app(app: Flask) -> None:
    """Read the policy once, and give each worker process one table cache."""
    policy = Policy.from_config(app.config)
    app.extensions["store_policy"] = policy
    app.extensions["frame_cache"] = FrameCache(policy.frame_cache_bytes)
    default = Path(app.instance_path) / "blobs"
    app.extensions["blob_store"] = open_blob_store(
        app.config.get("BLOB_STORE_URL"), endpoint_url=app.config.get("S3_ENDPOINT_URL"), default=default
    )


def get_store() -> Store:
    """The request's (or CLI command's) Store, built on first use around Flask-SQLAlchemy's session."""
    if "store" not in g:
        extensions = current_app.extensions
        g.store = Store(
            db.session(),
            extensions["store_policy"],
            frame_cache=extensions["frame_cache"],
            actor=g.get("actor", ANONYMOUS),  # set by authentication (webapp/access.py) before the view runs
            access=g.get("tree_access", EVERYTHING),  # no request (a CLI command): no account, every right
            blobs=extensions["blob_store"],
        )
    return g.store
