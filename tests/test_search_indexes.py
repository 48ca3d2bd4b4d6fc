"""`flask --app webapp index-field`: an expression index that compiled filters really use."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event, select

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


# Sorts by an indexed path -------------------------------------------------------------------


class Statements:
    """The SQL statements (and parameters) the store sends while it is listening."""

    def __init__(self, store: Store) -> None:
        self.engine = store.session.get_bind()
        self.seen: list[tuple[str, Any]] = []

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        self.seen.append((statement, parameters))


def sorted_ids(store: Store, descending: bool, size: int, pages: int) -> list[list[str]]:
    query = Query(sort="data.metrics.rmse", descending=descending)
    return [[str(item.id) for item in store.search.list_page(page, size, query=query).items] for page in range(1, pages + 1)]


def page_plan(store: Store, statement: str, parameters: Any) -> str:
    """The plan of one statement the service sent, with its own parameters."""
    connection = store.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a small table: make the choice visible
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    else:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    store.session.rollback()
    return "\n".join(str(row[-1]) for row in rows)


def seed_rmse(store: Store, odd_values: list[Any]) -> None:
    """300 models with numbers (ints and floats, ties among them), 20 without the field, and
    one model for each of `odd_values` (strings, booleans, null, arrays, objects), each too big
    for a listing to carry its data (a stand-in instead): the checks must ask the database."""
    for n in range(300):
        value = n // 3 if n % 2 else (n // 3) + 0.5  # pairs of equal values: ties broken by id
        store.artifacts.create(ArtifactIn(data={"metrics": {"rmse": value}, "name": f"m{n}"}))
    for n in range(20):
        store.artifacts.create(ArtifactIn(data={"name": f"no metrics {n}"}))
    for value in odd_values:
        big = "x" * (store.policy.max_item_data_bytes + 1)
        store.artifacts.create(ArtifactIn(data={"metrics": {"rmse": value}, "name": "odd", "padding": big}))


@pytest.mark.parametrize(
    "odd_values",
    [[], [None] * 10, ["a string", True, False, None, [], [1], {"x": 1}, 0, 1]],
    ids=["numbers", "nulls", "mixed"],  # JSON nulls sit in PostgreSQL's index range, after the numbers descending
)
def test_a_sort_by_an_indexed_path_gives_the_same_pages(runner: Any, store: Store, odd_values: list[Any]) -> None:
    seed_rmse(store, odd_values)
    before = {(descending, size): sorted_ids(store, descending, size, 330 // size + 2)
              for descending in (False, True) for size in (7, 50)}  # fmt: skip
    assert runner.invoke(args=["index-field", "data.metrics.rmse"]).exit_code == 0
    after = {(descending, size): sorted_ids(store, descending, size, 330 // size + 2) for descending, size in before}
    assert after == before


def test_the_first_page_of_a_sort_by_an_indexed_path_reads_the_index(runner: Any, store: Store) -> None:
    seed_rmse(store, [])
    name = index_name(("metrics", "rmse"))
    assert runner.invoke(args=["index-field", "data.metrics.rmse"]).exit_code == 0
    for descending in (False, True):
        with Statements(store) as sent:
            page = store.search.list_page(1, 50, query=Query(sort="data.metrics.rmse", descending=descending))
        assert page.total == 320 and len(page.items) == 50
        pages = [(sql, parameters) for sql, parameters in sent.seen if "ORDER BY" in sql and "LIMIT" in sql]
        plans = [page_plan(store, sql, parameters) for sql, parameters in pages]
        page_read = [plan for plan in plans if name in plan]  # the page, and its checks of the index's ends
        assert page_read, plans
        if store.session.get_bind().dialect.name == "sqlite":
            # The index gives the order; only ties (by id) are sorted, a few rows at a time.
            assert all("USE TEMP B-TREE FOR ORDER BY" not in plan for plan in page_read), page_read
        else:
            # An ordered index scan; ties by id sorted as they come (Incremental Sort), never all rows.
            full_sort = re.compile(r"^\s*(->\s*)?Sort\s+\(", re.M)  # a Sort node (not Incremental Sort)
            assert all(re.search("Index Scan (Backward )?using", plan) and not full_sort.search(plan) for plan in page_read), page_read


def test_a_sort_past_the_numbers_or_without_an_index_sorts_every_row(runner: Any, store: Store) -> None:
    seed_rmse(store, ["a string"])
    name = index_name(("metrics", "rmse"))
    assert runner.invoke(args=["index-field", "data.metrics.rmse"]).exit_code == 0
    last = store.search.list_page(7, 50, query=Query(sort="data.metrics.rmse"))  # rows 301–321: past the numbers
    assert [item.data["name"] for item in last.items][:1] == ["odd"]  # the string after the 300 numbers
    first_desc = store.search.list_page(1, 50, query=Query(sort="data.metrics.rmse", descending=True))
    assert first_desc.items[0].data["name"] == "odd"  # strings before numbers, descending
    assert runner.invoke(args=["index-field", "data.metrics.rmse", "--drop"]).exit_code == 0
    with Statements(store) as sent:
        store.search.list_page(1, 50, query=Query(sort="data.metrics.rmse"))
    assert not any(name in sql for sql, _ in sent.seen)
