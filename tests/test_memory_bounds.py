"""Bounded memory: listings and trees carry at most MAX_ITEM_DATA_BYTES of each artifact's data,
cut in SQL, while the artifact's own GET has all of it."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.html import html
from tests.support.problems import assert_problem
from webapp.frames import parse_csv, rows_of, to_pandas

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


def test_breadcrumbs_carry_a_stand_in_for_a_huge_ancestor(client, store, family):
    big, small, _ = family
    with store.reading():
        [root] = store.artifacts.ancestors(small["id"])
        rows = store.artifacts.repo.ancestors(str(small["id"]))
    assert root.data == stand_in(big["id"], text_size(big["data"]), name="huge run")
    assert {len(row.data) for row in rows} <= set(range(CAP + 1))  # cut in SQL
    page = client.get(f"/artifacts/{small['id']}")
    assert page.status_code == 200 and "huge run" in page.text and "x" * 1000 not in page.text


@pytest.mark.app_config(MAX_ITEM_DATA_BYTES=0)
def test_no_cap_when_the_setting_is_zero(client, family):
    big, _, _ = family
    items = client.get("/api/v1/artifacts").get_json()["items"]
    assert next(item for item in items if item["id"] == big["id"])["data"] == big["data"]


# CSV files are read a block at a time --------------------------------------------------


def csv_upload(client, content: bytes, path: str = "/api/v1/artifacts/$upload"):
    return client.post(path, data={"file": (io.BytesIO(content), "rows.csv")}, content_type="multipart/form-data")


def whole_file_read(content: bytes) -> pd.DataFrame:
    """How pandas reads the file all at once: what reading it a block at a time must give."""
    return pd.read_csv(io.BytesIO(content))


@pytest.mark.parametrize(
    ("late_value", "dtype"),
    [("x", "str"), ("2.5", "float64"), ("", "int64")],  # "": a missing value; the rows before are whole numbers
)
def test_a_value_past_the_first_block_widens_its_column(late_value, dtype):
    rows = [f"{number},{number % 7},name {number}" for number in range(5_000)]
    rows[4_321] = f"4321,{late_value},name 4321"  # far beyond the first 1 KiB block
    content = ("id,score,name\n" + "\n".join(rows) + "\n").encode()
    parsed = parse_csv(io.BytesIO(content), "rows.csv", block_bytes=1024)
    expected_dtype = "float64" if late_value == "" else dtype  # pandas: a gap makes a number column float
    assert parsed.dtypes["score"] == expected_dtype
    assert parsed.dtypes["id"] == "int64" and parsed.row_count == 5_000
    read = to_pandas(parsed.table)
    expected = whole_file_read(content)
    assert read["score"].astype(str).tolist() == expected["score"].astype(str).tolist()
    assert read["id"].tolist() == expected["id"].tolist()


def test_a_column_empty_in_the_first_block_gets_the_type_of_its_later_values():
    content = ("a,b\n" + "1,\n" * 2_000 + "2,3.5\n").encode()
    parsed = parse_csv(io.BytesIO(content), "gaps.csv", block_bytes=1024)
    assert parsed.dtypes == {"a": "int64", "b": "float64"}
    assert rows_of(parsed.table.slice(2_000)) == [[2, 3.5]]


def test_the_stored_file_has_row_groups_a_page_can_read_alone():
    content = ("n\n" + "\n".join(str(number) for number in range(200_000)) + "\n").encode()
    parsed = parse_csv(io.BytesIO(content), "n.csv", block_bytes=64 * 1024)
    metadata = pq.ParquetFile(pa.BufferReader(parsed.content)).metadata
    assert metadata.num_rows == 200_000 and metadata.num_row_groups > 1
    assert max(metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)) <= 64 * 1024
    assert parsed.summary is not None  # describe() of all rows, read back a column at a time
    summary = dict(zip(parsed.summary["columns"], zip(*parsed.summary["data"], strict=True), strict=True))
    assert dict(zip(summary["statistic"], summary["n"], strict=True))["max"] == 199_999


@pytest.mark.app_config(MAX_TABLE_ROWS=1_000)
def test_more_rows_than_max_table_rows_are_refused_and_store_nothing(client):
    content = ("a,b\n" + "1,2\n" * 1_001).encode()
    body = assert_problem(csv_upload(client, content), 413, "too-many-rows")
    assert "more than 1,000 rows" in body["detail"] and "MAX_TABLE_ROWS" in body["detail"]
    page = csv_upload(client, content, "/artifacts/upload")
    assert page.status_code == 413 and "more than 1,000 rows" in html(page).get_text()
    assert client.get("/api/v1/artifacts").get_json()["total"] == 0
    assert csv_upload(client, ("a,b\n" + "1,2\n" * 1_000).encode()).status_code == 201


# Sorting a table too big to decode whole ------------------------------------------------


@pytest.mark.app_config(FRAME_CACHE_BYTES=64 * 1024)  # no table fits: pages read row groups one by one
def test_sorted_pages_of_a_table_never_decoded_whole_match_pandas(client):
    numbers = [(number * 7_919) % 100_003 for number in range(150_000)]
    lines = [f"{value},{'' if value % 11 == 0 else value % 97},t{value % 13}" for value in numbers]
    content = ("key,score,tag\n" + "\n".join(lines) + "\n").encode()
    created = csv_upload(client, content).get_json()
    rows = f"/api/v1/artifacts/{created['id']}/frame/rows"
    expected = whole_file_read(content)
    for column, order, page in [("score", "desc", 1), ("score", "asc", 1_500), ("tag", "asc", 733), ("key", "desc", 40)]:
        got = client.get(f"{rows}?sort={column}&order={order}&page={page}&size=100").get_json()
        ranked = expected.sort_values(column, ascending=order == "asc", kind="stable", na_position="last")
        want = ranked.iloc[(page - 1) * 100 : page * 100]
        assert [row[0] for row in got["data"]] == want["key"].tolist(), (column, order, page)
