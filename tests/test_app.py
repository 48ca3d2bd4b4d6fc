"""The factory, configuration, migrations and the core CLI commands."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from webapp import create_app
from webapp.artifacts import ArtifactIn, Base
from webapp.config import from_environment
from webapp.database import MIGRATIONS, schema_revision, upgrade_schema
from webapp.extensions import db
from webapp.store import get_store


def test_config_overrides_reach_the_app(app_config):
    app = create_app({**app_config, "ARTIFACT_HIERARCHY": "documents"})
    assert app.config["TESTING"] is True
    assert app.extensions["store_policy"].hierarchy.name == "documents"


def test_hierarchy_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("ARTIFACT_HIERARCHY", "datasets")
    monkeypatch.setenv("ARTIFACT_LEVEL_LABELS", "dataset, version, partition")
    monkeypatch.setenv("ARTIFACT_MAX_DEPTH", "3")
    config = from_environment()
    assert config["ARTIFACT_HIERARCHY"] == "datasets"
    assert config["ARTIFACT_LEVEL_LABELS"] == {0: "dataset", 1: "version", 2: "partition"}
    assert config["ARTIFACT_MAX_DEPTH"] == 3
    monkeypatch.setenv("ARTIFACT_LEVEL_LABELS", '{"0": "project", "2": "version"}')
    assert from_environment()["ARTIFACT_LEVEL_LABELS"] == {0: "project", 2: "version"}


def test_database_url_defaults_to_instance_sqlite_and_accepts_postgres_urls(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert from_environment()["SQLALCHEMY_DATABASE_URI"] == "sqlite:///artifacts.db"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert from_environment()["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_default_sqlite_file_lands_in_instance(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app({"TESTING": True, "SECRET_KEY": "x"})
    with app.app_context():
        assert db.engine.url.database.endswith("instance/artifacts.db")
        db.engine.dispose()


def test_secret_key_is_generated_once_and_production_requires_one(app_config, monkeypatch):
    config = {**app_config, "SECRET_KEY": ""}
    first = create_app(config).config["SECRET_KEY"]
    assert len(first) >= 32 and first == create_app(config).config["SECRET_KEY"]
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({**config, "ENV_NAME": "production"})


def _migration_context(connection):
    """Alembic's view of the schema, without the full-text index (SQLite's FTS5 tables,
    PostgreSQL's trigram index) and the indexes of `index-field`: the database's, not the models'."""

    def include_name(name, kind, _):
        return not (name or "").startswith(("artifacts_fts", "ix_artifacts_data_"))

    return MigrationContext.configure(connection, opts={"include_name": include_name})


def test_migrations_build_the_same_schema_as_the_models(app_config):
    app = create_app({**app_config, "AUTO_MIGRATE": True})  # upgrades an empty database
    upgrade_schema(app)  # idempotent: a second start-up is a no-op
    with app.app_context():
        with db.engine.connect() as connection:
            diff = compare_metadata(_migration_context(connection), Base.metadata)
        assert diff == []
        indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("artifacts")}
        assert {"ix_artifacts_parent_id_id", "ix_artifacts_level_id", "ix_artifacts_created_at"} <= indexes
        assert schema_revision() is not None
        db.engine.dispose()


def test_a_database_made_before_the_frames_table_gets_it_at_start_up(app_config):
    """A script's create_all() from before migration 0002 is stamped 0001, then upgraded."""
    from sqlalchemy import create_engine

    engine = create_engine(app_config["SQLALCHEMY_DATABASE_URI"])
    Base.metadata.tables["artifacts"].create(engine)
    engine.dispose()
    app = create_app({**app_config, "AUTO_MIGRATE": True})
    with app.app_context():
        assert {"artifacts", "artifact_frames"} <= set(inspect(db.engine).get_table_names())
        assert schema_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()
        db.engine.dispose()


def test_migration_0003_fills_the_counts_of_a_database_at_0002(app_config):
    """Artifacts written before the counts existed get their child counts and level totals."""
    from flask_migrate import upgrade

    app = create_app(app_config)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0002")
        rows = [("01K00000000000000000000000", None, 0), ("01K00000000000000000000001", None, 0)]
        rows += [(f"01K0000000000000000000001{i}", "01K00000000000000000000000", 1) for i in range(3)]
        rows += [("01K00000000000000000000020", "01K00000000000000000000010", 2)]
        for artifact_id, parent_id, level in rows:
            db.session.execute(
                text("INSERT INTO artifacts (id, parent_id, level, data, created_at, updated_at) "
                     "VALUES (:id, :parent_id, :level, '{}', '2025-01-01 00:00:00', '2025-01-01 00:00:00')"),
                {"id": artifact_id, "parent_id": parent_id, "level": level},
            )
        db.session.commit()
        upgrade(directory=str(MIGRATIONS))
        assert schema_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()  # the latest
        manager = get_store().artifacts
        assert manager.count() == 6
        assert manager.list_page(roots_only=True).total == 2
        assert manager.list_page(level=1).total == 3
        assert manager.child_counts(["01K00000000000000000000000", "01K00000000000000000000010"]) == {
            "01K00000000000000000000000": 3, "01K00000000000000000000010": 1,
        }
        # 0005: every tree joined the default hierarchy, each artifact knows its root.
        places = {row.id: (row.hierarchy, row.root_id) for row in db.session.execute(
            text("SELECT id, hierarchy, root_id FROM artifacts"))}
        assert places["01K00000000000000000000020"] == ("ml_pipeline", "01K00000000000000000000000")
        assert places["01K00000000000000000000001"] == ("ml_pipeline", "01K00000000000000000000001")
        assert {hierarchy for hierarchy, _ in places.values()} == {"ml_pipeline"}
        assert manager.get("01K00000000000000000000020").level_label == "predictions"
        assert manager.count("ml_pipeline") == 6
        # ... and from now on the triggers keep them.
        manager.create(ArtifactIn(parent_id="01K00000000000000000000001", data={}))
        assert manager.count() == 7 and manager.list_page(level=1).total == 4
        assert manager.child_counts(["01K00000000000000000000001"]) == {"01K00000000000000000000001": 1}
        db.session.remove()
        db.engine.dispose()


def test_migration_0012_tells_each_revision_its_tree_deleted_ancestors_included(app_config):
    """Revisions made before 0012 learn their root: their own (a root), their parent's tree
    as it is now, or as a deleted parent's own revisions say, up the chain."""
    from flask_migrate import upgrade

    root, child, grandchild, orphan = (f"01K0000000000000000000000{i}" for i in range(4))
    app = create_app(app_config)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0011")
        db.session.execute(text(
            "INSERT INTO artifacts (id, parent_id, level, data, created_at, updated_at, hierarchy, root_id, revision) "
            "VALUES (:id, NULL, 0, '{}', '2025-01-01 00:00:00', '2025-01-01 00:00:00', 'ml_pipeline', :id, 1)"
        ), {"id": root})
        revisions = [(root, 1, "created", None, 0), (child, 1, "created", root, 1), (grandchild, 1, "created", child, 2),
                     (grandchild, 2, "deleted", child, 2), (child, 2, "deleted", root, 1),
                     (orphan, 1, "deleted", "01K0000000000000000000009Z", 1)]
        for artifact_id, number, action, parent_id, level in revisions:
            db.session.execute(text(
                "INSERT INTO artifact_revisions (artifact_id, revision, action, data, parent_id, level, hierarchy, at, created_at) "
                "VALUES (:id, :n, :action, '{}', :parent, :level, 'ml_pipeline', '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
            ), {"id": artifact_id, "n": number, "action": action, "parent": parent_id, "level": level})
        db.session.commit()
        upgrade(directory=str(MIGRATIONS))
        found = dict(db.session.execute(text("SELECT artifact_id || '#' || revision, root_id FROM artifact_revisions")).all())
        assert found == {f"{root}#1": root, f"{child}#1": root, f"{child}#2": root,
                         f"{grandchild}#1": root, f"{grandchild}#2": root, f"{orphan}#1": None}
        db.session.remove()
        db.engine.dispose()


def test_migration_0004_records_the_provenance_that_still_matches_the_stored_file(app_config):
    """Rows stored before artifact_frames.source take it from their artifact's data, but
    only when its SHA-256 is the stored file's: edited data describes nothing."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from webapp.database import MIGRATIONS

    app = create_app(app_config)
    source = {"file_name": "sales.csv", "size_bytes": 10, "sha256": "a" * 64, "encoding": "utf-8",
              "delimiter": ",", "header": True}  # fmt: skip
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0002")
        for artifact_id, sha256 in (("01ARZ3NDEKTSV4RRFFQ69G5FAV", "a" * 64), ("01ARZ3NDEKTSV4RRFFQ69G5FAW", "b" * 64)):
            db.session.execute(
                text("INSERT INTO artifacts (id, level, data, created_at, updated_at) VALUES (:id, 0, :data, :t, :t)"),
                {"id": artifact_id, "data": json.dumps({"name": "sales.csv", "source": source}), "t": "2025-01-01 00:00:00"},
            )
            db.session.execute(
                text("INSERT INTO artifact_frames (artifact_id, format, source_sha256, row_count, column_count, dtypes, "
                     "size_bytes, content, created_at) VALUES (:id, 'parquet', :sha, 1, 1, '{}', 1, :content, :t)"),
                {"id": artifact_id, "sha": sha256, "content": b"PAR1", "t": "2025-01-01 00:00:00"},
            )  # fmt: skip
        db.session.commit()
        upgrade(directory=str(MIGRATIONS))
        recorded = dict(db.session.execute(text("SELECT artifact_id, source FROM artifact_frames ORDER BY artifact_id")).all())
        db.session.remove()
        db.engine.dispose()
    as_json = {key: json.loads(value) if isinstance(value, str) else value for key, value in recorded.items()}
    assert as_json == {"01ARZ3NDEKTSV4RRFFQ69G5FAV": source, "01ARZ3NDEKTSV4RRFFQ69G5FAW": None}


def test_a_database_made_by_create_all_is_upgraded_without_adding_a_column_twice(app):
    upgrade_schema(app)  # conftest's create_all() made artifact_counts: stamped 0005, nothing runs twice
    with app.app_context():
        assert schema_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head() == "0012"
        db.engine.dispose()


def test_foreign_keys_are_enforced_on_sqlite(app):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        with pytest.raises(IntegrityError):
            db.session.execute(
                text("INSERT INTO artifacts (id, parent_id, level, data, created_at, updated_at) "
                     "VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAV', '01ARZ3NDEKTSV4RRFFQ69G5FAW', 1, '{}', "
                     "'2025-01-01', '2025-01-01')")
            )
            db.session.flush()
        db.session.rollback()


def test_seed_demo_adds_the_spec_examples(app, runner, manager):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "Seeded 11 artifacts" in result.output
    roots, total = manager.find_paginated(1, 50, roots_only=True)
    assert total == 3
    names = {r.hierarchy: r.data.get("experiment_name") or r.data.get("name") for r in roots}
    assert names == {"ml_pipeline": "weather_forecast", "document_versions": "API Documentation", "datasets": "customer_data"}
    documents = next(r for r in roots if r.data.get("name") == "API Documentation")
    tree = manager.build_tree(documents.id)
    assert [v.data["version"] for v in tree.children[0].children] == ["1.0", "1.1"]
    assert [tree.level_label, tree.children[0].level_label, tree.children[0].children[0].level_label] == [
        "project", "document", "version"]
    dataset = next(r for r in roots if r.hierarchy == "datasets")
    partitions = manager.build_tree(dataset.id).children[0].children
    assert {(p.data["partition"], p.level_label, p.hierarchy) for p in partitions} == {
        ("train", "partition", "datasets"), ("test", "partition", "datasets")}


def test_init_db_reports_the_database(runner):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0 and "Database ready" in result.output


def test_migration_0003_downgrades_and_upgrades_again(app_config):
    from flask_migrate import downgrade, upgrade

    app = create_app({**app_config, "AUTO_MIGRATE": True})
    with app.app_context():
        get_store().artifacts.create(ArtifactIn(data={"name": "kept"}))
        downgrade(directory=str(MIGRATIONS), revision="0002")
        assert "artifact_level_counts" not in inspect(db.engine).get_table_names()
        assert "child_count" not in {c["name"] for c in inspect(db.engine).get_columns("artifacts")}
        db.session.execute(text("INSERT INTO artifacts (id, parent_id, level, data, created_at, updated_at) "
                                "SELECT '01K00000000000000000000009', id, 1, '{}', created_at, updated_at FROM artifacts"))
        db.session.commit()
        upgrade(directory=str(MIGRATIONS))
        with db.engine.connect() as connection:
            assert compare_metadata(_migration_context(connection), Base.metadata) == []
        manager = get_store().artifacts
        assert manager.count() == 2 and manager.list_page(roots_only=True).total == 1
        root = manager.list_page(roots_only=True).items[0]
        assert manager.child_counts([root.id]) == {str(root.id): 1}
        db.session.remove()
        db.engine.dispose()
