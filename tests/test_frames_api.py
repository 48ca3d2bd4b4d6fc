"""The tables API: multipart CSV upload, pages of rows, CSV and JSON downloads."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
import requests

from tests.support.downloads import download_names
from tests.support.frames import BAD_FILES, SAMPLE_DTYPES, SAMPLE_ROWS, expected_frame, frame_count, sample_csv
from tests.support.problems import assert_problem
from tests.support.servers import gunicorn_server
from webapp.artifacts import ArtifactIn, PandasDataFrame
from webapp.artifacts.schemas import restore_dtypes
from webapp.extensions import db

API = "/api/v1/artifacts"
UPLOAD = f"{API}/$upload"


def post_csv(client: Any, content: bytes, name: str = "sample.csv", field: str = "file", **form: str) -> Any:
    return client.post(UPLOAD, data={field: (io.BytesIO(content), name), **form}, content_type="multipart/form-data")


def stored(app: Any) -> tuple[int, int]:
    """(artifacts, stored frames) in the database."""
    with app.app_context():
        count = db.session.execute(db.text("SELECT count(*) FROM artifacts")).scalar()
        return count, frame_count(db.session)


@pytest.fixture
def uploaded(client: Any) -> dict[str, Any]:
    response = post_csv(client, sample_csv())
    assert response.status_code == 201
    return response.get_json()


# Upload -------------------------------------------------------------------------------------


def test_upload_creates_an_artifact_and_answers_201_with_its_location(app, client):
    content = sample_csv()
    response = post_csv(client, content, name="sales.csv")
    assert response.status_code == 201 and response.mimetype == "application/json"
    body = response.get_json()
    assert response.headers["Location"].endswith(f"{API}/{body['id']}")
    assert (body["level"], body["parent_id"]) == (0, None)
    assert body["data"]["source"]["file_name"] == "sales.csv"
    assert body["data"]["source"]["size_bytes"] == len(content)
    assert body["data"]["frame"]["dtypes"] == SAMPLE_DTYPES
    fetched = client.get(response.headers["Location"])
    assert fetched.get_json() == body
    assert fetched.headers["ETag"] == response.headers["ETag"]
    assert stored(app) == (1, 1)


def test_upload_as_a_child(client, make_artifact):
    parent = make_artifact(name="experiment")
    response = post_csv(client, sample_csv(), parent_id=str(parent.id))
    assert response.status_code == 201
    assert (response.get_json()["parent_id"], response.get_json()["level"]) == (str(parent.id), 1)


@pytest.mark.parametrize("content, message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_files_get_a_problem_and_create_nothing(app, client, content, message):
    body = assert_problem(post_csv(client, content), 422, "invalid-csv")
    assert message in body["detail"]
    assert stored(app) == (0, 0)


def test_a_wrong_field_name_is_named_in_the_problem(app, client):
    body = assert_problem(post_csv(client, sample_csv(), field="upload"), 422, "validation")
    assert [error["loc"] for error in body["errors"]] == [["body", "file"], ["body", "upload"]]
    assert body["errors"][0] == {"loc": ["body", "file"], "msg": "Field required", "type": "missing"}
    assert "'file'" in body["detail"] and "fields sent: upload" in body["detail"]
    assert stored(app) == (0, 0)


@pytest.mark.parametrize(
    "form, field",
    [
        ({"parentid": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "parentid"),  # misspelt: must not make a root
        ({"parent_id": ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAW"]}, "parent_id"),
        ({"file": (io.BytesIO(b"x,y\n1,2\n"), "second.csv")}, "file"),
    ],
    ids=["unknown field", "parent_id twice", "two files"],
)
def test_unexpected_or_repeated_fields_are_refused(app, client, form, field):
    data = {"file": [(io.BytesIO(sample_csv()), "sample.csv")]}
    for name, value in form.items():
        data.setdefault(name, [])
        data[name] += value if isinstance(value, list) else [value]
    body = assert_problem(client.post(UPLOAD, data=data, content_type="multipart/form-data"), 422, "validation")
    assert [error["loc"] for error in body["errors"]] == [["body", field]]
    assert stored(app) == (0, 0)


def test_parts_without_a_name_are_refused(app, client):
    body = (
        b"--b\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n"
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\na,b\n1,2\n\r\n--b--\r\n'
    )
    problem = assert_problem(client.post(UPLOAD, data=body, content_type="multipart/form-data; boundary=b"), 422)
    assert problem["errors"][0]["loc"] == ["body", "None"]
    assert stored(app) == (0, 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"file": "a,b\n1,2\n"}},
        {"data": b"a,b\n1,2\n", "content_type": "text/csv"},
        {},
    ],
    ids=["json", "raw csv", "no body"],
)
def test_a_body_that_is_not_multipart_is_415(app, client, kwargs):
    body = assert_problem(client.post(UPLOAD, **kwargs), 415)
    assert "multipart/form-data" in body["detail"]
    assert stored(app) == (0, 0)


@pytest.mark.app_config(MAX_UPLOAD_BYTES=1000)
def test_files_above_the_upload_limit_are_413_and_create_nothing(app, client):
    # A little over the limit: the service counts the file's bytes.
    body = assert_problem(post_csv(client, b"a,b\n" + b"1,2\n" * 250), 413, "too-large")
    assert "1,000 bytes" in body["detail"]
    # Far over it: refused from Content-Length, before the body is read.
    assert_problem(post_csv(client, sample_csv(rows=5000)), 413)
    assert stored(app) == (0, 0)
    assert post_csv(client, b"a,b\n1,2\n").status_code == 201


def test_a_json_body_keeps_the_smaller_json_limit(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    assert_problem(client.post(API, json={"data": {"text": "x" * 2000}}), 413)
    assert post_csv(client, sample_csv()).status_code == 201  # uploads have their own limit


def test_unknown_and_malformed_parents(app, client):
    assert_problem(post_csv(client, sample_csv(), parent_id="01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not-found")
    assert_problem(post_csv(client, sample_csv(), parent_id="nope"), 400, "invalid-ulid")
    assert_problem(post_csv(client, sample_csv(), parent_id=""), 400, "invalid-ulid")
    assert stored(app) == (0, 0)


def test_upload_url_takes_only_post(client):
    response = client.get(UPLOAD)
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


# Downloads ------------------------------------------------------------------------------------


def test_csv_download_reads_back_into_an_equal_frame(client, uploaded):
    response = client.get(f"{API}/{uploaded['id']}/frame.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == "attachment; filename=sample.csv"
    frame = restore_dtypes(pd.read_csv(io.BytesIO(response.data)), uploaded["data"]["frame"]["dtypes"])
    pd.testing.assert_frame_equal(frame, expected_frame(), check_exact=True)


def test_json_download_is_a_pandas_dataframe_that_reads_back_equal(client, uploaded):
    response = client.get(f"{API}/{uploaded['id']}/frame")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert list(document) == ["columns", "data"] and len(document["data"]) == SAMPLE_ROWS
    frame = PandasDataFrame(**document).to_dataframe(uploaded["data"]["frame"]["dtypes"])
    pd.testing.assert_frame_equal(frame, expected_frame(), check_exact=True)
    # pandas reads the same bytes as an orient="split" frame.
    split = pd.read_json(io.BytesIO(response.data), orient="split", dtype=False)
    assert split.shape == (SAMPLE_ROWS, len(SAMPLE_DTYPES)) and split["id"].tolist() == list(range(SAMPLE_ROWS))


def test_downloads_of_a_table_stored_inline(client, manager):
    frame = pd.DataFrame({"x": [1.5, 2.5], "label": ["a", "b"]})
    artifact = manager.save(ArtifactIn(data={"dataframe": PandasDataFrame.from_dataframe(frame).model_dump()}))
    csv_response = client.get(f"{API}/{artifact.id}/frame.csv")
    assert csv_response.headers["Content-Disposition"] == f"attachment; filename={artifact.id}.csv"
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(csv_response.data)), frame)
    assert client.get(f"{API}/{artifact.id}/frame").get_json() == {"columns": ["x", "label"], "data": [[1.5, "a"], [2.5, "b"]]}


@pytest.mark.parametrize("suffix", ["frame", "frame.csv", "frame/rows"])
def test_artifacts_without_a_table_are_404(client, make_artifact, suffix):
    plain = make_artifact(name="no table")
    assert_problem(client.get(f"{API}/{plain.id}/{suffix}"), 404, "no-table")
    assert_problem(client.get(f"{API}/01ARZ3NDEKTSV4RRFFQ69G5FAV/{suffix}"), 404, "not-found")
    assert_problem(client.get(f"{API}/not-a-ulid/{suffix}"), 400, "invalid-ulid")


def test_deleting_the_artifact_hides_its_table_until_restored(app, client, uploaded):
    rows = client.get(f"{API}/{uploaded['id']}/frame/rows").get_json()
    assert client.delete(f"{API}/{uploaded['id']}").status_code == 204
    assert_problem(client.get(f"{API}/{uploaded['id']}/frame"), 404, "not-found")
    assert stored(app) == (0, 1)  # kept with its history (retention removes it: test_history_attachments)
    assert client.post(f"{API}/{uploaded['id']}/$restore").status_code == 200
    assert client.get(f"{API}/{uploaded['id']}/frame/rows").get_json() == rows


# Pages of rows --------------------------------------------------------------------------------


def test_rows_come_a_page_at_a_time_in_the_asked_order(client, uploaded):
    body = client.get(f"{API}/{uploaded['id']}/frame/rows?page=2&size=30&sort=score&order=desc").get_json()
    assert (body["total"], body["page"], body["size"], body["pages"]) == (SAMPLE_ROWS, 2, 30, 4)
    assert (body["sort"], body["order"]) == ("score", "desc")
    assert body["columns"] == list(SAMPLE_DTYPES) and body["dtypes"] == SAMPLE_DTYPES
    expected = expected_frame().sort_values(["score", "id"], ascending=[False, True], na_position="last")
    assert [row[0] for row in body["data"]] == expected["id"].tolist()[30:60]


@pytest.mark.parametrize(
    "query, field",
    [("size=0", "size"), ("size=1001", "size"), ("page=0", "page"), ("order=up", "order"), ("sort=nope", "sort")],
)
def test_bad_row_queries_are_422(client, uploaded, query, field):
    body = assert_problem(client.get(f"{API}/{uploaded['id']}/frame/rows?{query}"), 422, "validation")
    assert ["query", field] in [error["loc"] for error in body["errors"]]


def test_the_openapi_document_describes_the_table_endpoints(client):
    document = client.get("/api/v1/openapi.json").get_json()
    upload = document["paths"][UPLOAD]["post"]
    assert upload["requestBody"]["content"]["multipart/form-data"]["schema"] == {"$ref": "#/components/schemas/CSVUpload"}
    assert document["components"]["schemas"]["CSVUpload"]["required"] == ["file"]
    assert {"201", "413", "415", "422"} <= upload["responses"].keys()
    assert "text/csv" in document["paths"][f"{API}/{{artifact_id}}/frame.csv"]["get"]["responses"]["200"]["content"]
    frame = document["paths"][f"{API}/{{artifact_id}}/frame"]["get"]["responses"]["200"]
    assert frame["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PandasDataFrame"}


# Through a real gunicorn -----------------------------------------------------------------------


@pytest.mark.slow
def test_upload_page_and_download_through_gunicorn(database_url):
    content = sample_csv(rows=3000)
    with gunicorn_server(database_url, workers=2, env={"MAX_UPLOAD_BYTES": "200000"}) as base:
        response = requests.post(f"{base}{UPLOAD}", files={"file": ("big.csv", content, "text/csv")}, timeout=30)
        assert response.status_code == 201, response.text
        artifact_id = response.json()["id"]
        # Both workers answer in turn; one of them has to read the stored Parquet file.
        pages = [requests.get(f"{base}{API}/{artifact_id}/frame/rows?page={n}&size=1000&sort=id", timeout=30).json()
                 for n in (1, 2, 3, 1)]
        assert [row[0] for page in pages[:3] for row in page["data"]] == list(range(3000))
        assert pages[3] == pages[0]
        download = requests.get(f"{base}{API}/{artifact_id}/frame.csv", timeout=30)
        frame = restore_dtypes(pd.read_csv(io.BytesIO(download.content)), SAMPLE_DTYPES)
        pd.testing.assert_frame_equal(frame, expected_frame(3000), check_exact=True)

        too_big = requests.post(f"{base}{UPLOAD}", files={"file": ("big.csv", content * 2, "text/csv")}, timeout=30)
        assert too_big.status_code == 413
        assert too_big.headers["Content-Type"] == "application/problem+json"
        assert requests.get(f"{base}{API}", timeout=30).json()["total"] == 1


@pytest.mark.parametrize("name", ["данные.csv", "売上.csv", "😀 sales.csv", "Ünïcode.csv"])
def test_csv_download_of_a_file_named_in_any_script_has_a_valid_header(client, name):
    uploaded = post_csv(client, sample_csv(), name=name).get_json()
    response = client.get(f"{API}/{uploaded['id']}/frame.csv")
    assert response.status_code == 200
    fallback, full = download_names(response)  # gunicorn answered these with a 500
    assert full == name  # RFC 6266: the real name, and an ASCII one for old clients
    assert fallback.endswith(".csv") and fallback != ".csv"


def test_csv_download_header_ignores_control_characters_in_a_renamed_artifact(client, uploaded):
    renamed = {**uploaded["data"], "name": "evil\r\nSet-Cookie: a=b.csv"}
    assert client.put(f"{API}/{uploaded['id']}", json={"data": renamed}).status_code == 200
    response = client.get(f"{API}/{uploaded['id']}/frame.csv")
    assert response.status_code == 200
    download_names(response)
    assert "Set-Cookie" not in response.headers


def test_inline_integers_beyond_64_bits_are_shown_and_downloaded_as_text(client, manager):
    wide = 2**70
    data = {"dataframe": {"columns": ["id", "n"], "data": [[1, wide], [2, 5]]}}
    artifact = manager.save(ArtifactIn(data=data))
    url = f"{API}/{artifact.id}"
    rows = client.get(f"{url}/frame/rows", query_string={"sort": "n"})
    assert rows.status_code == 200 and rows.get_json()["data"] == [[1, str(wide)], [2, "5"]]  # text order
    assert client.get(f"{url}/frame").get_json()["data"] == [[1, str(wide)], [2, "5"]]
    exported = client.get(f"{url}/frame.csv")
    assert exported.status_code == 200 and exported.get_data(as_text=True).splitlines()[1] == f'1,"{wide}"'


FORMULAS = {"columns": ["=cmd", "text", "n"], "data": [
    ["=1+2", "a", -1], ["+1", "b=c", 2], ["-1", None, 3], ["@SUM(A1)", "\tx", 4], ["\rx", "safe", 5],
]}  # fmt: skip


def test_csv_download_neutralises_formulas_unless_raw(client, manager):
    """OWASP's CSV injection rule: text starting with = + - @ tab or CR gets a leading '."""
    artifact = manager.save(ArtifactIn(data={"dataframe": FORMULAS}))
    safe = pd.read_csv(io.BytesIO(client.get(f"{API}/{artifact.id}/frame.csv").data), keep_default_na=False)
    assert list(safe.columns) == ["'=cmd", "text", "n"]
    assert safe["'=cmd"].tolist() == ["'=1+2", "'+1", "'-1", "'@SUM(A1)", "'\rx"]
    assert safe["text"].tolist() == ["a", "b=c", "", "'\tx", "safe"]  # only a cell's start counts
    assert safe["n"].tolist() == [-1, 2, 3, 4, 5]  # numbers are numbers to a spreadsheet too

    raw = client.get(f"{API}/{artifact.id}/frame.csv", query_string={"raw": "1"})
    assert raw.status_code == 200 and raw.headers["Content-Disposition"].startswith("attachment")
    frame = pd.read_csv(io.BytesIO(raw.data))
    pd.testing.assert_frame_equal(frame, pd.DataFrame(FORMULAS["data"], columns=FORMULAS["columns"]))
    assert_problem(client.get(f"{API}/{artifact.id}/frame.csv", query_string={"raw": "maybe"}), 422, "validation")


def test_uploaded_formulas_are_neutralised_in_the_download(client):
    uploaded = post_csv(client, b'name,score\n"=HYPERLINK(""http://evil.example"")",1\nplain,-2\n').get_json()
    lines = client.get(f"{API}/{uploaded['id']}/frame.csv").get_data(as_text=True).splitlines()
    assert lines[1:] == ['"\'=HYPERLINK(""http://evil.example"")",1', '"plain",-2']
