"""The history API: $history, $diff, $revert, $restore, $deleted and as_of reads."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.problems import assert_problem

API = "/api/v1/artifacts"


def create(client: Any, data: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
    response = client.post(API, json={"data": data, "parent_id": parent})
    assert response.status_code == 201
    return response.get_json()


def put(client: Any, artifact: dict[str, Any], data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    response = client.put(f"{API}/{artifact['id']}", json={"data": data, **extra})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def history(client: Any, artifact_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{API}/{artifact_id}/$history", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_every_change_is_a_revision_newest_first(client):
    root = create(client, {"name": "run"})
    assert root["revision"] == 1
    assert put(client, root, {"name": "run", "rmse": 0.31})["revision"] == 2
    other = create(client, {"name": "other"})
    moved = put(client, root, {"name": "run", "rmse": 0.31}, parent_id=other["id"])
    assert moved["revision"] == 3
    page = history(client, root["id"])
    assert [(r["revision"], r["action"]) for r in page["items"]] == [(3, "moved"), (2, "updated"), (1, "created")]
    assert page["total"] == 3 and page["pages"] == 1
    newest = page["items"][0]
    assert newest["parent_id"] == other["id"] and newest["level"] == 1
    assert newest["actor"] == {"user": None, "token": None, "address": "127.0.0.1"}  # anonymous (AUTH_ANONYMOUS=write): its address
    assert newest["at"].endswith("Z") and "." in newest["at"]  # to the microsecond
    assert history(client, root["id"], size=1, page=2)["items"][0]["revision"] == 2


def test_a_write_that_changes_nothing_writes_no_revision(client):
    artifact = create(client, {"b": 1, "a": [1, 2]})
    same = put(client, artifact, {"a": [1, 2], "b": 1})
    assert same["revision"] == 1 and same["updated_at"] == artifact["updated_at"]
    assert history(client, artifact["id"])["total"] == 1


def test_one_revision_and_its_problems(client):
    artifact = create(client, {"v": 1})
    put(client, artifact, {"v": 2})
    response = client.get(f"{API}/{artifact['id']}/$history/1")
    assert response.status_code == 200
    assert response.get_json()["data"] == {"v": 1} and response.get_json()["action"] == "created"
    assert_problem(client.get(f"{API}/{artifact['id']}/$history/3"), 404, "revision-not-found")
    assert client.get(f"{API}/{artifact['id']}/$history/0").status_code == 404
    assert client.get(f"{API}/{artifact['id']}/$history/99999999999").status_code == 404
    assert_problem(client.get(f"{API}/01M8TVCFAJR1J6X0ZRVJDDHBGE/$history"), 404, "not-found")
    assert_problem(client.get(f"{API}/nope/$history"), 400, "invalid-ulid")


def test_diff_defaults_to_the_previous_revision_against_the_current(client):
    artifact = create(client, {"metrics": {"rmse": 0.31}, "notes": "one\ntwo\nthree", "tags": ["a"]})
    put(client, artifact, {"metrics": {"rmse": 0.27}, "notes": "one\n2\nthree", "owner": "x"})
    response = client.get(f"{API}/{artifact['id']}/$diff")
    assert response.status_code == 200
    diff = response.get_json()
    assert diff["from"] == {"id": artifact["id"], "revision": 1}
    assert diff["to"] == {"id": artifact["id"], "revision": 2}
    changes = {change["path"]: change for change in diff["changes"]}
    assert changes["/metrics/rmse"] == {"path": "/metrics/rmse", "op": "replace", "old": 0.31, "new": 0.27}
    assert changes["/tags"] == {"path": "/tags", "op": "remove", "old": ["a"]}
    assert changes["/owner"] == {"path": "/owner", "op": "add", "new": "x"}
    assert changes["/notes"]["line_diff"] == ["@@ -1,3 +1,3 @@", " one", "-two", "+2", " three"]
    assert {"op": "replace", "path": "/metrics/rmse", "value": 0.27} in diff["patch"]
    backwards = client.get(f"{API}/{artifact['id']}/$diff", query_string={"from": 2, "to": 1}).get_json()
    assert {"op": "add", "path": "/tags", "value": ["a"]} in backwards["patch"]
    assert_problem(client.get(f"{API}/{artifact['id']}/$diff", query_string={"from": 7}), 404, "revision-not-found")
    assert_problem(client.get(f"{API}/{artifact['id']}/$diff", query_string={"to": "x"}), 422, "validation")


def test_diff_of_two_artifacts_compares_their_current_data(client):
    a = create(client, {"model": "v1", "score": 1})
    b = create(client, {"model": "v2", "score": 1})
    diff = client.get(f"{API}/$diff", query_string={"a": a["id"], "b": b["id"]}).get_json()
    assert diff["from"] == {"id": a["id"], "revision": 1} and diff["to"] == {"id": b["id"], "revision": 1}
    assert diff["patch"] == [{"op": "replace", "path": "/model", "value": "v2"}]
    assert "frame" not in diff
    assert_problem(client.get(f"{API}/$diff", query_string={"a": a["id"]}), 422, "validation")
    assert_problem(client.get(f"{API}/$diff", query_string={"a": a["id"], "b": "01M8TVCFAJR1J6X0ZRVJDDHBGE"}), 404)


def _upload(client: Any, csv: str) -> dict[str, Any]:
    response = client.post(
        f"{API}/$upload", data={"file": (io.BytesIO(csv.encode()), "t.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_diff_of_two_tables_by_key(client):
    old = _upload(client, "id,score,city\n1,0.5,Oslo\n2,0.7,Rome\n3,0.9,Pisa\n")
    new = _upload(client, "id,score,town\n2,0.7,Rome\n3,1.5,Pisa\n4,0.1,Bern\n")
    diff = client.get(f"{API}/$diff", query_string={"a": old["id"], "b": new["id"], "key": "id"}).get_json()
    frame = diff["frame"]
    assert frame["columns_added"] == ["town"] and frame["columns_removed"] == ["city"]
    assert frame["rows"] == {"from": 3, "to": 3}
    assert frame["added"] == {"count": 1, "sample": [{"id": 4, "score": 0.1, "town": "Bern"}]}
    assert frame["removed"] == {"count": 1, "sample": [{"id": 1, "score": 0.5, "city": "Oslo"}]}
    assert frame["changed"] == {"count": 1, "sample": [{"key": 3, "cells": {"score": [0.9, 1.5]}}]}
    refused = client.get(f"{API}/$diff", query_string={"a": old["id"], "b": new["id"], "key": "city"})
    assert_problem(refused, 422, "validation")


def test_revert_makes_a_new_revision_with_the_old_data_and_parent(client):
    first, second = create(client, {"n": "first"}), create(client, {"n": "second"})
    child = create(client, {"v": 1}, parent=first["id"])
    put(client, child, {"v": 2}, parent_id=second["id"])
    current = client.get(f"{API}/{child['id']}")
    stale = client.post(f"{API}/{child['id']}/$revert", json={"revision": 1}, headers={"If-Match": '"nope"'})
    assert_problem(stale, 412, "changed")
    response = client.post(f"{API}/{child['id']}/$revert", json={"revision": 1}, headers={"If-Match": current.headers["ETag"]})
    assert response.status_code == 200
    reverted = response.get_json()
    assert reverted["revision"] == 3 and reverted["data"] == {"v": 1} and reverted["parent_id"] == first["id"]
    assert response.headers["ETag"].strip('"') != current.headers["ETag"].strip('"')
    assert history(client, child["id"])["items"][0]["action"] == "reverted"
    again = client.post(f"{API}/{child['id']}/$revert", json={"revision": 1})
    assert again.get_json()["revision"] == 3  # nothing changes, no revision
    assert_problem(client.post(f"{API}/{child['id']}/$revert", json={"revision": 9}), 404, "revision-not-found")
    assert_problem(client.post(f"{API}/{child['id']}/$revert", json={"revision": "1"}), 422, "validation")


def test_revert_to_a_parent_that_is_gone_is_a_conflict_naming_it(client):
    parent, other = create(client, {"n": "p"}), create(client, {"n": "o"})
    child = create(client, {"v": 1}, parent=parent["id"])
    put(client, child, {"v": 1}, parent_id=other["id"])
    assert client.delete(f"{API}/{parent['id']}").status_code == 204
    body = assert_problem(client.post(f"{API}/{child['id']}/$revert", json={"revision": 1}), 409, "parent-gone")
    assert body["parent_id"] == parent["id"]


def test_delete_keeps_the_history_and_restore_brings_it_back(client):
    parent = create(client, {"n": "p"})
    child = create(client, {"v": 1}, parent=parent["id"])
    assert client.delete(f"{API}/{child['id']}").status_code == 204
    assert_problem(client.get(f"{API}/{child['id']}"), 404, "not-found")
    assert [r["action"] for r in history(client, child["id"])["items"]] == ["deleted", "created"]
    deleted = client.get(f"{API}/$deleted").get_json()
    assert [item["id"] for item in deleted["items"]] == [child["id"]]
    assert deleted["items"][0]["data"] == {"v": 1} and deleted["items"][0]["deleted_by"]["user"] is None
    assert deleted["items"][0]["deleted_at"]
    response = client.post(f"{API}/{child['id']}/$restore")
    assert response.status_code == 200
    restored = response.get_json()
    assert restored["id"] == child["id"] and restored["parent_id"] == parent["id"] and restored["revision"] == 3
    assert restored["created_at"] == child["created_at"]
    assert client.get(f"{API}/{child['id']}").status_code == 200
    assert client.get(f"{API}/$deleted").get_json()["items"] == []
    assert_problem(client.post(f"{API}/{child['id']}/$restore"), 409, "not-deleted")
    assert_problem(client.post(f"{API}/01M8TVCFAJR1J6X0ZRVJDDHBGE/$restore"), 404, "not-found")


def test_restore_under_a_deleted_parent_is_a_conflict_naming_it(client):
    parent = create(client, {"n": "p"})
    child = create(client, {"v": 1}, parent=parent["id"])
    client.delete(f"{API}/{child['id']}")
    client.delete(f"{API}/{parent['id']}")
    deleted = client.get(f"{API}/$deleted").get_json()["items"]
    assert [item["id"] for item in deleted] == [parent["id"], child["id"]]  # newest first
    body = assert_problem(client.post(f"{API}/{child['id']}/$restore"), 409, "parent-gone")
    assert body["parent_id"] == parent["id"]
    assert client.post(f"{API}/{parent['id']}/$restore").status_code == 200
    assert client.post(f"{API}/{child['id']}/$restore").status_code == 200


def _moment(text: str, offset: timedelta = timedelta()) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) + offset


def test_as_of_reads_an_artifact_as_it_was(client):
    artifact = create(client, {"v": 1})
    updated = put(client, artifact, {"v": 2})
    created_at = _moment(artifact["created_at"])
    between = created_at + (_moment(updated["updated_at"]) - created_at) / 2
    response = client.get(f"{API}/{artifact['id']}", query_string={"as_of": between.isoformat()})
    assert response.status_code == 200
    assert response.get_json()["data"] == {"v": 1} and response.get_json()["revision"] == 1
    # The same moment written with Z, and in another zone's offset.
    as_z = between.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert client.get(f"{API}/{artifact['id']}", query_string={"as_of": as_z}).get_json()["revision"] == 1
    in_paris = between.astimezone(__import__("datetime").timezone(timedelta(hours=1))).isoformat()
    assert client.get(f"{API}/{artifact['id']}", query_string={"as_of": in_paris}).get_json()["revision"] == 1
    later = (_moment(updated["updated_at"]) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # no fraction
    assert client.get(f"{API}/{artifact['id']}", query_string={"as_of": later}).get_json()["data"] == {"v": 2}
    before = (created_at - timedelta(seconds=1)).isoformat()
    assert_problem(client.get(f"{API}/{artifact['id']}", query_string={"as_of": before}), 404, "not-found")
    for bad in ("yesterday", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+14:00"):
        assert_problem(client.get(f"{API}/{artifact['id']}", query_string={"as_of": bad}), 422, "validation")


def test_as_of_tree_and_expand_show_the_tree_as_it_was(client):
    root = create(client, {"n": "root"})
    child = create(client, {"n": "child"}, parent=root["id"])
    grandchild = create(client, {"n": "grandchild"}, parent=child["id"])
    moment = _moment(grandchild["created_at"]).isoformat()
    put(client, child, {"n": "child"}, parent_id=None)  # a root now; the grandchild moves up with it
    client.delete(f"{API}/{grandchild['id']}")
    now_tree = client.get(f"{API}/{root['id']}/$tree").get_json()
    assert now_tree["children"] == []
    then = client.get(f"{API}/{root['id']}/$tree", query_string={"as_of": moment}).get_json()
    assert [c["id"] for c in then["children"]] == [child["id"]]
    assert [(g["id"], g["level"]) for g in then["children"][0]["children"]] == [(grandchild["id"], 2)]
    posted = client.post(f"{API}/$tree", json={"root_id": root["id"], "max_depth": 1}, query_string={"as_of": moment})
    assert posted.get_json()["children"][0]["children"] == []
    expanded = client.get(f"{API}/{grandchild['id']}/$expand", query_string={"as_of": moment}).get_json()
    assert [a["id"] for a in expanded["ancestors"]] == [root["id"], child["id"]]
    assert expanded["revision"] == 1 and expanded["level_label"]
    posted = client.post(f"{API}/$expand", json={"artifact_id": grandchild["id"]}, query_string={"as_of": moment})
    assert posted.status_code == 200
    assert_problem(client.get(f"{API}/{grandchild['id']}/$expand", query_string={"as_of": "2000-01-01T00:00:00Z"}), 404)
    assert_problem(client.get(f"{API}/{root['id']}/$tree", query_string={"as_of": "soon"}), 422, "validation")


@pytest.mark.parametrize("size", [0, 10**6])
def test_history_pages_refuse_bad_sizes(client, size):
    artifact = create(client, {"v": 1})
    assert_problem(client.get(f"{API}/{artifact['id']}/$history", query_string={"size": size}), 422, "validation")
    assert_problem(client.get(f"{API}/$deleted", query_string={"size": size}), 422, "validation")
