"""Costs that do not grow with the store: maintained counts, keyset pages, the indexes they use."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from ulid import ULID

from tests.support.problems import assert_problem
from tests.support.trees import backdate
from tests.support.writers import close, in_slow_transaction, two_managers
from webapp import ops
from webapp.artifacts import Artifact, ArtifactIn, ArtifactManager
from webapp.artifacts.models import ArtifactCount
from webapp.artifacts.schemas import Cursor


def assert_counts_exact(manager: ArtifactManager) -> None:
    """Every maintained count equals what a scan of the rows says."""
    session = manager.session
    session.rollback()  # a fresh snapshot: other connections may have written
    children = dict(
        session.execute(select(Artifact.parent_id, func.count()).where(Artifact.parent_id.is_not(None)).group_by(Artifact.parent_id)).all()
    )
    kept = dict(session.execute(select(Artifact.id, Artifact.child_count)).all())
    assert kept == {artifact_id: children.get(artifact_id, 0) for artifact_id in kept}
    by_place = select(Artifact.hierarchy, Artifact.level, func.count()).group_by(Artifact.hierarchy, Artifact.level)
    places = {(h, level): n for h, level, n in session.execute(by_place)}
    stored = {(h, level): n for h, level, n in session.execute(select(ArtifactCount.hierarchy, ArtifactCount.level, ArtifactCount.artifacts)) if n}
    assert stored == places
    levels: dict[int, int] = {}
    for (_, level), n in places.items():
        levels[level] = levels.get(level, 0) + n
    assert manager.count() == sum(levels.values())
    for hierarchy in {h for h, _ in places}:
        assert manager.count(hierarchy) == sum(n for (h, _), n in places.items() if h == hierarchy)
    assert manager.list_page(roots_only=True).total == levels.get(0, 0)


@pytest.fixture
def forest(make_artifact) -> dict[str, Any]:
    """Two experiments: e1 → (m1 → p1, p2; m2 → p3), e2 → m3."""
    e1, e2 = make_artifact(name="e1"), make_artifact(name="e2")
    m1, m2, m3 = make_artifact(e1, name="m1"), make_artifact(e1, name="m2"), make_artifact(e2, name="m3")
    p1, p2, p3 = make_artifact(m1, name="p1"), make_artifact(m1, name="p2"), make_artifact(m2, name="p3")
    return {"e1": e1, "e2": e2, "m1": m1, "m2": m2, "m3": m3, "p1": p1, "p2": p2, "p3": p3}


# Maintained counts ------------------------------------------------------------------------


def test_counts_follow_creates(manager, forest):
    assert_counts_exact(manager)
    assert manager.child_counts([forest["e1"].id, forest["m1"].id, forest["p1"].id]) == {
        str(forest["e1"].id): 2, str(forest["m1"].id): 2, str(forest["p1"].id): 0,
    }
    assert manager.list_page(level=2).total == 3
    assert manager.list_page(parent_id=forest["m1"].id).total == 2
    assert manager.list_page(parent_id=forest["m1"].id, level=1).total == 0  # its children are at level 2


def test_counts_follow_moves_of_subtrees_to_other_levels_and_parents(manager, forest):
    manager.move(forest["m1"].id, forest["e2"].id)  # same level, other parent
    assert_counts_exact(manager)
    manager.move(forest["m1"].id, None)  # the subtree goes up a level: levels 1, 2 → 0, 1
    assert_counts_exact(manager)
    assert manager.list_page(roots_only=True).total == 3 and manager.list_page(level=2).total == 1
    manager.move(forest["e2"].id, forest["p3"].id)  # a whole tree goes three levels down
    assert_counts_exact(manager)
    assert manager.list_page(level=4).total == 1  # e2's child m3
    manager.save(ArtifactIn(id=forest["p1"].id, parent_id=forest["m2"].id, data={"name": "p1"}))  # move by update
    manager.update(forest["p2"].id, manager_update({"name": "only data"}))  # no move: counts untouched
    assert_counts_exact(manager)


def manager_update(data: dict[str, Any]) -> Any:
    from webapp.artifacts import ArtifactUpdate

    return ArtifactUpdate(data=data)


def test_counts_follow_deletes_subtree_deletes_and_delete_all(manager, forest):
    manager.delete(forest["p3"].id)
    assert_counts_exact(manager)
    assert manager.child_counts([forest["m2"].id]) == {str(forest["m2"].id): 0}
    assert manager.delete_subtree(forest["m1"].id) == 3
    assert_counts_exact(manager)
    assert manager.list_page(parent_id=forest["e1"].id).total == 1
    manager.delete_all()
    assert_counts_exact(manager)
    assert manager.count() == 0


def test_counts_follow_ops_import_and_prune(store, manager, forest):
    document = ops.export_subtree(store, forest["m1"].id)
    manager.delete_subtree(forest["m1"].id)
    ops.import_subtree(store, document, parent=str(forest["e2"].id))
    assert_counts_exact(manager)
    for name in ("e1", "m2", "p3"):
        backdate(manager, forest[name].id, 100)
    result = ops.prune(store, timedelta(days=90))
    assert result.artifacts == 3
    assert_counts_exact(manager)


def test_counts_survive_a_write_that_is_rolled_back(manager, forest):
    with pytest.raises(Exception):
        with manager.session.begin_nested():
            manager.session.execute(text("DELETE FROM artifacts WHERE parent_id IS NOT NULL AND child_count = 0"))
            raise RuntimeError("give up")
    manager.session.rollback()
    assert_counts_exact(manager)


def test_bulk_inserts_in_one_statement_keep_the_counts(manager):
    """A script's executemany (the benchmark's seeding) goes through the triggers too."""
    rows = [{"id": f"01K0000000000000000000{r:02d}00", "parent_id": None, "level": 0, "root_id": f"01K0000000000000000000{r:02d}00"}
            for r in range(3)]
    rows += [{"id": f"01K0000000000000000000{r:02d}{c:02d}", "parent_id": f"01K0000000000000000000{r:02d}00", "level": 1,
              "root_id": f"01K0000000000000000000{r:02d}00"} for r in range(3) for c in range(1, 10)]
    now = "2025-01-01 00:00:00"
    manager.session.execute(
        text("INSERT INTO artifacts (id, parent_id, level, hierarchy, root_id, data, created_at, updated_at) "
             "VALUES (:id, :parent_id, :level, 'ml_pipeline', :root_id, '{}', :now, :now)"),
        [{**row, "now": now} for row in rows],
    )
    manager.session.commit()
    assert_counts_exact(manager)
    assert manager.child_counts(["01K00000000000000000000100"]) == {"01K00000000000000000000100": 9}


def test_concurrent_creates_under_one_parent_do_not_wait_for_each_other_and_both_count(app, database_url):
    """On PostgreSQL the second create commits while the first is still open: the counter
    rows are only touched at commit (models.COUNT_TRIGGERS). Both are counted."""
    first, second = two_managers(database_url)
    parent = first.create(ArtifactIn(data={"name": "parent"}))
    slow_id = ULID()
    thread, created = in_slow_transaction(first, lambda m: m.create(ArtifactIn(id=slow_id, parent_id=parent.id, data={})))
    assert created.wait(10)
    started = time.monotonic()
    second.create(ArtifactIn(parent_id=parent.id, data={}))
    if second.session.get_bind().dialect.name == "postgresql":
        assert time.monotonic() - started < 0.4 and second.find_by_id(slow_id) is None  # did not wait
    thread.join(10)
    assert_counts_exact(second)
    assert second.child_counts([parent.id]) == {str(parent.id): 2}
    close(first, second)


# Offset and keyset pages ------------------------------------------------------------------


@pytest.fixture
def many(manager) -> list[str]:
    """23 roots with 2 children each, created in id order: 69 artifacts."""
    created = []
    for r in range(23):
        root = manager.create(ArtifactIn(data={"root": r}))
        created.append(str(root.id))
        for c in range(2):
            created.append(str(manager.create(ArtifactIn(parent_id=root.id, data={"child": c})).id))
    return sorted(created)


@pytest.mark.parametrize("newest_first", [False, True])
@pytest.mark.parametrize("filters", [{}, {"roots_only": True}, {"level": 1}, {"text": "child"}])
def test_offset_pages_from_either_end_match_a_plain_sort(manager, many, filters, newest_first):
    everything = manager.find_all()
    keep = {
        "roots_only": lambda a: a.parent_id is None,
        "level": lambda a: a.level == filters.get("level"),
        "text": lambda a: "child" in a.data,
    }
    expected = sorted((str(a.id) for a in everything if all(keep[k](a) for k in filters)), reverse=newest_first)
    for size in (1, 4, 7, 50):
        got = []
        for page in range(1, len(expected) // size + 3):
            listing = manager.list_page(page, size, newest_first=newest_first, **filters)
            assert listing.total == len(expected)
            got.extend(str(a.id) for a in listing.items)
        assert got == expected, (size, filters)


@pytest.mark.parametrize("filters", [{}, {"roots_only": True}, {"level": 1}, {"text": "root"}])
def test_a_keyset_walk_returns_every_artifact_once_in_order_and_matches_the_offset_pages(manager, many, filters):
    size, walked, page, cursor = 5, [], 1, None
    while True:
        listing = manager.list_page(1, size, cursor=cursor, **filters)
        assert listing.page == page
        assert listing.items == manager.list_page(page, size, **filters).items
        walked.extend(str(a.id) for a in listing.items)
        if listing.next_cursor is None:
            break
        cursor, page = Cursor.decode(listing.next_cursor), page + 1
    assert walked == sorted(walked) and len(walked) == len(set(walked)) == listing.total
    assert len(walked) == {"roots_only": 23, "level": 46, "text": 23}.get(next(iter(filters), ""), len(many))


def test_the_children_of_one_parent_walk_by_cursor_through_the_api(client, manager, many):
    parent = manager.list_page(roots_only=True).items[0]
    first = client.get(f"/api/v1/artifacts?parent_id={parent.id}&size=1").get_json()
    assert first["total"] == 2 and first["next_cursor"]
    second = client.get(f"/api/v1/artifacts?parent_id={parent.id}&size=1&cursor={first['next_cursor']}").get_json()
    assert second["page"] == 2 and second["next_cursor"] is None
    assert {a["parent_id"] for a in first["items"] + second["items"]} == {str(parent.id)}
    assert first["items"][0]["id"] < second["items"][0]["id"]


def test_the_api_walks_a_listing_by_cursor(client, many):
    seen, url = [], "/api/v1/artifacts?size=10"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        body = response.get_json()
        assert body["total"] == len(many)
        seen.extend(a["id"] for a in body["items"])
        url = f"/api/v1/artifacts?size=10&cursor={body['next_cursor']}" if body["next_cursor"] else None
    assert seen == many
    assert body["page"] == body["pages"] == 7


@pytest.mark.parametrize(
    "cursor",
    ["x", "", "\x00", "2", "2.", ".01K9ZQ4M7E2V6S3T8W5X0Y1Z2A", "1.01K9ZQ4M7E2V6S3T8W5X0Y1Z2A",
     "0.01K9ZQ4M7E2V6S3T8W5X0Y1Z2A", "02.01K9ZQ4M7E2V6S3T8W5X0Y1Z2A", "1000000001.01K9ZQ4M7E2V6S3T8W5X0Y1Z2A",
     "99999999999999999999.01K9ZQ4M7E2V6S3T8W5X0Y1Z2A", "2.81K9ZQ4M7E2V6S3T8W5X0Y1Z2A", "2.01K9ZQ4M7E2V6S3T8W5X0Y1Z2",
     "2.01K9ZQ4M7E2V6S3T8W5X0Y1Z2AA", "2.01K9ZQ4M7E2V6S3T8W5X0Y1Z2A\n", "².01K9ZQ4M7E2V6S3T8W5X0Y1Z2A",
     "2.01K9ZQ4M7E2V6S3T8W5X0Y1ZIL", "A" * 5000],
)
def test_a_bad_cursor_is_a_422_problem(client, cursor):
    response = client.get("/api/v1/artifacts", query_string={"cursor": cursor})
    body = assert_problem(response, 422, "validation")
    assert body["errors"][0]["loc"] == ["query", "cursor"]


def test_a_cursor_for_a_gone_artifact_still_continues_after_it(client, manager, many):
    first = client.get("/api/v1/artifacts?size=3&level=1").get_json()
    last_id = first["items"][-1]["id"]
    manager.delete(last_id)
    rest = client.get(f"/api/v1/artifacts?size=3&level=1&cursor={first['next_cursor']}").get_json()
    assert rest["items"][0]["id"] > last_id and rest["total"] == 45


def test_openapi_documents_the_cursor(client):
    document = client.get("/api/v1/openapi.json").get_json()
    listing = document["paths"]["/api/v1/artifacts"]["get"]
    assert "cursor" in {p["name"] for p in listing["parameters"]}
    assert "next_cursor" in document["components"]["schemas"]["SearchPage"]["properties"]


# The indexes the pages use -----------------------------------------------------------------


def statements_of(manager: ArtifactManager, call: Any) -> list[tuple[str, Any]]:
    """The SELECTs that `call()` sends to the database."""
    seen: list[tuple[str, Any]] = []
    engine = manager.session.get_bind()

    def record(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def plan_of(manager: ArtifactManager, statement: str, parameters: Any) -> str:
    connection = manager.session.connection()
    if connection.dialect.name == "postgresql":
        # Tiny test tables read fastest by a scan and a sort; what matters is whether an
        # index can give the page in order. With these off, a Sort is left in the plan
        # only when no index can.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            connection.exec_driver_sql(f"SET LOCAL {setting} = off")
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    else:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.fixture
def wide(manager) -> list[str]:
    """4 roots with 40 children each, and the databases' statistics on them (as any
    database in use has): the planner then weighs the indexes as it would in production."""
    roots = [str(manager.create(ArtifactIn(data={"root": r})).id) for r in range(4)]
    for root in roots:
        for c in range(40):
            manager.create(ArtifactIn(parent_id=root, data={"child": c}))
    manager.session.execute(text("ANALYZE artifacts" if manager.session.get_bind().dialect.name == "postgresql" else "ANALYZE"))
    manager.session.commit()
    return roots


@pytest.mark.parametrize(
    "listing, indexes",
    [
        # the home page; SQLite may also take (parent_id, id), which it reads in id order for IS NULL
        ({"roots_only": True, "newest_first": True}, ("ix_artifacts_roots", "ix_artifacts_parent_id_id")),
        ({"parent_id": "a root"}, ("ix_artifacts_parent_id_id",)),  # children of an artifact
        ({"level": 0}, ("ix_artifacts_level_id",)),
        ({}, ()),  # the primary key, which every plan here also uses to fetch the page's rows
    ],
)
@pytest.mark.parametrize("keyset", [False, True])
def test_list_pages_read_an_index_in_order_without_sorting(manager, wide, listing, indexes, keyset):
    if listing.get("parent_id"):
        listing = {"parent_id": wide[1]}
    cursor = Cursor(2, wide[0]) if keyset else None
    statements = statements_of(manager, lambda: manager.list_page(1, 5, cursor=cursor, **listing))
    pages = [s for s in statements if "FROM artifacts" in s[0] and "LIMIT" in s[0].upper()]
    assert len(pages) == 1
    plan = plan_of(manager, *pages[0])
    assert not indexes or any(name in plan for name in indexes), plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan  # SQLite / PostgreSQL sort step
    # and the total came from the counts, not from a count over the artifacts
    assert not [s for s, _ in statements if "count(" in s.lower() and "FROM artifacts" in s], statements


# The CPU of a page ---------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from webapp.artifacts.schemas import parse_ulid  # noqa: E402

ULID_LIKE = st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyzILOUilou!ſı ", min_size=24, max_size=28)


@settings(max_examples=2000, deadline=None)
@given(text=ULID_LIKE | st.text(max_size=30))
def test_the_fast_ulid_parse_accepts_and_refuses_exactly_what_python_ulid_does(text):
    try:
        expected = ULID.from_str(text.upper())
    except ValueError:
        with pytest.raises(ValueError):
            parse_ulid(text)
        return
    parsed = parse_ulid(text)
    assert parsed == expected and str(parsed) == str(expected) and hash(parsed) == hash(expected)
