"""Reading a database directly, to check that what the app stored forms intact trees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text, update

from webapp.artifacts import Artifact, ArtifactManager


def stored_tree(url: str) -> set[str]:
    """The ids in the database, after checking that they form intact trees.

    Every parent link points at an artifact, every level is its parent's plus one (roots
    are 0), every artifact is reachable from a root (a cycle would not be), and SQLite's
    own integrity and foreign-key checks pass.
    """
    engine = create_engine(url)
    with engine.connect() as db:
        stored = set(db.scalars(text("SELECT id FROM artifacts")))
        dangling = db.scalar(
            text(
                "SELECT count(*) FROM artifacts child LEFT JOIN artifacts parent ON parent.id = child.parent_id "
                "WHERE child.parent_id IS NOT NULL AND parent.id IS NULL"
            )
        )
        assert dangling == 0
        bad_root_levels = db.scalar(text("SELECT count(*) FROM artifacts WHERE parent_id IS NULL AND level <> 0"))
        bad_child_levels = db.scalar(
            text(
                "SELECT count(*) FROM artifacts child JOIN artifacts parent ON parent.id = child.parent_id "
                "WHERE child.level <> parent.level + 1"
            )
        )
        assert (bad_root_levels, bad_child_levels) == (0, 0)
        reachable = db.scalar(
            text(
                "WITH RECURSIVE walk(id) AS (SELECT id FROM artifacts WHERE parent_id IS NULL "
                "UNION ALL SELECT a.id FROM artifacts a JOIN walk ON a.parent_id = walk.id) "
                "SELECT count(*) FROM walk"
            )
        )
        assert reachable == len(stored)
        if db.dialect.name == "sqlite":
            assert db.scalar(text("PRAGMA integrity_check")) == "ok"
            assert db.execute(text("PRAGMA foreign_key_check")).all() == []
    engine.dispose()
    return stored


def backdate(manager: ArtifactManager, artifact_id: Any, days: int) -> None:
    """Make an artifact look `days` old."""
    manager.session.execute(
        update(Artifact).where(Artifact.id == str(artifact_id)).values(created_at=datetime.now(UTC) - timedelta(days=days))
    )
    manager.session.commit()
