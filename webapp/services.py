"""Per-request access to the service layer (the same manager for pages and API)."""

from __future__ import annotations

from flask import current_app, g, has_request_context, request

from webapp.artifacts import ArtifactHierarchy, ArtifactManager, ArtifactRepository
from webapp.artifacts.frames import FrameCache, FrameService
from webapp.extensions import db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ONLY_POSTS = frozenset({"api.build_tree", "api.expand_artifact"})  # queries sent as POST bodies


def hierarchy_from_config() -> ArtifactHierarchy:
    config = current_app.config
    return ArtifactHierarchy(
        name=config["ARTIFACT_HIERARCHY"],
        level_labels=config["ARTIFACT_LEVEL_LABELS"],
        max_depth=config["ARTIFACT_MAX_DEPTH"],
    )


def get_manager() -> ArtifactManager:
    """The request's manager, created on first use (as flaskr's get_db).

    A request that may write (POST, PUT, DELETE …) opens its transaction as a writer
    right away, so a page that reads before it writes still queues behind other
    SQLite writers instead of failing with "database is locked". (On PostgreSQL each
    use case takes the write lock it needs when it starts.)
    """
    if "artifact_manager" not in g:
        repository = ArtifactRepository(db.session())
        if has_request_context() and request.method not in SAFE_METHODS and request.endpoint not in READ_ONLY_POSTS:
            repository.begin_writer_transaction()
        g.artifact_manager = ArtifactManager(repository, hierarchy=current_app.extensions["artifact_hierarchy"])
    return g.artifact_manager


def get_frames() -> FrameService:
    """The request's table service. It takes the manager only when it needs the database,
    so an upload is parsed before a POST's write transaction begins."""
    if "frame_service" not in g:
        config, extensions = current_app.config, current_app.extensions
        if "frame_cache" not in extensions:  # one per app and worker process
            extensions["frame_cache"] = FrameCache(config["FRAME_CACHE_BYTES"])
        g.frame_service = FrameService(
            get_manager, extensions["frame_cache"], max_upload_bytes=config["MAX_UPLOAD_BYTES"]
        )
    return g.frame_service
