"""ArtifactManager and ArtifactRepository, called directly as a script would."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from ulid import ULID

from webapp.artifacts import (
    ArtifactChangedError,
    ArtifactCycleError,
    ArtifactExistsError,
    ArtifactHasChildrenError,
    ArtifactHierarchy,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ArtifactRepository,
    ArtifactUpdate,
    Hierarchies,
    HierarchyDepthError,
    InvalidULIDError,
    open_session,
)
from webapp.artifacts import manager as manager_module

test_hierarchy = ArtifactHierarchy(name="ml_pipeline", level_labels={0: "experiment", 1: "model", 2: "predictions"})


def test_artifact_hierarchy(manager):
    """The spec's unit test, synchronous."""
    manager = ArtifactManager(ArtifactRepository(manager.session), hierarchy=test_hierarchy)

    parent = manager.save(ArtifactIn(data={"level": "root"}))
    assert parent.level == 0
    assert parent.parent_id is None

    child = manager.save(ArtifactIn(parent_id=parent.id, data={"level": "child"}))
    assert child.level == 1
    assert child.parent_id == parent.id

    tree = manager.build_tree(parent.id)
    assert len(tree.children) == 1
    assert tree.children[0].id == child.id


def test_level_comes_from_parent_never_from_client(manager):
    root = manager.save(ArtifactIn(data={}, level=7))
    child = manager.save(ArtifactIn(parent_id=root.id, data={}, level=0))
    assert (root.level, child.level) == (0, 1)


def test_ids_are_ulids_and_client_ids_are_kept(manager):
    generated = manager.save(ArtifactIn(data={"a": 1}))
    assert isinstance(generated.id, ULID)
    chosen = ULID()
    kept = manager.save(ArtifactIn(id=chosen, data={"b": 2}))
    assert kept.id == chosen
    assert manager.find_by_id(str(chosen).lower()).data == {"b": 2}


def test_save_with_existing_id_updates(manager, make_artifact):
    root = make_artifact(name="old")
    other = make_artifact(name="other")
    updated = manager.save(ArtifactIn(id=root.id, parent_id=other.id, data={"name": "new"}))
    assert updated.id == root.id
    assert updated.data == {"name": "new"}
    assert (updated.parent_id, updated.level) == (other.id, 1)
    assert manager.count() == 2


def test_create_refuses_an_existing_id(manager, make_artifact):
    root = make_artifact()
    with pytest.raises(ArtifactExistsError):
        manager.create(ArtifactIn(id=root.id, data={"x": 1}))
    assert manager.get(root.id).data == root.data


def test_unknown_parent_is_refused_and_nothing_is_written(manager):
    with pytest.raises(ArtifactNotFoundError, match="Parent artifact"):
        manager.save(ArtifactIn(parent_id=ULID(), data={}))
    assert manager.count() == 0


def test_find_by_id_returns_none_for_unknown_and_raises_for_malformed(manager):
    assert manager.find_by_id(ULID()) is None
    with pytest.raises(InvalidULIDError):
        manager.find_by_id("not-a-ulid")


def test_timestamps_are_utc_and_updated_at_moves(manager, make_artifact):
    artifact = make_artifact()
    assert artifact.created_at.utcoffset().total_seconds() == 0
    updated = manager.update(artifact.id, ArtifactUpdate(data={"v": 2}))
    assert updated.created_at == artifact.created_at
    assert updated.updated_at > artifact.updated_at


def test_update_without_parent_id_keeps_the_parent(manager, make_artifact):
    root = make_artifact()
    child = make_artifact(parent=root)
    updated = manager.update(child.id, ArtifactUpdate(data={"v": 2}))
    assert updated.parent_id == root.id


def test_writes_given_a_stale_version_are_refused(manager, make_artifact):
    """Two people open the same artifact; the second save must not silently undo the first."""
    artifact = make_artifact(name="draft")
    read_by_both = manager.get(artifact.id).version
    assert read_by_both == artifact.version  # what create returns is what is stored
    first = manager.update(artifact.id, ArtifactUpdate(data={"name": "first"}), if_match=read_by_both)
    assert first.version != read_by_both
    for write in (
        lambda: manager.update(artifact.id, ArtifactUpdate(data={"name": "second"}), if_match=read_by_both),
        lambda: manager.move(artifact.id, None, if_match=[read_by_both]),
        lambda: manager.delete(artifact.id, if_match=read_by_both),
    ):
        with pytest.raises(ArtifactChangedError) as refused:
            write()
        assert refused.value.current_version == first.version
    assert manager.get(artifact.id).data == {"name": "first"}
    manager.delete(artifact.id, if_match=first.version)
    assert manager.count() == 0


def test_delete_refuses_when_children_exist(manager, make_artifact):
    root = make_artifact()
    make_artifact(parent=root)
    with pytest.raises(ArtifactHasChildrenError):
        manager.delete(root.id)
    assert manager.count() == 2


def test_delete_leaf_then_parent(manager, make_artifact):
    root = make_artifact()
    leaf = make_artifact(parent=root)
    manager.delete(leaf.id)
    manager.delete(root.id)
    assert manager.count() == 0
    with pytest.raises(ArtifactNotFoundError):
        manager.delete(root.id)


def test_delete_subtree_and_delete_all(manager, make_artifact):
    root = make_artifact()
    child = make_artifact(parent=root)
    make_artifact(parent=child)
    keep = make_artifact()
    assert manager.delete_subtree(root.id) == 3
    assert [a.id for a in manager.find_all()] == [keep.id]
    assert manager.delete_all() == 1
    assert manager.count() == 0


def test_move_recomputes_levels_of_the_whole_subtree(manager, make_artifact):
    a = make_artifact(name="a")
    b = make_artifact(parent=a, name="b")
    c = make_artifact(parent=b, name="c")
    other = make_artifact(name="other")
    deep = make_artifact(parent=other, name="deep")

    manager.move(b.id, deep.id)
    levels = {str(x.id): x.level for x in manager.find_all()}
    assert levels[str(b.id)] == 2 and levels[str(c.id)] == 3

    manager.move(b.id, None)
    assert manager.get(b.id).level == 0 and manager.get(c.id).level == 1


@pytest.fixture
def an_hour_later(monkeypatch):
    """Call it to make the writes after it happen an hour later: a write shows in updated_at."""
    moment = datetime.now(UTC) + timedelta(hours=1)
    return lambda: monkeypatch.setattr(manager_module, "utcnow", lambda: moment)


def test_move_to_the_parent_it_already_has_changes_nothing(manager, make_artifact, an_hour_later):
    """A colleague's next save (against the version they read) must still succeed."""
    root = make_artifact(name="root")
    child = make_artifact(parent=root, name="child")
    an_hour_later()
    for artifact, parent in ((child, root.id), (child, str(root.id).lower()), (root, None)):
        before = manager.get(artifact.id)
        moved = manager.move(artifact.id, parent, if_match=before.version)
        assert moved == before and manager.get(artifact.id) == before
        assert moved.version == before.version
    manager.update(child.id, ArtifactUpdate(data={"name": "saved"}), if_match=child.version)


def test_an_update_naming_the_same_parent_still_replaces_the_data(manager, make_artifact, an_hour_later):
    root = make_artifact(name="root")
    child = make_artifact(parent=root, name="child")
    an_hour_later()
    updated = manager.update(child.id, ArtifactUpdate(data={"name": "new"}, parent_id=root.id))
    assert (updated.parent_id, updated.data) == (root.id, {"name": "new"})
    assert updated.updated_at > child.updated_at and updated.version != child.version


def test_move_preview_tells_the_new_level_its_label_and_how_many_move(manager, make_artifact):
    experiment = make_artifact(name="experiment")
    model = make_artifact(parent=experiment, name="model")
    make_artifact(parent=model, name="predictions a")
    make_artifact(parent=model, name="predictions b")
    other = make_artifact(name="other experiment")
    leaf = make_artifact(parent=make_artifact(parent=other, name="other model"), name="leaf predictions")
    before = [a.version for a in manager.find_all()]

    down = manager.move_preview(model.id, leaf.id)
    same = manager.move_preview(model.id, other.id)
    up = manager.move_preview(model.id, None)
    stays = manager.move_preview(model.id, str(experiment.id).lower())

    assert (down.level, down.level_change, down.label, down.subtree_size) == (3, 2, None, 3)
    assert (down.deepest_level, down.parent_id, down.unchanged) == (4, str(leaf.id), False)
    assert (same.level, same.level_change, same.label, same.subtree_size) == (1, 0, "model", 3)
    assert (up.level, up.level_change, up.label, up.parent_id) == (0, -1, "experiment", None)
    assert stays.unchanged and stays.level_change == 0 and stays.parent_id == str(experiment.id)
    assert [a.version for a in manager.find_all()] == before  # a preview writes nothing


def test_move_preview_refuses_what_move_refuses(manager, make_artifact):
    a = make_artifact()
    b = make_artifact(parent=a)
    with pytest.raises(ArtifactCycleError):
        manager.move_preview(a.id, b.id)
    with pytest.raises(ArtifactNotFoundError):
        manager.move_preview(a.id, str(ULID()))
    with pytest.raises(ArtifactNotFoundError):
        manager.move_preview(str(ULID()), None)
    limited = ArtifactManager(manager.repo, hierarchy=ArtifactHierarchy(name="ml_pipeline", max_depth=2))  # the trees' own
    with pytest.raises(HierarchyDepthError):
        limited.move_preview(a.id, make_artifact().id)


def test_move_under_own_descendant_is_refused(manager, make_artifact):
    a = make_artifact()
    b = make_artifact(parent=a)
    c = make_artifact(parent=b)
    for target in (a, b, c):
        with pytest.raises(ArtifactCycleError):
            manager.move(a.id, target.id)
    assert manager.get(a.id).parent_id is None
    assert manager.get(c.id).level == 2


def test_hierarchy_max_depth_refuses_deeper_artifacts(manager):
    limited = ArtifactManager(
        manager.repo, hierarchy=ArtifactHierarchy(name="docs", level_labels={0: "project"}, max_depth=2)
    )
    project = limited.save(ArtifactIn(data={"name": "p"}))
    doc = limited.save(ArtifactIn(parent_id=project.id, data={"title": "d"}))
    with pytest.raises(HierarchyDepthError):
        limited.save(ArtifactIn(parent_id=doc.id, data={"version": "1"}))
    other = limited.save(ArtifactIn(data={"name": "q"}))
    with pytest.raises(HierarchyDepthError):  # moving a 2-level subtree one level down
        limited.move(project.id, other.id)
    assert limited.count() == 3


def test_label_for_falls_back_to_level_n():
    assert test_hierarchy.label_for(1) == "model"
    assert test_hierarchy.label_for(5) == "level_5"
    assert test_hierarchy.describe(0) == {"hierarchy": "ml_pipeline", "level_depth": 0, "level_label": "experiment"}


def test_tree_nodes_carry_labels_and_hierarchy(manager, make_artifact):
    root = make_artifact()
    make_artifact(parent=root)
    tree = manager.build_tree(root.id)
    assert (tree.level_label, tree.hierarchy) == ("experiment", "ml_pipeline")
    assert tree.children[0].level_label == "model"
    assert tree.children[0].children == []


def test_build_tree_is_one_query_and_stops_at_max_depth(manager, make_artifact):
    root = make_artifact(name="root")
    for i in range(3):
        child = make_artifact(parent=root, name=f"c{i}")
        for j in range(2):
            grandchild = make_artifact(parent=child, name=f"g{i}{j}")
            make_artifact(parent=grandchild, name="leaf")

    statements: list[str] = []
    engine = manager.session.get_bind()

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        full = manager.build_tree(root.id)
        limited = manager.build_tree(root.id, max_depth=1)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert len(statements) == 2
    assert "RECURSIVE" in statements[0].upper()
    assert [c.data["name"] for c in full.children] == ["c0", "c1", "c2"]
    assert len(full.children[0].children[0].children) == 1
    assert all(child.children == [] for child in limited.children)
    assert manager.build_tree(root.id, max_depth=0).children == []


def test_build_tree_of_unknown_root_raises(manager):
    with pytest.raises(ArtifactNotFoundError):
        manager.build_tree(ULID())


def test_expand_gives_ancestors_root_first_and_descendants(manager, make_artifact):
    root = make_artifact(name="root")
    middle = make_artifact(parent=root, name="middle")
    leaf = make_artifact(parent=middle, name="leaf")
    expanded = manager.expand(middle.id)
    assert expanded.id == middle.id
    assert [a.id for a in expanded.ancestors] == [root.id]
    assert [c.id for c in expanded.children] == [leaf.id]
    assert [a.id for a in manager.expand(leaf.id).ancestors] == [root.id, middle.id]


def test_find_paginated_is_stable_and_filters(manager, make_artifact):
    roots = [make_artifact(name=f"r{i}") for i in range(5)]
    child = make_artifact(parent=roots[0], name="needle in data")
    first, total = manager.find_paginated(1, 2)
    second, _ = manager.find_paginated(2, 2)
    assert total == 6
    assert [a.id for a in first + second] == sorted(a.id for a in [*roots, child])[:4]
    assert manager.find_paginated(1, 50, roots_only=True)[1] == 5
    assert [a.id for a in manager.find_paginated(1, 50, parent_id=roots[0].id)[0]] == [child.id]
    assert manager.find_paginated(1, 50, level=1)[1] == 1
    assert [a.id for a in manager.find_paginated(1, 50, text="NEEDLE")[0]] == [child.id]
    assert manager.find_paginated(1, 50, text="100%_")[1] == 0


def test_text_search_finds_non_ascii(manager, make_artifact):
    artifact = make_artifact(name="Café crème")
    assert [a.id for a in manager.find_paginated(1, 10, text="café")[0]] == [artifact.id]



def test_build_tree_and_expand_handle_long_chains(manager, make_artifact):
    chain = [make_artifact(i=0)]
    for i in range(1, 600):
        chain.append(make_artifact(parent=chain[-1], i=i))
    node, depth = manager.build_tree(chain[0].id), 0
    while node.children:
        (node,) = node.children
        depth += 1
    assert (depth, node.id, node.level_label) == (599, chain[-1].id, "level_599")
    expanded = manager.expand(chain[300].id)
    assert [a.id for a in expanded.ancestors] == [a.id for a in chain[:300]]
    assert expanded.children[0].id == chain[301].id


def test_the_spec_indexing_recipe_works_and_its_index_is_used(manager, make_artifact):
    """The spec's "Indexing" snippet, as written, on SQLite and PostgreSQL."""
    from sqlalchemy import Index, select, text

    from webapp.artifacts import Artifact

    weather = make_artifact(experiment_name="weather")
    make_artifact(experiment_name="traffic")
    index = Index("ix_artifact_experiment", Artifact.data["experiment_name"].astext)
    Artifact.__table__.indexes.discard(index)  # the recipe adds it to the models' metadata: not for other tests
    connection = manager.session.connection()
    index.create(connection)

    query = select(Artifact.id).where(Artifact.data["experiment_name"].astext == "weather")
    assert manager.session.scalars(query).all() == [str(weather.id)]
    explain = "EXPLAIN QUERY PLAN" if connection.dialect.name == "sqlite" else "EXPLAIN"
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL enable_seqscan = off"))  # two rows: make the planner show its options
    compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
    plan = " ".join(str(row) for row in connection.exec_driver_sql(f"{explain} {compiled}"))
    assert "ix_artifact_experiment" in plan
    manager.session.rollback()


def test_building_a_tree_leaves_the_garbage_collector_as_it_found_it(manager, make_artifact):
    """tree_document pauses the collector while it builds (for speed) and must restore it."""
    import gc

    root = make_artifact()
    make_artifact(parent=root)
    assert gc.isenabled()
    seen = []
    spy = Hierarchies(manager.hierarchies.values(), manager.hierarchies.default_name)
    label_for = spy.label_for
    spy.label_for = lambda name, level: seen.append(gc.isenabled()) or label_for(name, level)  # type: ignore[method-assign]
    manager.policy = replace(manager.policy, hierarchies=spy)
    manager.build_tree(root.id)
    assert seen == [False, False] and gc.isenabled()
    with pytest.raises(ArtifactNotFoundError):
        manager.tree_document(ULID())
    assert gc.isenabled()
    gc.disable()
    try:
        manager.tree_document(root.id)
        assert not gc.isenabled()  # a caller that switched it off keeps it off
    finally:
        gc.enable()


def test_reads_leave_no_transaction_open_so_a_script_sees_other_writers(manager, database_url):
    """A SQLite read snapshot left open would show a script the store as it was, forever."""
    artifact = manager.create(ArtifactIn(data={"v": 1}))
    assert manager.get(artifact.id).data == {"v": 1}
    assert not manager.session.in_transaction()
    other = ArtifactManager(ArtifactRepository(open_session(database_url, create=False)))
    other.update(artifact.id, ArtifactUpdate(data={"v": 2}))
    assert manager.get(artifact.id).data == {"v": 2}
    other.session.close()


def test_a_write_inside_a_write_lands_with_it_or_not_at_all(manager):
    with manager.work.writing():
        first = manager.create(ArtifactIn(data={"n": 1}))
        with pytest.raises(ArtifactNotFoundError):  # a refused inner use case undoes only itself
            manager.create(ArtifactIn(parent_id="01ARZ3NDEKTSV4RRFFQ69G5FAV", data={"n": 2}))
        manager.create(ArtifactIn(parent_id=first.id, data={"n": 3}))
        assert manager.session.in_transaction()  # the inner creates did not commit
    assert manager.count() == 2
    with pytest.raises(RuntimeError), manager.work.writing():
        manager.create(ArtifactIn(data={"n": 4}))
        raise RuntimeError("the outer use case fails")
    assert manager.count() == 2


def test_a_dry_run_rolls_back_what_it_wrote(manager):
    with manager.work.writing(commit=False):
        artifact = manager.create(ArtifactIn(data={"n": 1}))
        child = manager.create(ArtifactIn(parent_id=artifact.id, data={"n": 2}))
        # Counts inside the write include its own changes (PostgreSQL applies them at COMMIT).
        assert manager.count() == 2 and manager.count_by_level() == {0: 1, 1: 1}
        assert manager.child_counts([artifact.id]) == {str(artifact.id): 1}
        assert manager.list_page(level=1).total == 1 and manager.list_page(parent_id=artifact.id).total == 1
    assert manager.find_by_id(child.id) is None and manager.count() == 0 and manager.count_by_level() == {}


def test_a_shared_writer_cannot_take_the_lock_exclusively(manager):
    root = manager.create(ArtifactIn(data={"n": 1}))
    with pytest.raises(RuntimeError, match="exclusively"), manager.work.writing():
        manager.delete(root.id)  # a delete needs the exclusive lock the outer write never took
    assert manager.count() == 1
