"""Generated filters and sorts, on both databases, checked against the reference evaluator
(tests/support/filter_reference.py) over a dataset of mixed types, missing keys, nulls,
nested objects and Unicode."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.filter_reference import Reference, Row, render
from webapp.artifacts import ArtifactIn
from webapp.search import Query, parse, parse_field
from webapp.search.grammar import And, Compare, Contains, Exists, Field, In, IsNull, Not, Or
from webapp.store import Store

KEYS = ["a", "b", "n", "s", "odd key", "ß"]
STRINGS = ["", "a", "A", "ab", "abc", "B", "b", "é", "É", "Zed", "zed", "日本", "😀", "x y", "it's", "10", "2"]
NUMBERS = [-3, -1.5, 0, 0.5, 1, 1.0, 2, 2.5, 3, 10, 1e20]


def random_value(rng: random.Random, depth: int) -> Any:
    choice = rng.random()
    if choice < 0.3:
        return rng.choice(NUMBERS)
    if choice < 0.55:
        return rng.choice(STRINGS)
    if choice < 0.65:
        return rng.choice([True, False])
    if choice < 0.72:
        return None
    if choice < 0.78:
        return [rng.choice(NUMBERS) for _ in range(rng.randint(0, 3))]
    if depth < 2:
        return random_object(rng, depth + 1)
    return rng.choice(STRINGS)


def random_object(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    return {key: random_value(rng, depth) for key in rng.sample(KEYS, rng.randint(0, 4))}


def build(store: Store) -> Reference:
    """Four trees in three hierarchies, three levels deep, about 70 artifacts."""
    rng = random.Random(12)
    manager = store.artifacts
    for hierarchy in ("ml_pipeline", "ml_pipeline", "document_versions", "datasets"):
        root = manager.create(ArtifactIn(data=random_object(rng), hierarchy=hierarchy))
        for _ in range(rng.randint(2, 4)):
            child = manager.create(ArtifactIn(parent_id=root.id, data=random_object(rng)))
            for _ in range(rng.randint(0, 4)):
                manager.create(ArtifactIn(parent_id=child.id, data=random_object(rng)))
    rows = [Row(str(a.id), str(a.parent_id) if a.parent_id else None, a.level, a.data, a.created_at, a.updated_at,
                a.hierarchy) for a in manager.find_all()]
    labels = {name: dict(h.level_labels) for name, h in store.policy.hierarchies.items()}
    assert {row.hierarchy for row in rows} == {"ml_pipeline", "document_versions", "datasets"}
    return Reference(rows, labels, store.session.get_bind().dialect.name)


paths = st.lists(st.sampled_from(KEYS), min_size=1, max_size=3).map(tuple)
data_fields = st.builds(Field, st.sampled_from(["data", "data", "data", "parent", "ancestor"]), paths)
literals = st.one_of(
    st.sampled_from(NUMBERS), st.sampled_from(STRINGS), st.sampled_from([True, False, None])
)
column_literals = st.one_of(
    literals, st.sampled_from(["model", "experiment", "predictions", "version", "document", "dataset", "level_3",
                               "ml_pipeline", "datasets", "2020-01-01", "2100-01-01T00:00:00Z"])
)
operators = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])


def atoms(fields: Any, values: Any) -> Any:
    return st.one_of(
        st.builds(Compare, fields, operators, values),
        st.builds(In, fields, st.lists(values, min_size=1, max_size=3).map(tuple), st.booleans()),
        st.builds(Contains, fields, st.sampled_from(STRINGS)),
        st.builds(IsNull, fields, st.booleans()),
    )


data_atoms = st.one_of(atoms(data_fields, literals), st.builds(Exists, data_fields))
level_atoms = st.one_of(
    atoms(st.just(Field("column", name="level")), st.sampled_from([0, 1, 2, 1.0, "1", True, None])),
    atoms(st.sampled_from([Field("column", name=n) for n in ("level_label", "hierarchy")]), column_literals),
    atoms(st.sampled_from([Field("column", name=n) for n in ("created_at", "updated_at")]),
          st.sampled_from(["2020-01-01", "2100-01-01T00:00:00Z", 3, None])),
    st.builds(IsNull, st.just(Field("column", name="parent_id")), st.booleans()),
)
expressions = st.recursive(
    st.one_of(data_atoms, data_atoms, level_atoms),
    lambda inner: st.one_of(
        st.builds(And, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Or, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Not, inner),
    ),
    max_leaves=6,
)

GENERATED = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.fixture
def reference(store: Store) -> Reference:
    return build(store)


def matched(store: Store, text: str, **query: Any) -> list[str]:
    page = store.search.list_page(1, 1000, query=Query(filter=text, **query))
    assert page.total == len(page.items)
    return [str(item.id) for item in page.items]


@GENERATED
@given(tree=expressions)
def test_generated_filters_select_what_the_reference_selects(store: Store, reference: Reference, tree: Any) -> None:
    text = render(tree)
    assert parse(text) == tree  # the text says what the tree says
    assert set(matched(store, text)) == reference.select(tree), text


@GENERATED
@given(tree=expressions, sort=st.one_of(data_fields.filter(lambda f: f.source == "data"),
                                        st.sampled_from([Field("column", name=n) for n in ("level", "level_label", "id", "hierarchy")])),
       descending=st.booleans())
def test_generated_sorts_order_as_the_reference_orders(
    store: Store, reference: Reference, tree: Any, sort: Field, descending: bool
) -> None:
    text = render(tree)
    expected = reference.sort(reference.select(tree), sort, descending)
    assert matched(store, text, sort=sort.text(), descending=descending) == expected, (text, sort.text())


def test_every_generated_kind_of_value_is_in_the_dataset(reference: Reference) -> None:
    """The dataset really mixes types: a test over uniform data would prove little."""
    kinds = {type(v).__name__ for row in reference.rows.values() for v in row.data.values()}
    assert {"int", "float", "str", "bool", "NoneType", "list", "dict"} <= kinds


@pytest.mark.parametrize(
    "text",
    [
        "data.a = 1 or data.a = 'a'",
        "not data.a = 1",
        "data.a != 1",
        "data.a not in (1, 'a')",
        "data.n.a > 0",
        "data.s contains 'É'",
        "parent.data.a is null",
        "parent.data.a is not null",
        "ancestor.data.a >= 1",
        "ancestor.data.a is null",
        "level_label = 'model' and not exists(data.b)",
        "level_label != 'model'",
        "level_label in ('experiment', 'level_7')",
        "level_label = 'version'",
        "level_label < 'p' and hierarchy != 'datasets'",
        "hierarchy in ('datasets', 'document_versions') and level_label contains 'VER'",
        "created_at > '2020-01-01' and updated_at < '2100-01-01T00:00:00+01:00'",
        'data."odd key" < \'zzz\'',
        "data.a in (true, null)",
        "data.a = 1e20",
    ],
)
def test_hand_written_filters(store: Store, reference: Reference, text: str) -> None:
    assert set(matched(store, text)) == reference.select(parse(text))


def test_paging_a_sorted_listing_by_cursor_visits_each_match_once(store: Store, reference: Reference) -> None:
    tree, sort = parse("level > 0"), parse_field("data.a")
    expected = reference.sort(reference.select(tree), sort, True)
    seen, cursor = [], None
    for _ in range(20):
        page = store.search.list_page(1, 7, cursor=cursor, query=Query("level > 0", "data.a", True))
        seen += [str(item.id) for item in page.items]
        if page.next_cursor is None:
            break
        from webapp.artifacts.schemas import Cursor

        cursor = Cursor.decode(page.next_cursor)
    assert seen == expected
