"""Per-request access to the service layer (the same manager for pages and API)."""

from __future__ import annotations

from flask import current_app, g

from webapp.artifacts import ArtifactHierarchy, ArtifactManager, ArtifactRepository
from webapp.extensions import db


def hierarchy_from_config() -> ArtifactHierarchy:
    config = current_app.config
    return ArtifactHierarchy(
        name=config["ARTIFACT_HIERARCHY"],
        level_labels=config["ARTIFACT_LEVEL_LABELS"],
        max_depth=config["ARTIFACT_MAX_DEPTH"],
    )


def get_manager() -> ArtifactManager:
    """The request's manager, created on first use (as flaskr's get_db)."""
    if "artifact_manager" not in g:
        g.artifact_manager = ArtifactManager(
            ArtifactRepository(db.session()), hierarchy=current_app.extensions["artifact_hierarchy"]
        )
    return g.artifact_manager
