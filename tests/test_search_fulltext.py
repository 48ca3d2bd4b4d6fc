"""The full-text index behind the text filter: kept by every write, used by the planner."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from webapp.artifacts import Artifact, ArtifactIn, ArtifactUpdate
from webapp.artifacts.repository import _filtered, _listing
from webapp.store import Store


def found(store: Store, text: str) -> set[str]:
    return {a.data.get("name") for a in store.artifacts.list_page(1, 100, text=text).items}


def test_text_filter_finds_every_level_and_follows_writes(store: Store) -> None:
    manager = store.artifacts
    root = manager.create(ArtifactIn(data={"name": "root", "note": "plain"}))
    model = manager.create(ArtifactIn(parent_id=root.id, data={"name": "model", "framework": "XGBoost"}))
    leaf = manager.create(ArtifactIn(parent_id=model.id, data={"name": "leaf", "quote": 'say "hi" 100%_done é'}))
    assert found(store, "xgboost") == {"model"}
    assert found(store, "boo") == {"model"}
    assert found(store, "xg") == {"model"}  # under three characters: no trigram, a scan
    assert found(store, '"name": "leaf"') == {"leaf"} and found(store, "100%_") == {"leaf"} and found(store, "é") == {"leaf"}
    assert store.artifacts.list_page(1, 10, text="xgboost").total == 1

    manager.update(model.id, ArtifactUpdate(data={"name": "model", "framework": "lightgbm"}))
    assert found(store, "xgboost") == set() and found(store, "lightgbm") == {"model"}
    manager.delete(leaf.id)
    assert found(store, "say") == set()
    manager.create(ArtifactIn(parent_id=model.id, data={"name": "again", "quote": "say it"}))
    assert found(store, "say") == {"again"}


def test_the_planner_uses_the_full_text_index(store: Store) -> None:
    for n in range(200):
        store.artifacts.create(ArtifactIn(data={"name": f"artifact {n}", "framework": "xgboost" if n == 7 else "sklearn"}))
    shape, params = _listing(text="xgboost")
    statement = _filtered(select(Artifact.id), shape, params)
    connection = store.session.connection()
    sql = str(statement.compile(connection, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = " ".join(str(row[0]) for row in connection.exec_driver_sql("EXPLAIN " + sql))
        assert "ix_artifacts_data_trgm" in plan, plan
    else:
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        assert "SEARCH artifacts USING INTEGER PRIMARY KEY (rowid=?)" in plan and "artifacts_fts VIRTUAL TABLE INDEX" in plan, plan
    store.session.rollback()
    assert found(store, "xgboost") == {"artifact 7"}


def test_migration_builds_the_index_for_rows_already_there(app: Any, store: Store) -> None:
    from webapp.artifacts.fulltext import create_fulltext, drop_fulltext

    store.artifacts.create(ArtifactIn(data={"name": "old", "framework": "catboost"}))
    with store.writing():
        drop_fulltext(store.session.connection())
    store.artifacts.create(ArtifactIn(data={"name": "new", "framework": "catboost"}))
    with store.writing():
        create_fulltext(store.session.connection())  # what migration 0009 runs
    assert found(store, "catboost") == {"old", "new"}
