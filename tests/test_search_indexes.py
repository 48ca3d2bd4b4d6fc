"""`flask --app webapp index-field`: an expression index that compiled filters really use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from webapp.artifacts import Artifact, ArtifactIn
from webapp.extensions import db
from webapp.search import Query
from webapp.search.indexes import index_name
from webapp.store import Store


def plan(store: Store, filter_text: str) -> str:
    """The database's plan for the ids a filter selects."""
    statement = select(Artifact.id).where(*store.search.where(filter_text))
    connection = store.session.connection()
    sql = str(statement.compile(connection, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a small table: make the choice visible
        rows = connection.exec_driver_sql("EXPLAIN " + sql).all()
    else:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
    store.session.rollback()
    return "\n".join(str(row[-1]) for row in rows)


def test_index_field_creates_an_index_the_filters_use_and_drops_it(app: Any, runner: Any, store: Store) -> None:
    for n in range(300):
        store.artifacts.create(ArtifactIn(data={"metrics": {"rmse": n / 300}, "name": f"m{n}"}))
    name = index_name(("metrics", "rmse"))
    assert name not in plan(store, "data.metrics.rmse < 0.01")

    result = runner.invoke(args=["index-field", "data.metrics.rmse"])
    assert result.exit_code == 0, result.output
    assert f"Created index {name}" in result.output
    for text in ("data.metrics.rmse < 0.01", "data.metrics.rmse = 0.5", "data.metrics.rmse >= 0.99 and data.name contains 'm'", "data.metrics.rmse in (0.5, 0.6)"):
        assert name in plan(store, text), text
    assert runner.invoke(args=["index-field", "data.metrics.rmse"]).exit_code == 0  # idempotent
    page = store.search.list_page(1, 50, query=Query("data.metrics.rmse < 0.01"))
    assert [item.data["name"] for item in page.items] == ["m0", "m1", "m2"]

    result = runner.invoke(args=["index-field", "data.metrics.rmse", "--drop"])
    assert result.exit_code == 0 and f"Dropped index {name}" in result.output
    assert name not in plan(store, "data.metrics.rmse < 0.02")


def test_index_field_refuses_what_is_not_a_data_path(runner: Any) -> None:
    result = runner.invoke(args=["index-field", "level"])
    assert result.exit_code == 2 and "data.<path>" in result.output
    result = runner.invoke(args=["index-field", "data.x; DROP TABLE artifacts"])
    assert result.exit_code == 2 and "position 6" in result.output


def test_odd_keys_make_valid_index_names(app: Any, runner: Any) -> None:
    result = runner.invoke(args=["index-field", "data.\"it's a key\".x"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.connection().dialect.name in ("sqlite", "postgresql")
