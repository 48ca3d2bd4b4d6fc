"""History in the manager and the operations: actors, bulk paths, export/import, retention, migration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select, text, update

from webapp import create_app, ops
from webapp.artifacts import Actor, Artifact, ArtifactCycleError, ArtifactIn, ArtifactUpdate
from webapp.artifacts.models import ArtifactRevision
from webapp.database import MIGRATIONS
from webapp.extensions import db
from webapp.store import Store, get_store


def actions(store: Store, artifact_id: Any) -> list[tuple[int, str]]:
    return [(r.revision, r.action) for r in reversed(store.history.page(artifact_id).items)]


def revision_count(store: Store) -> int:
    with store.reading():
        return store.session.scalar(select(func.count()).select_from(ArtifactRevision)) or 0


def test_each_revision_names_the_stores_actor(store, manager):
    store.actor = Actor(user="ada", token="ci", address="10.0.0.1")
    artifact = manager.create(ArtifactIn(data={"v": 1}))
    store.actor = Actor(user="bob")
    manager.update(artifact.id, ArtifactUpdate(data={"v": 2}))
    items = store.history.page(artifact.id).items
    assert items[0].actor.model_dump() == {"user": "bob", "token": None, "address": None}
    assert items[1].actor.model_dump() == {"user": "ada", "token": "ci", "address": "10.0.0.1"}
    manager.delete(artifact.id)
    assert store.history.deleted().items[0].deleted_by.user == "bob"


def test_a_move_that_changes_levels_gives_each_descendant_a_moved_revision(store, manager, make_artifact):
    root = make_artifact(name="root")
    child = make_artifact(root, name="child")
    grandchild = make_artifact(child, name="grandchild")
    manager.move(child.id, None)
    assert actions(store, child.id) == [(1, "created"), (2, "moved")]
    assert actions(store, grandchild.id) == [(1, "created"), (2, "moved")]
    moved = store.history.revision(grandchild.id, 2)
    assert (moved.level, str(moved.parent_id)) == (1, str(child.id))
    assert manager.get(grandchild.id).revision == 2
    other = make_artifact(name="other root")
    manager.move(child.id, other.id)  # level 0 → 1 again: the descendants move too
    assert manager.get(grandchild.id).revision == 3
    manager.move(child.id, other.id)  # where it is already: nothing
    assert manager.get(child.id).revision == 3 and manager.get(grandchild.id).revision == 3


def test_delete_subtree_and_delete_all_record_each_artifact(store, manager, make_artifact):
    root = make_artifact(name="root")
    child = make_artifact(root, name="child")
    before = revision_count(store)
    assert manager.delete_subtree(root.id) == 2
    assert revision_count(store) == before + 2
    assert {item.id for item in store.history.deleted().items} == {root.id, child.id}
    manager.restore(root.id)
    manager.restore(child.id)
    assert manager.count() == 2
    manager.delete_all()
    assert store.history.deleted().total == 2 and manager.count() == 0


def test_revert_refuses_a_cycle(store, manager, make_artifact):
    a = make_artifact(name="a")
    b = make_artifact(name="b")
    manager.move(b.id, a.id)  # b under a (b revision 2)
    manager.move(b.id, None)
    manager.move(a.id, b.id)  # a under b now: b's revision 2 (under a) would be a cycle
    with pytest.raises(ArtifactCycleError):
        manager.revert(b.id, 2)


def test_a_create_reusing_a_deleted_id_continues_its_history(store, manager):
    artifact = manager.create(ArtifactIn(data={"v": 1}))
    manager.delete(artifact.id)
    again = manager.create(ArtifactIn(id=artifact.id, data={"v": 9}))
    assert again.revision == 3
    assert actions(store, artifact.id) == [(1, "created"), (2, "deleted"), (3, "created")]


def test_export_and_import_carry_the_revisions(store, manager, make_artifact):
    root = make_artifact(name="root")
    child = make_artifact(root, name="child")
    manager.update(child.id, ArtifactUpdate(data={"name": "child", "v": 2}))
    document = ops.export_subtree(store, str(root.id))
    assert [r["action"] for r in document["extras"]["history"][str(child.id)]] == ["created", "updated"]
    manager.delete_all()
    ops.import_subtree(store, document)
    assert actions(store, child.id) == [(1, "created"), (2, "updated")]
    assert manager.get(child.id).revision == 2
    # Imported elsewhere, it says so with a revision on top.
    other = make_artifact(name="other")
    manager.delete_subtree(root.id)
    ops.import_subtree(store, document, parent=str(other.id))
    assert actions(store, child.id)[-1] == (3, "moved")
    assert store.history.revision(child.id, 3).level == 2


def test_prune_takes_the_revisions_with_the_artifacts(store, manager, make_artifact):
    old = make_artifact(name="old")
    make_artifact(old, name="old child")
    keep = make_artifact(name="keep")
    with store.writing():
        store.session.execute(
            update(Artifact).where(Artifact.id != str(keep.id)).values(created_at=datetime.now(UTC) - timedelta(days=200))
        )
    ops.prune(store, timedelta(days=90))
    assert revision_count(store) == 1  # keep's
    assert store.history.deleted().total == 0


def test_thinning_keeps_the_newest_revision_of_each_artifact(store, manager, make_artifact):
    artifact = make_artifact(v=1)
    for value in range(2, 6):
        manager.update(artifact.id, ArtifactUpdate(data={"v": value}))
    gone = make_artifact(v="gone")
    manager.delete(gone.id)
    with store.writing():
        store.session.execute(update(ArtifactRevision).values(at=datetime.now(UTC) - timedelta(days=365)))
    dry = ops.thin_history(store, timedelta(days=180), dry_run=True)
    assert dry.revisions == 5 and revision_count(store) == 7
    assert ops.thin_history(store, timedelta(days=180)).revisions == 5
    assert actions(store, artifact.id) == [(5, "updated")]
    assert actions(store, gone.id) == [(2, "deleted")]
    manager.update(artifact.id, ArtifactUpdate(data={"v": 6}))
    assert actions(store, artifact.id) == [(5, "updated"), (6, "updated")]


def test_stats_report_revisions_and_their_size(store, make_artifact, runner):
    make_artifact(v=1)
    stats = ops.collect_stats(store)
    assert stats.revisions == 1 and stats.revision_bytes > 0
    result = runner.invoke(args=["stats"])
    assert "History    1 revision" in result.output


def test_prune_history_from_the_command_line(store, manager, make_artifact, runner):
    artifact = make_artifact(v=1)
    manager.update(artifact.id, ArtifactUpdate(data={"v": 2}))
    with store.writing():
        store.session.execute(update(ArtifactRevision).values(at=datetime.now(UTC) - timedelta(days=365)))
    result = runner.invoke(args=["prune", "--history-older-than", "180d"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Removed 1 revision made before ")
    bad = runner.invoke(args=["prune", "--history-older-than", "soon"])
    assert bad.exit_code == 2 and "--history-older-than" in bad.output


def test_migration_0006_gives_existing_artifacts_their_first_revision(app_config):
    app = create_app(app_config)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0004")
        db.session.execute(text(
            "INSERT INTO artifacts (id, parent_id, level, data, created_at, updated_at) VALUES "
            "('01K00000000000000000000000', NULL, 0, '{\"v\": 1}', '2025-01-01 00:00:00', '2025-02-01 00:00:00')"
        ))
        db.session.commit()
        upgrade(directory=str(MIGRATIONS))
        store = get_store()
        artifact = store.artifacts.get("01K00000000000000000000000")
        assert artifact.revision == 1
        first = store.history.revision(artifact.id, 1)
        assert first.action == "created" and first.data == {"v": 1}
        assert first.at == artifact.created_at
        store.artifacts.update(artifact.id, ArtifactUpdate(data={"v": 2}))
        assert store.artifacts.get(artifact.id).revision == 2
        db.session.remove()
        db.engine.dispose()
