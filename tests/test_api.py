"""The JSON API: every endpoint of the spec and every error case, through the test client."""

from __future__ import annotations

import json

import pytest
from ulid import ULID

from tests.support.problems import assert_problem

API = "/api/v1/artifacts"


def create(client, data=None, parent_id=None, **extra):
    body = {"data": data if data is not None else {"name": "x"}, **extra}
    if parent_id is not None:
        body["parent_id"] = parent_id
    response = client.post(API, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def count(client) -> int:
    return client.get(API).get_json()["total"]


# Create ---------------------------------------------------------------------------


def test_create_returns_201_location_and_the_artifact(client):
    response = client.post(API, json={"data": {"experiment": "weather_prediction", "version": "1.0.0"}})
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"id", "parent_id", "level", "data", "created_at", "updated_at", "hierarchy", "level_label", "revision"}
    assert (body["hierarchy"], body["level_label"]) == ("ml_pipeline", "experiment")
    assert response.headers["Location"].endswith(f"{API}/{body['id']}")
    assert ULID.from_str(body["id"])
    assert (body["parent_id"], body["level"]) == (None, 0)
    assert body["data"] == {"experiment": "weather_prediction", "version": "1.0.0"}
    assert body["created_at"].endswith("Z") and body["created_at"] == body["updated_at"]
    assert client.get(response.headers["Location"]).get_json() == body


def test_create_child_computes_level_and_ignores_client_level(client):
    root = create(client)
    child = create(client, parent_id=root["id"], level=9)
    assert (child["parent_id"], child["level"]) == (root["id"], 1)


def test_numbers_read_back_as_they_were_written(client):
    """Floats stay floats and integers integers, also where PostgreSQL's jsonb writes 1e+20 in full."""
    data = {"big": 1e20, "avogadro": 6.02e23, "huge": -1e300, "small": 1e-7, "tenth": 0.1, "whole": 1.0,
            "integer": 10**20, "nested": [{"x": 1.5e16, "y": 7}], "text": "1e+20"}
    created = create(client, data)
    fetched = json.loads(client.get(f"{API}/{created['id']}").data)["data"]
    in_tree = json.loads(client.post(f"{API}/$tree", json={"root_id": created["id"]}).data)["data"]
    for read in (fetched, in_tree):
        assert read == data
        assert {key: type(value) for key, value in read.items()} == {key: type(value) for key, value in data.items()}
        assert type(read["nested"][0]["x"]) is float


def test_create_with_client_id_and_conflict(client):
    chosen = str(ULID())
    assert create(client, id=chosen)["id"] == chosen
    body = assert_problem(client.post(API, json={"id": chosen, "data": {}}), 409, "already-exists")
    assert chosen in body["detail"]
    assert count(client) == 1


def test_create_under_unknown_parent_is_404_and_writes_nothing(client):
    assert_problem(client.post(API, json={"parent_id": str(ULID()), "data": {}}), 404, "not-found")
    assert count(client) == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "data"),
        ({"data": "text"}, "data"),
        ({"data": [1, 2]}, "data"),
        ({"data": {}, "parent_id": "nope"}, "parent_id"),
        ({"data": {}, "id": "01ARZ3NDEKTSV4RRFFQ69G5FA"}, "id"),
        ({"data": {"s": "nul\u0000"}}, "data"),
    ],
)
def test_create_validation_errors_name_the_field(client, body, field):
    problem = assert_problem(client.post(API, json=body), 422, "validation")
    assert ["body", field] in [e["loc"][:2] for e in problem["errors"]]
    assert field in problem["detail"]
    assert count(client) == 0


def test_body_that_is_not_an_object_is_422(client):
    assert_problem(client.post(API, json=[{"data": {}}]), 422, "validation")


def test_malformed_json_is_400(client):
    response = client.post(API, data='{"data": {', content_type="application/json")
    assert "not valid JSON" in assert_problem(response, 400)["detail"]


def test_nan_literal_is_400(client):
    assert_problem(client.post(API, data='{"data": {"x": NaN}}', content_type="application/json"), 400)


def test_huge_number_that_overflows_to_infinity_is_422(client):
    assert_problem(client.post(API, data='{"data": {"x": 1e999}}', content_type="application/json"), 422)


def test_non_json_content_type_is_415(client):
    response = client.post(API, data="data=1", content_type="application/x-www-form-urlencoded")
    assert "application/json" in assert_problem(response, 415)["detail"]
    assert count(client) == 0


def test_body_too_large_is_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post(API, json={"data": {"blob": "x" * 5000}})
    assert_problem(response, 413)
    app.config["MAX_CONTENT_LENGTH"] = None
    assert count(client) == 0


def test_nesting_deeper_than_the_limit_is_422(app, client):
    deep = "[" * 300 + "]" * 300  # the default limit is 256 levels
    response = client.post(API, data='{"data": {"x": ' + deep + "}}", content_type="application/json")
    assert "nested deeper" in json.dumps(assert_problem(response, 422, "validation"))
    pathological = "[" * 100_000 + "]" * 100_000
    assert_problem(client.post(API, data=pathological, content_type="application/json"), 400)


# Read -----------------------------------------------------------------------------


def test_get_by_id_and_lowercase_id(client):
    artifact = create(client)
    assert client.get(f"{API}/{artifact['id']}").get_json() == artifact
    assert client.get(f"{API}/{artifact['id'].lower()}").get_json() == artifact


def test_get_malformed_ulid_is_400_and_unknown_is_404(client):
    assert_problem(client.get(f"{API}/not-a-ulid"), 400, "invalid-ulid")
    assert_problem(client.get(f"{API}/{ULID()}"), 404, "not-found")


def test_list_is_paginated_with_defaults(client):
    created = [create(client, {"i": i}) for i in range(3)]
    body = client.get(API).get_json()
    assert (body["total"], body["page"], body["size"], body["pages"]) == (3, 1, 50, 1)
    assert [a["id"] for a in body["items"]] == [a["id"] for a in created]


def test_list_pages_are_stable_and_complete(client):
    created = {create(client, {"i": i})["id"] for i in range(7)}
    pages = [client.get(f"{API}?page={p}&size=3").get_json() for p in (1, 2, 3, 4)]
    assert [p["pages"] for p in pages] == [3, 3, 3, 3]
    seen = [a["id"] for p in pages for a in p["items"]]
    assert len(seen) == 7 and set(seen) == created
    assert pages[3]["items"] == []


def test_list_filters(client):
    root = create(client, {"name": "alpha"})
    child = create(client, {"name": "beta"}, parent_id=root["id"])
    create(client, {"name": "gamma"})
    assert [a["id"] for a in client.get(f"{API}?parent_id={root['id']}").get_json()["items"]] == [child["id"]]
    assert client.get(f"{API}?roots=true").get_json()["total"] == 2
    assert client.get(f"{API}?level=1").get_json()["total"] == 1
    assert [a["id"] for a in client.get(f"{API}?q=bet").get_json()["items"]] == [child["id"]]


@pytest.mark.parametrize(
    "query, field",
    [("page=0", "page"), ("size=0", "size"), ("size=1001", "size"), ("page=x", "page"), ("parent_id=bad", "parent_id"),
     ("level=-1", "level")],
)
def test_list_bad_query_is_422(client, query, field):
    problem = assert_problem(client.get(f"{API}?{query}"), 422, "validation")
    assert ["query", field] in [e["loc"] for e in problem["errors"]]


# Update ---------------------------------------------------------------------------


def test_put_replaces_data_and_keeps_parent(client):
    root = create(client)
    child = create(client, parent_id=root["id"])
    response = client.put(f"{API}/{child['id']}", json={"data": {"updated": "value"}})
    assert response.status_code == 200
    body = response.get_json()
    assert body["data"] == {"updated": "value"}
    assert body["parent_id"] == root["id"] and body["created_at"] == child["created_at"]
    assert body["updated_at"] > child["updated_at"]


def test_put_moves_with_parent_id_and_recomputes_levels(client):
    a = create(client)
    b = create(client, parent_id=a["id"])
    c = create(client, parent_id=b["id"])
    other = create(client)
    moved = client.put(f"{API}/{b['id']}", json={"data": {}, "parent_id": other["id"]}).get_json()
    assert (moved["parent_id"], moved["level"]) == (other["id"], 1)
    assert client.get(f"{API}/{c['id']}").get_json()["level"] == 2
    rooted = client.put(f"{API}/{b['id']}", json={"data": {}, "parent_id": None}).get_json()
    assert (rooted["parent_id"], rooted["level"]) == (None, 0)
    assert client.get(f"{API}/{c['id']}").get_json()["level"] == 1


def test_put_cycle_is_409_and_changes_nothing(client):
    a = create(client, {"v": 1})
    b = create(client, {"v": 1}, parent_id=a["id"])
    assert_problem(client.put(f"{API}/{a['id']}", json={"data": {"v": 2}, "parent_id": b["id"]}), 409, "cycle")
    assert_problem(client.put(f"{API}/{a['id']}", json={"data": {"v": 2}, "parent_id": a["id"]}), 409, "cycle")
    assert client.get(f"{API}/{a['id']}").get_json() == a


def test_put_errors(client):
    artifact = create(client)
    assert_problem(client.put(f"{API}/bad", json={"data": {}}), 400, "invalid-ulid")
    assert_problem(client.put(f"{API}/{ULID()}", json={"data": {}}), 404, "not-found")
    assert_problem(client.put(f"{API}/{artifact['id']}", json={"nodata": 1}), 422, "validation")
    assert_problem(client.put(f"{API}/{artifact['id']}", json={"data": {}, "parent_id": str(ULID())}), 404)
    assert_problem(client.put(f"{API}/{artifact['id']}", data="x", content_type="text/plain"), 415)
    assert client.get(f"{API}/{artifact['id']}").get_json() == artifact


# Delete ---------------------------------------------------------------------------


def test_delete_leaf_is_204_then_404(client):
    artifact = create(client)
    response = client.delete(f"{API}/{artifact['id']}")
    assert response.status_code == 204 and response.data == b""
    assert_problem(client.get(f"{API}/{artifact['id']}"), 404)
    assert_problem(client.delete(f"{API}/{artifact['id']}"), 404)


def test_delete_parent_is_409_and_changes_nothing(client):
    root = create(client)
    create(client, parent_id=root["id"])
    problem = assert_problem(client.delete(f"{API}/{root['id']}"), 409, "has-children")
    assert problem["children"] == 1
    assert count(client) == 2


def test_delete_malformed_is_400(client):
    assert_problem(client.delete(f"{API}/123"), 400, "invalid-ulid")


# Versions (ETag / If-Match) -------------------------------------------------------------


def test_every_artifact_response_carries_its_version_as_etag(client):
    # Keys out of order, nested: PostgreSQL's JSONB reorders them, the version must not change.
    created = client.post(API, json={"data": {"b": 1, "a": [1.5, {"z": "é", "y": None}]}})
    etag = created.headers["ETag"]
    fetched = client.get(f"{API}/{created.get_json()['id']}")
    assert fetched.headers["ETag"] == etag
    updated = client.put(f"{API}/{created.get_json()['id']}", json={"data": {"b": 2}})
    assert updated.headers["ETag"] not in {etag, None}
    assert client.get(f"{API}/{created.get_json()['id']}").headers["ETag"] == updated.headers["ETag"]


@pytest.mark.parametrize("number", [-0.0, 1e16, -2.5e20, 1e300])
def test_the_create_etag_is_the_stored_one_for_numbers_the_database_rewrites(client, number):
    """PostgreSQL's JSONB gives -0.0 back as 0.0 (and big floats as written in full): the
    version is computed from the value as stored, so If-Match with the first ETag works."""
    created = client.post(API, json={"data": {"x": number, "nested": [{"y": number}]}})
    url, etag = f"{API}/{created.get_json()['id']}", created.headers["ETag"]
    assert client.get(url).headers["ETag"] == etag
    assert client.put(url, json={"data": {"x": 1}}, headers={"If-Match": etag}).status_code == 200


def test_versions_still_tell_different_numbers_apart(client, make_artifact):
    values = (0.0, 1.0, 1, 0.5, 1e16, 10**16, 2**70, -1e16)
    artifact = make_artifact(x=0)
    versions = {client.put(f"{API}/{artifact.id}", json={"data": {"x": value}}).headers["ETag"] for value in values}
    assert len(versions) == len(values)  # only -0.0 is normalised (to 0.0)


def test_get_with_the_current_etag_is_304(client):
    artifact = create(client)
    etag = client.get(f"{API}/{artifact['id']}").headers["ETag"]
    response = client.get(f"{API}/{artifact['id']}", headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.data == b""
    client.put(f"{API}/{artifact['id']}", json={"data": {"name": "changed"}})
    assert client.get(f"{API}/{artifact['id']}", headers={"If-None-Match": etag}).status_code == 200


def test_put_with_a_stale_if_match_is_412_and_changes_nothing(client):
    artifact = create(client, {"name": "first"})
    read = client.get(f"{API}/{artifact['id']}").headers["ETag"]
    client.put(f"{API}/{artifact['id']}", json={"data": {"name": "someone else"}}, headers={"If-Match": read})
    problem = assert_problem(
        client.put(f"{API}/{artifact['id']}", json={"data": {"name": "mine"}}, headers={"If-Match": read}),
        412,
        "changed",
    )
    current = client.get(f"{API}/{artifact['id']}")
    assert current.get_json()["data"] == {"name": "someone else"}
    assert f'"{problem["current_version"]}"' == current.headers["ETag"]


def test_if_match_accepts_the_current_version_star_or_any_listed(client):
    artifact = create(client)
    url = f"{API}/{artifact['id']}"
    etag = client.get(url).headers["ETag"]
    assert client.put(url, json={"data": {"n": 1}}, headers={"If-Match": f'"other", {etag}'}).status_code == 200
    assert client.put(url, json={"data": {"n": 2}}, headers={"If-Match": "*"}).status_code == 200
    assert client.put(url, json={"data": {"n": 2}}, headers={"If-Match": " "}).status_code == 200  # as if absent
    weak = "W/" + client.get(url).headers["ETag"]  # If-Match compares strongly: a weak tag never matches
    assert_problem(client.put(url, json={"data": {"n": 3}}, headers={"If-Match": weak}), 412, "changed")


def test_a_move_changes_the_version_of_the_moved_artifact(client):
    root, other = create(client), create(client)
    child = create(client, parent_id=root["id"])
    etag = client.get(f"{API}/{child['id']}").headers["ETag"]
    client.put(f"{API}/{child['id']}", json={"data": child["data"], "parent_id": other["id"]})
    assert_problem(client.delete(f"{API}/{child['id']}", headers={"If-Match": etag}), 412, "changed")
    assert count(client) == 3


def test_delete_with_if_match(client):
    artifact = create(client)
    url = f"{API}/{artifact['id']}"
    assert_problem(client.delete(url, headers={"If-Match": '"0123"'}), 412, "changed")
    assert client.get(url).status_code == 200
    assert client.delete(url, headers={"If-Match": client.get(url).headers["ETag"]}).status_code == 204


# Trees ----------------------------------------------------------------------------


@pytest.fixture
def lineage(client):
    experiment = create(client, {"experiment_name": "weather_forecast"})
    model_v1 = create(client, {"model_type": "LinearRegression"}, parent_id=experiment["id"])
    model_v2 = create(client, {"model_type": "Ridge"}, parent_id=experiment["id"])
    predictions = create(client, {"num_predictions": 1000}, parent_id=model_v1["id"])
    return experiment, model_v1, model_v2, predictions


def test_tree_post_and_get_agree(client, lineage):
    experiment, model_v1, model_v2, predictions = lineage
    posted = client.post(f"{API}/$tree", json={"root_id": experiment["id"]})
    assert posted.status_code == 200
    tree = posted.get_json()
    assert (tree["id"], tree["level"], tree["level_label"], tree["hierarchy"]) == (
        experiment["id"], 0, "experiment", "ml_pipeline"
    )
    assert [c["id"] for c in tree["children"]] == [model_v1["id"], model_v2["id"]]
    assert tree["children"][0]["children"][0]["id"] == predictions["id"]
    assert tree["children"][0]["children"][0]["level_label"] == "predictions"
    assert tree["children"][1]["children"] == []
    assert client.get(f"{API}/{experiment['id']}/$tree").get_json() == tree


def test_tree_max_depth(client, lineage):
    experiment = lineage[0]
    shallow = client.post(f"{API}/$tree", json={"root_id": experiment["id"], "max_depth": 1}).get_json()
    assert len(shallow["children"]) == 2 and all(c["children"] == [] for c in shallow["children"])
    assert client.get(f"{API}/{experiment['id']}/$tree?max_depth=1").get_json() == shallow
    assert client.post(f"{API}/$tree", json={"root_id": experiment["id"], "max_depth": 0}).get_json()["children"] == []


def test_tree_of_a_subtree(client, lineage):
    model_v1, predictions = lineage[1], lineage[3]
    tree = client.post(f"{API}/$tree", json={"root_id": model_v1["id"]}).get_json()
    assert tree["level"] == 1 and [c["id"] for c in tree["children"]] == [predictions["id"]]


def test_tree_errors(client):
    assert_problem(client.post(f"{API}/$tree", json={"root_id": str(ULID())}), 404, "not-found")
    assert_problem(client.post(f"{API}/$tree", json={"root_id": "bad"}), 422, "validation")
    assert_problem(client.post(f"{API}/$tree", json={}), 422, "validation")
    assert_problem(client.post(f"{API}/$tree", json={"root_id": str(ULID()), "max_depth": -1}), 422)
    assert_problem(client.get(f"{API}/bad/$tree"), 400, "invalid-ulid")
    assert_problem(client.get(f"{API}/{ULID()}/$tree"), 404)
    assert_problem(client.get(f"{API}/{ULID()}/$tree?max_depth=x"), 422)


def test_expand_post_and_get_agree(client, lineage):
    experiment, model_v1, _, predictions = lineage
    expanded = client.post(f"{API}/$expand", json={"artifact_id": model_v1["id"]})
    assert expanded.status_code == 200
    body = expanded.get_json()
    assert body["id"] == model_v1["id"] and body["level_label"] == "model"
    assert [a["id"] for a in body["ancestors"]] == [experiment["id"]]
    assert [c["id"] for c in body["children"]] == [predictions["id"]]
    assert client.get(f"{API}/{model_v1['id']}/$expand").get_json() == body
    leaf = client.get(f"{API}/{predictions['id']}/$expand").get_json()
    assert [a["id"] for a in leaf["ancestors"]] == [experiment["id"], model_v1["id"]]


def test_expand_errors(client):
    assert_problem(client.post(f"{API}/$expand", json={"artifact_id": str(ULID())}), 404)
    assert_problem(client.post(f"{API}/$expand", json={"artifact_id": 5}), 422)
    assert_problem(client.get(f"{API}/nope/$expand"), 400)


# Service endpoints --------------------------------------------------------------------------


def test_health_reports_database_and_schema(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"
    assert client.get("/api/v1/health").get_json()["status"] == "healthy"


def test_unknown_api_route_and_wrong_method_are_problems(client):
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    response = client.patch(f"{API}/{ULID()}", json={})
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_openapi_document_is_generated_from_the_models(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    for path in ("/api/v1/artifacts", "/api/v1/artifacts/{artifact_id}", "/api/v1/artifacts/$tree",
                 "/api/v1/artifacts/$expand", "/api/v1/artifacts/{artifact_id}/$tree"):
        assert path in document["paths"]
    schemas = document["components"]["schemas"]
    assert schemas["ArtifactIn"]["required"] == ["data"]
    assert "children" in schemas["ArtifactTreeNode"]["properties"]
    assert set(schemas["SearchPage"]["required"]) == {"items", "total", "page", "size", "pages"}


def test_docs_page_is_served_offline(client):
    page = client.get("/static/docs/index.html")
    assert page.status_code == 200
    assert b"swagger-ui-bundle.js" in page.data and b"http" not in page.data.split(b"<body>")[1]
    assert client.get("/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js").status_code == 200
    assert client.get("/api/v1/docs").headers["Location"].endswith("/static/docs/index.html")


def test_tree_and_expand_posts_do_not_take_the_write_lock(app, client):
    """$tree and $expand are queries: they must not queue behind (or block) writers."""
    from sqlalchemy import event

    root = create(client)
    begins: list[bool] = []
    with app.app_context():
        from webapp.extensions import db

        engine = db.engine

    def record(connection):
        begins.append(bool(connection.get_execution_options().get("sqlite_write")))

    event.listen(engine, "begin", record)
    try:
        client.post(f"{API}/$tree", json={"root_id": root["id"]})
        client.post(f"{API}/$expand", json={"artifact_id": root["id"]})
        assert begins and not any(begins)
        client.post(API, json={"data": {}})
        assert begins[-1] is True
    finally:
        event.remove(engine, "begin", record)


def deep_json(raw: bytes):
    """Parse JSON nested deeper than the default recursion limit allows."""
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        return json.loads(raw)
    finally:
        sys.setrecursionlimit(limit)


def test_trees_of_any_depth_are_answered(client, manager, make_artifact):
    """A 1,200-level chain (version after version) is deeper than any recursive JSON encoder goes."""
    chain = [make_artifact(i=0)]
    for i in range(1, 1200):
        chain.append(make_artifact(parent=chain[-1], i=i))
    tree = client.post(f"{API}/$tree", json={"root_id": str(chain[0].id)})
    assert tree.status_code == 200
    node, depth = deep_json(tree.data), 0
    while node["children"]:
        (node,) = node["children"]
        depth += 1
    assert (depth, node["data"], node["level"]) == (1199, {"i": 1199}, 1199)
    expanded = deep_json(client.get(f"{API}/{chain[600].id}/$expand").data)
    assert len(expanded["ancestors"]) == 600 and expanded["children"][0]["data"] == {"i": 601}
