"""Bounded memory: listings and trees carry at most MAX_ITEM_DATA_BYTES of each artifact's data,
cut in SQL, while the artifact's own GET has all of it."""

from __future__ import annotations

import json

import pytest

CAP = 2_000
pytestmark = pytest.mark.app_config(MAX_ITEM_DATA_BYTES=CAP)


@pytest.fixture
def family(client):
    """A root holding ~50 KB of data, a small child, and a big child whose name is not text."""
    big = client.post("/api/v1/artifacts", json={"data": {"name": "huge run", "blob": "x" * 50_000}}).get_json()
    small = client.post("/api/v1/artifacts", json={"parent_id": big["id"], "data": {"name": "small"}}).get_json()
    odd = client.post(
        "/api/v1/artifacts", json={"parent_id": big["id"], "data": {"name": {"nested": 1}, "blob": "é" * 5_000}}
    ).get_json()
    return big, small, odd


def stand_in(artifact_id: str, size: int, **name: str) -> dict:
    return {**name, "$truncated": {"bytes": size, "limit": CAP, "href": f"/api/v1/artifacts/{artifact_id}"}}


def text_size(data: dict) -> int:
    """The bytes the databases count: the data as JSON text (PostgreSQL writes ", " and ": ")."""
    return len(json.dumps(data, ensure_ascii=False).encode())


def test_list_items_carry_a_stand_in_for_data_over_the_cap(client, family):
    big, small, odd = family
    items = {item["id"]: item for item in client.get("/api/v1/artifacts?size=1000").get_json()["items"]}
    assert items[big["id"]]["data"] == stand_in(big["id"], text_size(big["data"]), name="huge run")
    assert items[small["id"]]["data"] == {"name": "small"}  # under the cap: as stored
    assert items[odd["id"]]["data"] == stand_in(odd["id"], text_size(odd["data"]))  # no text name to keep
    assert items[odd["id"]]["data"]["$truncated"]["bytes"] > 10_000  # bytes, not characters


def test_the_artifact_itself_keeps_all_of_its_data(client, family):
    big, _, _ = family
    assert client.get(f"/api/v1/artifacts/{big['id']}").get_json()["data"]["blob"] == "x" * 50_000
    href = client.get("/api/v1/artifacts").get_json()["items"][0]["data"]["$truncated"]["href"]
    assert client.get(href).get_json()["data"] == big["data"]  # the stand-in links to it


def test_trees_and_expansions_are_capped_too(client, family):
    big, small, odd = family
    tree = client.get(f"/api/v1/artifacts/{big['id']}/$tree").get_json()
    assert tree["data"] == stand_in(big["id"], text_size(big["data"]), name="huge run")
    children = {child["id"]: child["data"] for child in tree["children"]}
    assert children == {small["id"]: {"name": "small"}, odd["id"]: stand_in(odd["id"], text_size(odd["data"]))}
    expansion = client.get(f"/api/v1/artifacts/{small['id']}/$expand").get_json()
    assert expansion["ancestors"][0]["data"] == stand_in(big["id"], text_size(big["data"]), name="huge run")
    assert len(client.get(f"/api/v1/artifacts/{big['id']}/$tree").data) < 3 * CAP


def test_pages_list_huge_artifacts_by_name_without_their_data(client, family):
    big, _, _ = family
    home = client.get("/")
    assert home.status_code == 200
    assert "huge run" in home.text and "x" * 1000 not in home.text
    assert "data too large to list here" in home.text
    children = client.get(f"/artifacts/{big['id']}/children", headers={"HX-Request": "true"})
    assert children.status_code == 200 and "small" in children.text
    assert "é" * 1000 not in children.text and "data too large to list here" in children.text


def test_rows_over_the_cap_never_leave_the_database(store, family):
    """The cut happens in SQL: no row a listing reads carries more than the stand-in."""
    big, _, _ = family
    with store.reading():
        rows, _ = store.artifacts.repo.page(offset=0, limit=1000)
        subtree = store.artifacts.repo.subtree_rows(str(big["id"]))
    assert {len(row.data) for row in rows} | {len(row.data) for row in subtree} <= set(range(CAP + 1))


@pytest.mark.app_config(MAX_ITEM_DATA_BYTES=0)
def test_no_cap_when_the_setting_is_zero(client, family):
    big, _, _ = family
    items = client.get("/api/v1/artifacts").get_json()["items"]
    assert next(item for item in items if item["id"] == big["id"])["data"] == big["data"]
