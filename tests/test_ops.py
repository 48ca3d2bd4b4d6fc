"""webapp.ops on both databases: statistics, backups, export/import, retention."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from tests.support.trees import backdate, stored_tree
from webapp import ops
from webapp.artifacts import ArtifactHierarchy, ArtifactIn, ArtifactManager, ArtifactRepository, open_session
from webapp.extensions import db
from webapp.frames import ArtifactFrame
from webapp.store import Store


@pytest.fixture
def engine(app: Any) -> Any:
    with app.app_context():
        yield db.engine


@pytest.fixture
def hierarchy(store: Store) -> ArtifactHierarchy:
    return store.policy.hierarchy


def with_policy(store: Store, **changes: Any) -> Store:
    """The same session under another policy (a shallower hierarchy, a lower depth limit)."""
    return Store(store.session, replace(store.policy, **changes))


def ids(manager: ArtifactManager) -> set[str]:
    manager.session.rollback()  # a fresh snapshot: other connections wrote meanwhile
    return {str(a.id) for a in manager.find_all()}


# Statistics ---------------------------------------------------------------------------


def test_stats_count_levels_trees_and_the_largest(store, engine, hierarchy, make_artifact):
    experiment = make_artifact(name="e")
    for n in range(2):
        make_artifact(make_artifact(experiment, name=f"model {n}"), name="predictions")
    big = make_artifact(blob="x" * 5000)

    stats = ops.collect_stats(store, top=3)

    assert (stats.hierarchy, stats.total, stats.trees) == ("ml_pipeline", 6, 2)
    assert stats.by_level == [(0, "experiment", 2), (1, "model", 2), (2, "predictions", 2)]
    assert [(h.name, h.trees, h.total) for h in stats.by_hierarchy] == [
        ("ml_pipeline", 2, 6), ("document_versions", 0, 0), ("datasets", 0, 0)]
    assert stats.largest_trees == [(str(experiment.id), 5, 2), (str(big.id), 1, 0)]
    assert stats.largest_artifacts[0][:2] == (str(big.id), 0) and stats.largest_artifacts[0][2] > 5000
    assert len(stats.largest_artifacts) == 3
    assert stats.tables["artifacts"] == 6
    assert stats.database_bytes and stats.database_bytes > 0
    assert "password" not in stats.database


def test_stats_of_an_empty_store(store, engine, hierarchy):
    stats = ops.collect_stats(store)
    assert (stats.total, stats.trees, stats.by_level, stats.largest_trees, stats.largest_artifacts) == (0, 0, [], [], [])


# Backups ------------------------------------------------------------------------------


def wait_until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def backed_up_rows(path: Any, dialect: str) -> dict[str, str | None]:
    """{id: parent_id} of the artifacts in a backup file, read without restoring it."""
    if dialect == "sqlite":
        with sqlite3.connect(path) as copy:
            assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
            assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            return dict(copy.execute("SELECT id, parent_id FROM artifacts").fetchall())
    script = subprocess.run(
        ["pg_restore", "--data-only", "--table=artifacts", "--file=-", str(path)], capture_output=True, text=True, check=True
    ).stdout
    rows = script.split("FROM stdin;\n", 1)[1].split("\n\\.\n", 1)[0].splitlines()
    return {fields[0]: (None if fields[1] == "\\N" else fields[1]) for fields in (row.split("\t") for row in rows)}


def test_backup_taken_while_a_writer_runs_is_consistent(engine, database_url, tmp_path):
    writer = ArtifactManager(ArtifactRepository(open_session(database_url, create=False)))
    stop, written = threading.Event(), []

    def write() -> None:
        parent = None
        while not stop.is_set():
            parent = writer.create(ArtifactIn(parent_id=parent.id if parent and len(written) % 5 else None, data={"n": 1}))
            written.append(str(parent.id))

    thread = threading.Thread(target=write)
    thread.start()
    try:
        wait_until(lambda: len(written) >= 50)
        result = ops.backup(engine, tmp_path / "copy.backup")
        at_backup = len(written)
        wait_until(lambda: len(written) >= at_backup + 50)  # the writer went on during and after the copy
    finally:
        stop.set()
        thread.join(30)
        writer.session.close()

    assert result.bytes == (tmp_path / "copy.backup").stat().st_size > 0
    assert not list(tmp_path.glob(".copy.backup.*"))  # no draft left behind
    rows = backed_up_rows(result.path, engine.dialect.name)
    assert 50 <= len(rows) <= at_backup + 1 and set(rows) <= set(written)
    assert {parent for parent in rows.values() if parent is not None} <= set(rows)  # a snapshot: no dangling parent
    if engine.dialect.name == "sqlite":
        assert (result.method, result.artifacts) == ("the SQLite online backup API", len(rows))
        assert stored_tree(f"sqlite:///{result.path}") == set(rows)
    else:
        assert result.method == "pg_dump (custom format)"


def test_backup_never_overwrites(engine, tmp_path):
    existing = tmp_path / "backup.db"
    existing.write_text("precious")
    with pytest.raises(ops.OpsError, match="already exists"):
        ops.backup(engine, existing)
    assert existing.read_text() == "precious"
    with pytest.raises(ops.OpsError, match="does not exist"):
        ops.backup(engine, tmp_path / "missing-directory" / "backup.db")


def test_postgres_backup_without_pg_dump_says_how(store, tmp_path, monkeypatch):
    engine = create_engine("postgresql+psycopg://ops:s3cret@db.example:5432/store")  # never connects
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump to be found
    with pytest.raises(ops.OpsError) as refused:
        ops.backup(engine, tmp_path / "store.dump")
    message = str(refused.value)
    assert "pg_dump --format=custom" in message and "pg_restore" in message
    assert "postgresql://ops@db.example:5432/store" in message and "s3cret" not in message
    command, environment = ops.pg_dump_command(engine, tmp_path / "store.dump")
    assert environment["PGPASSWORD"] == "s3cret" and "s3cret" not in " ".join(command)


# Export and import --------------------------------------------------------------------


@pytest.fixture
def lineage(make_artifact):
    """experiment → model → (predictions a, predictions b), and an unrelated root."""
    experiment = make_artifact(name="experiment")
    model = make_artifact(experiment, name="model", metrics={"rmse": 0.25})
    first = make_artifact(model, name="predictions a")
    second = make_artifact(model, name="predictions b", rows=[1, 2, 3])
    other = make_artifact(name="other")
    return experiment, model, first, second, other


def test_export_lists_the_subtree_parents_first(store, engine, lineage):
    experiment, model, first, second, _ = lineage
    document = ops.export_subtree(store, str(model.id).lower())

    assert (document["format"], document["version"], document["root_id"], document["count"]) == (
        "artifact-store-export", 1, str(model.id), 3,
    )
    exported = document["artifacts"]
    assert [a["id"] for a in exported] == [str(model.id), str(first.id), str(second.id)]
    assert exported[0]["parent_id"] == str(experiment.id)
    assert exported[2]["data"] == {"name": "predictions b", "rows": [1, 2, 3]}
    assert exported[0]["created_at"].startswith(model.created_at.strftime("%Y-%m-%dT%H:%M:%S"))
    json.dumps(document, allow_nan=False)  # plain JSON


def test_export_of_an_unknown_or_malformed_id_is_refused(store, engine):
    with pytest.raises(ops.OpsError, match="not found"):
        ops.export_subtree(store, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with pytest.raises(ops.OpsError, match="not a valid ULID"):
        ops.export_subtree(store, "nope")


def test_export_then_import_restores_ids_links_levels_data_and_times(store, engine, hierarchy, manager, lineage, tmp_path):
    experiment, model, first, second, _ = lineage
    before = {a.id: a for a in manager.find_all()}
    path = tmp_path / "model.json"
    ops.write_json(ops.export_subtree(store, model.id), path)
    assert manager.delete_subtree(model.id) == 3

    result = ops.import_subtree(store, ops.read_export(path))

    assert (result.root_id, result.parent_id, result.count) == (str(model.id), str(experiment.id), 3)
    manager.session.rollback()
    assert {a.id: a for a in manager.find_all()} == before  # ids, parents, levels, data, timestamps


def test_import_refuses_conflicts_and_changes_nothing(store, engine, hierarchy, manager, lineage):
    _, model, first, _, _ = lineage
    document = ops.export_subtree(store, model.id)
    manager.delete(first.id)  # two of three ids still exist
    before = ids(manager)
    with pytest.raises(ops.OpsError, match=r"2 of the 3 artifacts already exist here .*nothing was imported"):
        ops.import_subtree(store, document)
    assert ids(manager) == before


def test_import_as_a_root_or_under_another_parent_recomputes_levels(store, engine, hierarchy, manager, lineage):
    _, model, first, _, other = lineage
    document = ops.export_subtree(store, model.id)
    manager.delete_subtree(model.id)

    ops.import_subtree(store, document, parent=None)
    manager.session.rollback()
    assert (manager.get(model.id).parent_id, manager.get(model.id).level, manager.get(first.id).level) == (None, 0, 1)

    manager.delete_subtree(model.id)
    ops.import_subtree(store, document, parent=str(other.id))
    manager.session.rollback()
    assert (manager.get(model.id).parent_id, manager.get(first.id).level) == (other.id, 2)


def test_import_refuses_a_missing_parent(store, engine, hierarchy, manager, lineage):
    experiment, model, *_ = lineage
    document = ops.export_subtree(store, model.id)
    manager.delete_subtree(experiment.id)
    before = ids(manager)
    with pytest.raises(ops.OpsError, match=r"parent .* is not in this database.*--as-root"):
        ops.import_subtree(store, document)
    assert ids(manager) == before


def test_import_obeys_the_hierarchy_depth_and_rolls_back_everything(app_config, lineage, store, manager):
    experiment, model, *_ = lineage
    document = ops.export_subtree(store, experiment.id)
    manager.delete_subtree(experiment.id)
    before = ids(manager)
    shallow = ArtifactHierarchy(name="ml_pipeline", max_depth=2)  # levels 0 and 1 only
    with pytest.raises(ops.OpsError, match="Nothing was imported: Hierarchy 'ml_pipeline' allows levels 0 to 1"):
        ops.import_subtree(with_policy(store, hierarchies=store.policy.hierarchies.with_hierarchy(shallow)), document)  # the experiment and model fit; predictions do not
    assert ids(manager) == before


def broken(document: dict[str, Any], change: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(document))
    change(copy)
    return copy


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["artifacts"][1]["data"].update(bad="a\x00b"), r"Artifact #1 .* data: .*NUL"),
        (lambda d: d["artifacts"][1].update(data={"deep": [[[[[1]]]]]}), r"Artifact #1 .*nested deeper than 4"),
        (lambda d: d["artifacts"][1].update(data=["not", "an", "object"]), r"Artifact #1 .* data"),
        (lambda d: d["artifacts"][1].update(id="not-a-ulid"), r"Artifact #1 .* id"),
        (lambda d: d["artifacts"][2].update(id=d["artifacts"][1]["id"]), "same artifact id twice"),
        (lambda d: d["artifacts"][2].update(parent_id="01ARZ3NDEKTSV4RRFFQ69G5FAV"), "one subtree .* found 2"),
        (lambda d: d["artifacts"][2].update(created_at=12), r"Artifact #2 .* ISO-8601"),
        (lambda d: d["artifacts"][0].pop("id"), "Artifact #0 has no id"),
        (lambda d: d["extras"].update(unknown={}), "cannot import: unknown"),
        (lambda d: d["extras"].update(frames={"x": "not a row"}), None),  # ignored: no such artifact in the file
    ],
)
def test_import_validates_every_artifact_like_the_api(store, engine, hierarchy, manager, lineage, change, message):
    _, model, *_ = lineage
    document = broken(ops.export_subtree(store, model.id), change)
    manager.delete_subtree(model.id)
    before = ids(manager)
    if message is None:
        assert ops.import_subtree(with_policy(store, max_json_depth=4), document).count == 3
        return
    with pytest.raises(ops.OpsError, match=message):
        ops.import_subtree(with_policy(store, max_json_depth=4), document)
    assert ids(manager) == before


def test_a_cycle_in_the_file_is_refused(store, engine, hierarchy, lineage):
    _, model, *_ = lineage
    document = ops.export_subtree(store, model.id)
    document["artifacts"][0]["parent_id"] = document["artifacts"][1]["id"]  # model under its own child
    with pytest.raises(ops.OpsError, match="one subtree .* found 0"):
        ops.import_subtree(store, document)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not valid JSON"),
        ('{"format": "something else"}', "is not an Artifact Store export"),
        ('{"format": "artifact-store-export", "version": 99, "artifacts": []}', "export version 99"),
        ('{"format": "artifact-store-export", "version": 1, "artifacts": []}', "holds no artifacts"),
        ('{"format": "artifact-store-export", "version": 1, "artifacts": [{"data": NaN}]}', "is not valid JSON"),
    ],
)
def test_read_export_refuses_files_that_are_not_exports(tmp_path, content, message):
    path = tmp_path / "file.json"
    path.write_text(content)
    with pytest.raises(ops.OpsError, match=message):
        ops.read_export(path)


def test_write_json_never_overwrites(tmp_path):
    path = tmp_path / "out.json"
    assert ops.write_json({"a": 1}, path) == path.stat().st_size
    with pytest.raises(ops.OpsError, match="already exists"):
        ops.write_json({"a": 2}, path)
    assert json.loads(path.read_text()) == {"a": 1}


def test_stored_tables_travel_with_their_artifacts(store, engine, hierarchy, manager, lineage):
    experiment, *_ = lineage
    frames = store.frames
    table = frames.create_from_csv(io.BytesIO(b"city,rain\nOslo,1.5\nBergen,7.25\n"), "rain.csv", experiment.id)
    original = frames.load_dataframe(table.id)
    document = ops.export_subtree(store, experiment.id)
    assert list(document["extras"]["frames"]) == [str(table.id)]
    manager.delete_subtree(experiment.id)  # the stored table goes with it (ON DELETE CASCADE)

    result = ops.import_subtree(store, json.loads(json.dumps(document)))

    assert result.extras["frames"] == 1 and result.extras["files"] == 1  # the table, and the CSV it came from
    assert set(result.extras) == {"frames", "files", "history"}
    manager.session.rollback()
    assert store.frames.load_dataframe(table.id).equals(original)


# Retention ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2)), (" 30m ", timedelta(minutes=30))],
)
def test_parse_age(text, expected):
    assert ops.parse_age(text) == expected


@pytest.mark.parametrize("text", ["", "90", "d", "0d", "-1d", "1y", "1.5d", "90 days"])
def test_parse_age_refuses_anything_else(text):
    with pytest.raises(ValueError, match="is not an age like 90d"):
        ops.parse_age(text)


@pytest.fixture
def aged(make_artifact, manager):
    """old root → (old model → NEW predictions, old model → old predictions), old root → old child, new root."""
    trees: dict[str, Any] = {}
    trees["kept_root"] = make_artifact(name="kept root")
    trees["kept_model"] = make_artifact(trees["kept_root"], name="kept model")
    trees["new_predictions"] = make_artifact(trees["kept_model"], name="new predictions")
    trees["old_model"] = make_artifact(trees["kept_root"], name="old model")
    trees["old_predictions"] = make_artifact(trees["old_model"], name="old predictions")
    trees["old_root"] = make_artifact(name="old root")
    trees["old_child"] = make_artifact(trees["old_root"], name="old child")
    trees["new_root"] = make_artifact(name="new root")
    for name, artifact in trees.items():
        if not name.startswith("new"):
            backdate(manager, artifact.id, 100)
    return trees


def test_prune_removes_whole_old_subtrees_and_keeps_the_ancestors_of_new_ones(store, engine, hierarchy, manager, aged, database_url):
    result = ops.prune(store, timedelta(days=90))

    assert {(s.root_id, s.artifacts) for s in result.subtrees} == {
        (str(aged["old_model"].id), 2),  # with its old predictions; its new sibling's model stays
        (str(aged["old_root"].id), 2),
    }
    assert result.artifacts == 4 and not result.dry_run
    assert ids(manager) == {str(aged[name].id) for name in ("kept_root", "kept_model", "new_predictions", "new_root")}
    stored_tree(database_url)  # nothing orphaned, levels intact


def test_prune_by_level_only_takes_subtrees_rooted_there(store, engine, hierarchy, manager, aged):
    result = ops.prune(store, timedelta(days=90), level=1)
    assert {s.root_id for s in result.subtrees} == {str(aged["old_model"].id), str(aged["old_child"].id)}
    assert {(s.level, s.label) for s in result.subtrees} == {(1, "model")}
    assert str(aged["old_root"].id) in ids(manager)  # its old child went, the root stays


def test_prune_dry_run_reports_the_same_and_deletes_nothing(store, engine, hierarchy, manager, aged):
    before = ids(manager)
    dry = ops.prune(store, timedelta(days=90), dry_run=True)
    assert dry.dry_run and dry.artifacts == 4
    assert ids(manager) == before
    real = ops.prune(store, timedelta(days=90))
    assert [(s.root_id, s.artifacts) for s in real.subtrees] == [(s.root_id, s.artifacts) for s in dry.subtrees]


def test_prune_with_nothing_old_enough_deletes_nothing(store, engine, hierarchy, manager, aged):
    before = ids(manager)
    assert ops.prune(store, timedelta(days=365)).subtrees == []
    assert ids(manager) == before


def test_prune_takes_stored_tables_along(store, engine, hierarchy, manager, make_artifact):
    root = make_artifact(name="old")
    table = store.frames.create_from_csv(io.BytesIO(b"a,b\n1,2\n"), "t.csv", root.id)
    ops.prune(store, timedelta(days=1), now=datetime.now(UTC) + timedelta(days=2))
    manager.session.rollback()
    assert manager.session.scalars(select(ArtifactFrame).where(ArtifactFrame.artifact_id == str(table.id))).all() == []
    assert manager.count() == 0
