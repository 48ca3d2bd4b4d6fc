"""Several hierarchies in one store: declared, chosen per tree, inherited, relabelled on moves,
listed and counted, through the manager, the API, the pages and the operations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.html import html, texts
from tests.support.problems import assert_problem
from webapp import create_app
from webapp.artifacts import (
    HIERARCHIES,
    Artifact,
    ArtifactHierarchy,
    ArtifactIn,
    ArtifactManager,
    ArtifactRepository,
    ArtifactUpdate,
    Hierarchies,
    HierarchyDepthError,
    UnknownHierarchyError,
)
from webapp.cli import seed_examples
from webapp import ops

SPEC_THREE = ["ml_pipeline", "document_versions", "datasets"]


def stored_places(manager: ArtifactManager) -> dict[str, tuple[str, str, int]]:
    """{id: (hierarchy, root_id, level)} as the rows hold them."""
    manager.session.rollback()
    rows = manager.session.execute(select(Artifact.id, Artifact.hierarchy, Artifact.root_id, Artifact.level))
    return {artifact_id: (hierarchy, root, level) for artifact_id, hierarchy, root, level in rows}


# The registry --------------------------------------------------------------------------


def test_the_spec_three_are_declared_and_importable():
    assert list(HIERARCHIES) == SPEC_THREE and HIERARCHIES.default_name == "ml_pipeline"
    assert HIERARCHIES["document_versions"].level_labels == {0: "project", 1: "document", 2: "version"}
    assert HIERARCHIES["datasets"].label_for(2) == "partition"
    assert HIERARCHIES.label_for("gone", 1) == "level_1"  # a name no longer declared still reads
    with pytest.raises(UnknownHierarchyError) as refused:
        HIERARCHIES.require("nope")
    assert refused.value.extra["allowed"] == SPEC_THREE


def test_a_registry_replaces_by_name_and_refuses_an_undeclared_default():
    papers = ArtifactHierarchy(name="papers", level_labels=["venue", "paper"])
    merged = HIERARCHIES.with_hierarchy(papers)
    assert list(merged) == [*SPEC_THREE, "papers"] and merged.default_name == "ml_pipeline"
    assert merged["papers"].level_labels == {0: "venue", 1: "paper"}
    shallow = HIERARCHIES.with_hierarchy(ArtifactHierarchy(name="datasets", max_depth=2), default=True)
    assert list(shallow) == SPEC_THREE and shallow.default.max_depth == 2
    with pytest.raises(ValueError):
        Hierarchies([papers], default="ml_pipeline")


# The manager ---------------------------------------------------------------------------


def test_a_root_takes_the_named_hierarchy_and_its_descendants_inherit_it(manager):
    project = manager.create(ArtifactIn(data={"name": "API docs"}, hierarchy="document_versions"))
    document = manager.create(ArtifactIn(parent_id=project.id, data={"title": "Auth"}))
    version = manager.create(ArtifactIn(parent_id=document.id, data={"version": "1.0"}, hierarchy="document_versions"))
    assert [(a.hierarchy, a.level_label) for a in (project, document, version)] == [
        ("document_versions", "project"), ("document_versions", "document"), ("document_versions", "version")]
    assert manager.get(version.id).level_label == "version"
    experiment = manager.create(ArtifactIn(data={"experiment_name": "e"}))
    assert (experiment.hierarchy, experiment.level_label) == ("ml_pipeline", "experiment")
    places = stored_places(manager)
    assert places[str(version.id)] == ("document_versions", str(project.id), 2)
    assert places[str(experiment.id)] == ("ml_pipeline", str(experiment.id), 0)


def test_a_child_naming_another_hierarchy_or_an_unknown_name_is_refused_and_nothing_stored(manager):
    dataset = manager.create(ArtifactIn(data={"name": "d"}, hierarchy="datasets"))
    with pytest.raises(UnknownHierarchyError) as other:
        manager.create(ArtifactIn(parent_id=dataset.id, data={}, hierarchy="ml_pipeline"))
    assert other.value.extra["allowed"] == ["datasets"] and "'datasets'" in other.value.detail
    with pytest.raises(UnknownHierarchyError) as unknown:
        manager.create(ArtifactIn(data={}, hierarchy="no_such"))
    assert unknown.value.extra["allowed"] == SPEC_THREE
    assert unknown.value.errors[0]["loc"] == ["body", "hierarchy"]
    assert manager.count() == 1


def test_the_spec_python_api_creates_and_validates_in_its_hierarchy(manager):
    papers = ArtifactHierarchy(name="papers", level_labels={0: "venue", 1: "paper"}, max_depth=2)
    scoped = ArtifactManager(ArtifactRepository(manager.session), hierarchy=papers)
    venue = scoped.save(ArtifactIn(data={"name": "ICML"}))
    paper = scoped.save(ArtifactIn(parent_id=venue.id, data={"title": "p"}))
    assert (venue.hierarchy, venue.level_label, paper.level_label) == ("papers", "venue", "paper")
    with pytest.raises(HierarchyDepthError):
        scoped.save(ArtifactIn(parent_id=paper.id, data={}))
    # Its registry still holds the others: a tree of another hierarchy reads with its own labels.
    experiment = manager.create(ArtifactIn(data={"experiment_name": "e"}))
    assert scoped.get(experiment.id).level_label == "experiment"


def test_a_subtree_moved_into_another_tree_takes_its_hierarchy_and_labels(manager):
    experiment = manager.create(ArtifactIn(data={"experiment_name": "e"}))
    model = manager.create(ArtifactIn(parent_id=experiment.id, data={"model_type": "m"}))
    predictions = manager.create(ArtifactIn(parent_id=model.id, data={"n": 1}))
    project = manager.create(ArtifactIn(data={"name": "p"}, hierarchy="document_versions"))
    moved = manager.move(model.id, project.id)
    assert (moved.hierarchy, moved.level, moved.level_label) == ("document_versions", 1, "document")
    assert manager.get(predictions.id).level_label == "version"
    places = stored_places(manager)
    assert places[str(predictions.id)] == ("document_versions", str(project.id), 2)
    assert manager.count("document_versions") == 3 and manager.count("ml_pipeline") == 1
    # Made a root, a subtree keeps its hierarchy and becomes its own tree.
    manager.update(model.id, ArtifactUpdate(data={"model_type": "m"}, parent_id=None))
    places = stored_places(manager)
    assert places[str(model.id)] == ("document_versions", str(model.id), 0)
    assert places[str(predictions.id)] == ("document_versions", str(model.id), 1)
    assert manager.child_counts([project.id]) == {str(project.id): 0}


def test_a_move_obeys_the_target_hierarchy_depth_and_changes_nothing_when_refused(app_config, manager):
    shallow = ArtifactHierarchy(name="datasets", level_labels=["dataset", "version"], max_depth=2)
    scoped = ArtifactManager(ArtifactRepository(manager.session), hierarchy=shallow)
    dataset = scoped.create(ArtifactIn(data={"name": "d"}))
    experiment = scoped.create(ArtifactIn(data={"experiment_name": "e"}, hierarchy="ml_pipeline"))
    model = scoped.create(ArtifactIn(parent_id=experiment.id, data={"model_type": "m"}))
    before = stored_places(scoped)
    with pytest.raises(HierarchyDepthError):
        scoped.move(experiment.id, dataset.id)  # would put the model at level 2 of a 2-level hierarchy
    with pytest.raises(HierarchyDepthError):
        scoped.move_preview(experiment.id, dataset.id)
    assert stored_places(scoped) == before
    preview = scoped.move_preview(model.id, dataset.id)
    assert (preview.hierarchy, preview.label, preview.level) == ("datasets", "version", 1)


def test_lists_filter_by_hierarchy_with_totals_and_cursors(manager):
    for n in range(3):
        root = manager.create(ArtifactIn(data={"name": f"d{n}"}, hierarchy="datasets"))
        manager.create(ArtifactIn(parent_id=root.id, data={"version": n}))
    manager.create(ArtifactIn(data={"experiment_name": "e"}))
    page = manager.list_page(1, 2, hierarchy="datasets")
    assert page.total == 6 and {a.hierarchy for a in page.items} == {"datasets"}
    rest = manager.list_page(size=2, cursor=_cursor(page.next_cursor), hierarchy="datasets")
    assert len(rest.items) == 2 and not set(a.id for a in rest.items) & set(a.id for a in page.items)
    roots = manager.list_page(roots_only=True, hierarchy="datasets")
    assert roots.total == 3 and all(a.level == 0 for a in roots.items)
    assert manager.list_page(level=1, hierarchy="datasets").total == 3
    assert manager.list_page(level=1, hierarchy="ml_pipeline").total == 0
    assert manager.list_page(parent_id=roots.items[0].id, hierarchy="ml_pipeline").total == 0
    assert manager.list_page(text="d1", hierarchy="datasets").total == 1
    with pytest.raises(UnknownHierarchyError):
        manager.list_page(hierarchy="nope")
    assert manager.count_by_hierarchy() == {"datasets": {0: 3, 1: 3}, "ml_pipeline": {0: 1}}


def _cursor(text: str | None) -> Any:
    from webapp.artifacts.schemas import Cursor

    assert text is not None
    return Cursor.decode(text)


def test_tree_and_expansion_nodes_carry_their_hierarchy(manager):
    counts = seed_examples(manager)
    assert counts == {"ml_pipeline": 3, "document_versions": 4, "datasets": 4}
    dataset = manager.list_page(roots_only=True, hierarchy="datasets").items[0]
    tree = manager.tree_document(dataset.id)
    assert (tree["hierarchy"], tree["level_label"]) == ("datasets", "dataset")
    partition = tree["children"][0]["children"][0]
    assert (partition["hierarchy"], partition["level_label"]) == ("datasets", "partition")
    expansion = manager.expand_document(partition["id"])
    assert [a["level_label"] for a in expansion["ancestors"]] == ["dataset", "version"]


# Configuration ---------------------------------------------------------------------------


@pytest.mark.app_config(ARTIFACT_HIERARCHIES=json.dumps(
    [{"name": "papers", "level_labels": ["venue", "paper", "draft"], "max_depth": 3, "title_field": "title"},
     {"name": "datasets", "level_labels": ["dataset", "version", "partition", "shard"]}]))
def test_hierarchies_are_declared_as_json_added_to_and_replacing_the_spec_ones(client):
    listed = client.get("/api/v1/hierarchies").get_json()
    assert [h["name"] for h in listed["items"]] == [*SPEC_THREE, "papers"]
    papers = listed["items"][3]
    assert papers == {"name": "papers", "level_labels": {"0": "venue", "1": "paper", "2": "draft"}, "max_depth": 3,
                      "title_field": "title", "default": False, "declared": True, "trees": 0, "artifacts": 0}
    assert listed["items"][2]["level_labels"]["3"] == "shard"


def test_hierarchies_are_read_from_a_file_in_instance_or_a_path(app_config, tmp_path):
    from webapp.config import load_hierarchies

    declared = tmp_path / "hierarchies.json"
    declared.write_text(json.dumps([{"name": "notes", "level_labels": ["notebook", "note"]}]))
    app = create_app({**app_config, "ARTIFACT_HIERARCHIES": str(declared)})
    assert app.extensions["store_policy"].hierarchies["notes"].label_for(1) == "note"
    assert [h.name for h in load_hierarchies(None, tmp_path)] == ["notes"]  # instance/hierarchies.json
    assert load_hierarchies(None, tmp_path / "empty") == []


@pytest.mark.parametrize("declaration, message", [
    ("[{\"name\": \"bad name\"}]", "name 'bad name' must be"),
    ("[{\"name\": \"x\", \"levels\": []}]", "unknown keys"),
    ("[{\"name\": \"x\", \"max_depth\": 0}]", "hierarchy 'x'"),
    ("{\"name\": \"x\"}", "JSON list"),
    ("[1", "Line 1"),
    ("/no/such/file.json", "cannot read"),
])
def test_a_bad_declaration_stops_the_app_with_a_message(app_config, declaration, message):
    with pytest.raises(RuntimeError, match="ARTIFACT_HIERARCHIES|hierarch") as refused:
        create_app({**app_config, "ARTIFACT_HIERARCHIES": declaration})
    assert message in str(refused.value)


@pytest.mark.app_config(ARTIFACT_HIERARCHY="datasets")
def test_the_default_hierarchy_is_chosen_by_setting(client):
    created = client.post("/api/v1/artifacts", json={"data": {"name": "d"}}).get_json()
    assert (created["hierarchy"], created["level_label"]) == ("datasets", "dataset")
    assert client.get("/api/v1/hierarchies").get_json()["default"] == "datasets"


# The API -------------------------------------------------------------------------------------


def test_the_api_creates_in_a_hierarchy_and_every_artifact_carries_it(client):
    root = client.post("/api/v1/artifacts", json={"data": {"name": "p"}, "hierarchy": "document_versions"})
    assert root.status_code == 201
    root_id = root.get_json()["id"]
    child = client.post("/api/v1/artifacts", json={"data": {"title": "t"}, "parent_id": root_id}).get_json()
    assert (child["hierarchy"], child["level_label"]) == ("document_versions", "document")
    assert client.get(f"/api/v1/artifacts/{child['id']}").get_json()["level_label"] == "document"
    listed = client.get("/api/v1/artifacts?hierarchy=document_versions").get_json()
    assert listed["total"] == 2 and all({"hierarchy", "level_label"} <= set(a) for a in listed["items"])
    tree = client.get(f"/api/v1/artifacts/{root_id}/$tree").get_json()
    assert tree["children"][0]["level_label"] == "document"
    summary = {h["name"]: (h["trees"], h["artifacts"]) for h in client.get("/api/v1/hierarchies").get_json()["items"]}
    assert summary == {"ml_pipeline": (0, 0), "document_versions": (1, 2), "datasets": (0, 0)}


def test_the_api_refuses_a_wrong_hierarchy_with_the_allowed_values(client):
    root_id = client.post("/api/v1/artifacts", json={"data": {}, "hierarchy": "datasets"}).get_json()["id"]
    mismatch = client.post("/api/v1/artifacts", json={"data": {}, "parent_id": root_id, "hierarchy": "ml_pipeline"})
    body = assert_problem(mismatch, 422, "hierarchy")
    assert body["allowed"] == ["datasets"]
    unknown = client.post("/api/v1/artifacts", json={"data": {}, "hierarchy": "nope"})
    assert assert_problem(unknown, 422, "hierarchy")["allowed"] == SPEC_THREE
    wrong_type = client.post("/api/v1/artifacts", json={"data": {}, "hierarchy": 7})
    assert wrong_type.status_code == 422
    assert_problem(client.get("/api/v1/artifacts?hierarchy=nope"), 422, "hierarchy")
    assert client.get("/api/v1/artifacts?hierarchy=%00").status_code == 422
    assert client.get("/api/v1/artifacts").get_json()["total"] == 1


def test_a_csv_upload_starts_a_tree_in_the_hierarchy_named(client):
    upload = client.post(
        "/api/v1/artifacts/$upload",
        data={"file": (_csv(), "sales.csv"), "hierarchy": "datasets"},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.get_json()
    assert (upload.get_json()["hierarchy"], upload.get_json()["level_label"]) == ("datasets", "dataset")
    refused = client.post(
        "/api/v1/artifacts/$upload", data={"file": (_csv(), "x.csv"), "hierarchy": "nope"}, content_type="multipart/form-data"
    )
    assert_problem(refused, 422, "hierarchy")


def _csv() -> Any:
    import io

    return io.BytesIO(b"a,b\n1,2\n3,4\n")


# Pages ------------------------------------------------------------------------------------------


def test_the_new_root_form_offers_the_hierarchies_with_the_default_preselected(client):
    soup = html(client.get("/artifacts/new"))
    options = soup.select("select[name=hierarchy] option")
    assert [o["value"] for o in options] == SPEC_THREE
    assert [o["value"] for o in options if o.has_attr("selected")] == ["ml_pipeline"]
    assert "project › document › version" in options[1].get_text()
    chosen = html(client.get("/artifacts/new?hierarchy=datasets")).select_one("select[name=hierarchy] option[selected]")
    assert chosen["value"] == "datasets"
    assert html(client.get("/artifacts/upload")).select("select[name=hierarchy] option")


def test_a_document_created_on_the_pages_reads_with_its_own_labels(client):
    response = client.post("/artifacts/new", data={"data_json": '{"name": "Handbook"}', "hierarchy": "document_versions"},
                           follow_redirects=True)
    soup = html(response)
    assert "Created project “Handbook”." in soup.get_text()
    project_id = client.get("/api/v1/artifacts?hierarchy=document_versions").get_json()["items"][0]["id"]
    response = client.post("/artifacts/new", data={"data_json": '{"title": "Install"}', "parent_id": project_id},
                           follow_redirects=True)
    soup = html(response)
    assert "Created document “Install”." in soup.get_text()
    assert texts(soup.select(".breadcrumbs .crumb-label")) == ["project", "document"]
    refused = client.post("/artifacts/new", data={"data_json": '{"name": "x"}', "hierarchy": "nope"})
    assert refused.status_code == 422 and "Unknown hierarchy" in html(refused).get_text()


def test_the_home_page_narrows_to_a_hierarchy_and_shows_each_roots(client, manager):
    seed_examples(manager)
    everything = html(client.get("/"))
    assert sorted(texts(everything.select(".hierarchy-tag"))) == sorted(SPEC_THREE)
    assert sorted(texts(everything.select(".roots > li .badge"))) == ["dataset", "experiment", "project"]
    narrowed = html(client.get("/?hierarchy=datasets"))
    assert texts(narrowed.select(".roots > li .badge")) == ["dataset"]
    current = narrowed.select_one(".hierarchy-filter [aria-current=page]")
    assert current.get_text().split()[0] == "datasets"
    assert "1 root artifact in datasets" in narrowed.select_one("#listing-count").get_text()
    assert narrowed.select_one("form.search input[name=hierarchy]")["value"] == "datasets"
    assert client.get("/?hierarchy=nope").status_code == 422


def test_the_move_page_previews_the_target_hierarchy_label(client, manager):
    seed_examples(manager)
    experiment = manager.list_page(roots_only=True, hierarchy="ml_pipeline").items[0]
    model = manager.list_page(parent_id=experiment.id).items[0]
    project = manager.list_page(roots_only=True, hierarchy="document_versions").items[0]
    soup = html(client.post(f"/artifacts/{experiment.id}/move", data={"parent_id": str(project.id)}))
    assert "It will be a document" in " ".join(soup.get_text().split())
    assert model.level_label == "model"


# Operations ------------------------------------------------------------------------------------------


def test_export_and_import_keep_each_trees_hierarchy(store, manager):
    seed_examples(manager)
    dataset = manager.list_page(roots_only=True, hierarchy="datasets").items[0]
    document = ops.export_subtree(store, str(dataset.id))
    assert document["hierarchy"] == "datasets" and {a["hierarchy"] for a in document["artifacts"]} == {"datasets"}
    manager.delete_subtree(dataset.id)
    ops.import_subtree(store, document)
    assert manager.get(dataset.id).hierarchy == "datasets"
    assert manager.count("datasets") == 4
    # Attached under another tree, it joins that tree's hierarchy, as a move would.
    manager.delete_subtree(dataset.id)
    experiment = manager.list_page(roots_only=True, hierarchy="ml_pipeline").items[0]
    ops.import_subtree(store, document, parent=str(experiment.id))
    assert manager.get(dataset.id).level_label == "model"
    unknown = {**document, "hierarchy": "gone"}
    manager.delete_subtree(dataset.id)
    with pytest.raises(ops.OpsError, match="Unknown hierarchy 'gone'"):
        ops.import_subtree(store, unknown, parent=None)
    with pytest.raises(ops.OpsError, match="must be a name"):
        ops.import_subtree(store, {**document, "hierarchy": 3}, parent=None)


def test_stats_count_per_hierarchy(store, manager):
    seed_examples(manager)
    stats = ops.collect_stats(store)
    assert [(h.name, h.trees, h.total) for h in stats.by_hierarchy] == [
        ("ml_pipeline", 1, 3), ("document_versions", 1, 4), ("datasets", 1, 4)]
    assert stats.by_hierarchy[2].by_level == [(0, "dataset", 1), (1, "version", 1), (2, "partition", 2)]
