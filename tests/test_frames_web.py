"""The table on an artifact's page, its htmx fragment, and the CSV upload form (parsed HTML)."""

from __future__ import annotations

import hashlib
import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from tests.support.frames import SAMPLE_DTYPES, SAMPLE_ROWS, expected_frame, frame_count, sample_csv
from tests.support.html import html
from webapp import create_app
from webapp.artifacts import ArtifactIn, PandasDataFrame
from webapp.extensions import db
from webapp.frames.service import QUICK_CHART_CELLS

HX = {"HX-Request": "true"}


def first_column(soup: BeautifulSoup) -> list[int]:
    return [int(row.find("td").get_text()) for row in soup.select("table.frame-rows tbody tr")]


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def post_upload(client: Any, content: bytes, name: str = "sample.csv", field: str = "file", **form: str) -> Any:
    data = {field: (io.BytesIO(content), name), **form}
    return client.post("/artifacts/upload", data=data, content_type="multipart/form-data")


def counts(app: Any) -> tuple[int, int]:
    with app.app_context():
        return db.session.execute(db.text("SELECT count(*) FROM artifacts")).scalar(), frame_count(db.session)


@pytest.fixture
def artifact_id(client: Any) -> str:
    response = post_upload(client, sample_csv())
    assert response.status_code == 303
    return response.headers["Location"].rsplit("/", 1)[-1]


# The table on the artifact's page ----------------------------------------------------------


def test_artifact_page_shows_the_first_page_with_dtypes_counts_and_downloads(client, artifact_id):
    soup = html(client.get(f"/artifacts/{artifact_id}"))
    panel = soup.select_one("section.frame-panel")
    assert "120 rows × 6 columns" in panel.find("h3").get_text(" ", strip=True)
    headers = panel.select("table.frame-rows thead th")
    assert [th.find("a").get_text(strip=True) for th in headers] == list(SAMPLE_DTYPES)
    assert [th.select_one(".dtype").get_text() for th in headers] == list(SAMPLE_DTYPES.values())
    assert first_column(panel) == list(range(50))  # 50 rows sent, and only 50
    assert "Rows 1–50 of 120" in panel.select_one(".frame-status").get_text()
    links = {a.get_text(strip=True): a["href"] for a in panel.select(".section-links a")}
    assert links == {
        "Download table as CSV": f"/api/v1/artifacts/{artifact_id}/frame.csv",
        "Download table as JSON": f"/api/v1/artifacts/{artifact_id}/frame",
    }
    assert "sample.csv" in panel.select_one(".frame-source").get_text()
    summary = panel.select_one("details.frame-summary table")
    assert [th.get_text() for th in summary.select("thead th")] == ["statistic", "id", "score"]
    assert [th.get_text() for th in summary.select("tbody th")] == ["count", "mean", "std", "min", "25%", "50%", "75%", "max"]


def test_page_and_sort_live_in_the_query_string(client, artifact_id):
    soup = html(client.get(f"/artifacts/{artifact_id}?table_page=2&table_sort=score&table_order=desc"))
    expected = expected_frame().sort_values(["score", "id"], ascending=[False, True], na_position="last")
    assert first_column(soup) == expected["id"].tolist()[50:100]
    score = soup.select_one('th[aria-sort="descending"]')
    assert score.find("a").get_text(strip=True) == "score"
    assert query(score.find("a")["href"]) == {"table_sort": ["score"]}  # next click: ascending, page 1
    next_link = soup.select_one('.frame-pager a[rel="next"]')
    assert query(next_link["href"]) == {"table_page": ["3"], "table_sort": ["score"], "table_order": ["desc"]}
    assert next_link["href"].startswith(f"/artifacts/{artifact_id}?") and next_link["href"].endswith(f"#frame-{artifact_id}")
    assert query(next_link["hx-get"]) == query(next_link["href"])
    assert urlsplit(next_link["hx-get"]).path == f"/artifacts/{artifact_id}/table"


def test_a_page_past_the_end_shows_the_last(client, artifact_id):
    soup = html(client.get(f"/artifacts/{artifact_id}?table_page=999"))
    assert first_column(soup) == list(range(100, SAMPLE_ROWS))
    assert soup.select_one('.frame-pager a[rel="next"]') is None


def test_sorting_by_an_unknown_column_is_a_readable_422(client, artifact_id):
    response = client.get(f"/artifacts/{artifact_id}?table_sort=nope")
    assert response.status_code == 422
    assert "No column named 'nope'" in html(response).get_text()


def test_fragment_swaps_the_table_and_pushes_the_page_url(client, artifact_id):
    response = client.get(f"/artifacts/{artifact_id}/table?table_page=3&table_sort=id&table_order=desc", headers=HX)
    assert response.status_code == 200
    soup = html(response)
    assert soup.find("html") is None and soup.select_one("section.frame-panel") is None
    assert soup.select_one(f"div.frame-table#frame-{artifact_id}") is not None
    assert first_column(soup) == list(range(19, -1, -1))
    pushed = response.headers["HX-Push-Url"]
    assert pushed == f"/artifacts/{artifact_id}?table_page=3&table_sort=id&table_order=desc#frame-{artifact_id}"
    assert "HX-Request" in response.headers["Vary"]


def test_fragment_without_htmx_redirects_to_the_page(client, artifact_id):
    response = client.get(f"/artifacts/{artifact_id}/table?table_page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/artifacts/{artifact_id}?table_page=2#frame-{artifact_id}"


def test_fragment_of_an_artifact_without_a_table_is_404(client, make_artifact):
    plain = make_artifact(name="plain")
    assert client.get(f"/artifacts/{plain.id}/table", headers=HX).status_code == 404


def test_a_table_stored_inline_renders_as_a_paged_table(client, manager):
    frame = pd.DataFrame({"feature1": [float(n) for n in range(60)], "feature2": [f"r{n}" for n in range(60)]})
    artifact = manager.save(ArtifactIn(data={"dataframe": PandasDataFrame.from_dataframe(frame).model_dump()}))
    soup = html(client.get(f"/artifacts/{artifact.id}?table_sort=feature1&table_order=desc"))
    panel = soup.select_one("section.frame-panel")
    assert "60 rows × 2 columns" in panel.find("h3").get_text(" ", strip=True)
    assert [float(row.find("td").get_text()) for row in panel.select("table.frame-rows tbody tr")] == [float(n) for n in range(59, 9, -1)]
    assert panel.select_one(".frame-source") is None  # no file behind it


def test_an_inline_table_with_an_integer_beyond_64_bits_shows_it_as_text(client, manager):
    wide = 2**70
    artifact = manager.save(ArtifactIn(data={"dataframe": {"columns": ["n"], "data": [[wide], [1]]}}))
    response = client.get(f"/artifacts/{artifact.id}")
    assert response.status_code == 200
    cells = [cell.get_text(strip=True) for cell in html(response).select(".frame-panel tbody td")]
    assert str(wide) in cells


def test_artifacts_without_a_table_show_no_panel(client, make_artifact):
    plain = make_artifact(name="plain", dataframe={"columns": ["a"], "data": [[1, 2]]})  # ragged: not a table
    soup = html(client.get(f"/artifacts/{plain.id}"))
    assert soup.select_one("section.frame-panel") is None


# Upload form -----------------------------------------------------------------------------------


def test_upload_actions_link_to_the_form(client, make_artifact):
    parent = make_artifact(name="experiment")
    index = html(client.get("/"))
    assert index.find("a", string="Upload CSV")["href"] == "/artifacts/upload"
    detail = html(client.get(f"/artifacts/{parent.id}"))
    assert detail.find("a", string="Upload CSV")["href"] == f"/artifacts/upload?parent={parent.id}"


def test_upload_form_creates_a_root_and_redirects_to_its_table(app, client):
    form = html(client.get("/artifacts/upload")).select_one("form.upload-form")
    assert form["enctype"] == "multipart/form-data" and form.select_one('input[type="file"][name="file"]')
    response = post_upload(client, sample_csv(), name="sales.csv")
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    soup = html(page)
    assert "Uploaded “sales.csv”: 120 rows × 6 columns." in soup.select_one(".flash-success").get_text()
    assert first_column(soup) == list(range(50))
    assert counts(app) == (1, 1)


def test_upload_form_creates_a_child(client, make_artifact):
    parent = make_artifact(name="experiment")
    soup = html(client.get(f"/artifacts/upload?parent={parent.id}"))
    assert soup.select_one('input[name="parent_id"]')["value"] == str(parent.id)
    assert "experiment" in soup.find("h1").get_text()
    response = post_upload(client, sample_csv(), parent_id=str(parent.id))
    child_id = response.headers["Location"].rsplit("/", 1)[-1]
    child = client.get(f"/api/v1/artifacts/{child_id}").get_json()
    assert (child["parent_id"], child["level"]) == (str(parent.id), 1)


def test_upload_form_for_an_unknown_parent_is_404(client):
    assert client.get("/artifacts/upload?parent=01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404


@pytest.mark.parametrize(
    "content, field, message",
    [
        (b"", "file", "The file is empty."),
        (b"a,b\n", "file", "header row but no data rows"),
        (b"a,b,c\n1,2,3\n4,5\n", "file", "Expected 3 columns, got 2"),
        (b"\x00\x01\x02binary", "file", "binary data"),
        (b"a,b\n\x81,\x90\n", "file", "neither UTF-8 nor Latin-1"),
        (sample_csv(), "upload", "Choose a CSV file to upload."),
    ],
    ids=["empty", "header only", "ragged", "binary", "undecodable", "wrong field"],
)
def test_refused_uploads_show_why_on_the_form_and_store_nothing(app, client, content, field, message):
    response = post_upload(client, content, field=field)
    assert response.status_code == 422
    soup = html(response)
    errors = soup.select_one(".field-errors")
    assert message in errors.get_text()
    assert soup.select_one('input[name="file"]')["aria-invalid"] == "true"
    assert counts(app) == (0, 0)


def test_a_refused_child_upload_keeps_its_parent(client, make_artifact):
    parent = make_artifact(name="experiment")
    soup = html(post_upload(client, b"", parent_id=str(parent.id)))
    assert soup.select_one('input[name="parent_id"]')["value"] == str(parent.id)
    assert "experiment" in soup.find("h1").get_text()


@pytest.mark.app_config(MAX_UPLOAD_BYTES=1000)
def test_a_file_above_the_limit_is_413_on_the_form(app, client):
    response = post_upload(client, sample_csv(rows=5000))
    assert response.status_code == 413
    assert "larger than the upload limit" in html(response).select_one(".alert-error").get_text()
    response = post_upload(client, b"a,b\n" + b"1,2\n" * 250)  # just over: counted by the service
    assert response.status_code == 413
    assert "MAX_UPLOAD_BYTES" in html(response).select_one(".field-errors").get_text()
    assert counts(app) == (0, 0)


def test_upload_form_needs_its_csrf_token(app_config):
    app = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    with app.app_context():
        db.create_all()
    client = app.test_client()
    response = post_upload(client, sample_csv())
    assert response.status_code == 422
    assert "security token" in html(response).select_one(".alert-error").get_text()
    assert counts(app) == (0, 0)
    token = html(client.get("/artifacts/upload")).select_one('input[name="csrf_token"]')["value"]
    assert post_upload(client, sample_csv(), csrf_token=token).status_code == 303
    assert counts(app) == (1, 1)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_downloads_match_the_rows_on_the_page(client, artifact_id):
    csv_text = client.get(f"/api/v1/artifacts/{artifact_id}/frame.csv").data
    assert len(pd.read_csv(io.BytesIO(csv_text))) == SAMPLE_ROWS


def test_table_pages_carry_the_sites_security_headers(client):
    """The upload page belongs to the frames blueprint; the app-wide CSP covers it too."""
    response = client.get("/artifacts/upload")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_panel_and_the_download_name_keep_the_uploaded_provenance_after_edits(client):
    from tests.support.downloads import download_names

    content = sample_csv()
    uploaded = client.post(
        "/api/v1/artifacts/$upload", data={"file": (io.BytesIO(content), "sales.csv")}, content_type="multipart/form-data"
    ).get_json()
    forged = {**uploaded["data"], "name": "invoice.exe", "source": {**uploaded["data"]["source"],
              "file_name": "invoice.exe", "sha256": "0" * 64}}  # fmt: skip
    assert client.put(f"/api/v1/artifacts/{uploaded['id']}", json={"data": forged}).status_code == 200

    provenance = html(client.get(f"/artifacts/{uploaded['id']}")).select_one(".frame-source")
    assert provenance.strong.get_text() == "sales.csv"
    assert provenance.select_one(".frame-sha")["title"] == hashlib.sha256(content).hexdigest()
    assert "invoice" not in provenance.get_text()
    fallback, _ = download_names(client.get(f"/api/v1/artifacts/{uploaded['id']}/frame.csv"))
    assert fallback == "sales.csv"


# Column charts -----------------------------------------------------------------------------


def chart_counts(figure: Any) -> list[tuple[str, int]]:
    """The text fallback of one column's chart: (bin or value, rows)."""
    return [(row.find("td").get_text(), int(row.select_one("td.num").get_text().replace(",", "")))
            for row in figure.select("details.column-counts tbody tr")]  # fmt: skip


def test_the_panel_charts_every_column_with_its_counts_as_text(client, artifact_id):
    panel = html(client.get(f"/artifacts/{artifact_id}")).select_one("section.frame-panel")
    section = panel.select_one("section.frame-columns")
    assert section["aria-labelledby"] == f"frame-{artifact_id}-columns-heading" and not section.get("hx-get")
    figures = section.select("figure.column-chart")
    assert [f.figcaption.strong.get_text() for f in figures] == list(SAMPLE_DTYPES)
    by_column = {f.figcaption.strong.get_text(): f for f in figures}
    frame = expected_frame()
    for column in ("id", "score", "day", "seen_at"):  # histograms: a bar per bin, a row per bar
        figure = by_column[column]
        svg = figure.find("svg")
        assert svg["role"] == "img" and svg["aria-label"] == f"Histogram of {column}" and svg.find("desc")
        counts = chart_counts(figure)
        assert len(svg.select("rect.bar")) == len(counts)
        assert sum(count for _, count in counts) == frame[column].notna().sum()
    assert "14 missing not drawn" in by_column["score"].select_one(".column-note").get_text()
    flags = dict(chart_counts(by_column["flag"]))
    assert flags == {"true": int(frame["flag"].sum()), "false": int((~frame["flag"]).sum())}
    cities = chart_counts(by_column["city"])
    assert cities == sorted(frame["city"].value_counts().items(), key=lambda item: (-item[1], item[0]))
    assert "5 distinct values in 120 rows." in by_column["city"].select_one(".column-note").get_text()


def test_column_charts_escape_hostile_names_and_values(client, manager):
    name, value = '<img src=x onerror="alert(1)">', "<script>alert(2)</script>"
    frame = pd.DataFrame({name: [value, value, "plain"], "n": [1, 2, 3]})
    artifact = manager.save(ArtifactIn(data={"dataframe": PandasDataFrame.from_dataframe(frame).model_dump()}))
    response = client.get(f"/artifacts/{artifact.id}")
    body = response.get_data(as_text=True)
    assert "<script>alert(2)" not in body and "<img src=x" not in body
    section = html(response).select_one("section.frame-columns")
    assert section.find("img") is None and section.find("script") is None
    figure = section.select_one("figure.column-chart")
    assert figure.figcaption.strong.get_text() == name
    assert figure.find("svg")["aria-label"] == f"Values of {name}"
    assert chart_counts(figure) == [(value, 2), ("plain", 1)]


def test_a_table_without_rows_says_its_columns_have_no_values(client, manager):
    artifact = manager.save(ArtifactIn(data={"dataframe": {"columns": ["a", "b"], "data": []}}))
    section = html(client.get(f"/artifacts/{artifact.id}")).select_one("section.frame-columns")
    notes = [note.get_text() for note in section.select(".column-note")]
    assert notes == ["No values. 0 rows.", "No values. 0 rows."]  # empty columns are float64, as pandas reads them
    assert section.find("svg") is None


def test_a_big_tables_charts_are_fetched_after_the_page_or_by_a_plain_link(client):
    rows = 1 + QUICK_CHART_CELLS // 2  # two columns: past the values charted with the page
    response = post_upload(client, b"a,b\n" + b"7,x\n" * rows, name="big.csv")
    artifact_id = response.headers["Location"].rsplit("/", 1)[-1]
    section = html(client.get(f"/artifacts/{artifact_id}")).select_one("section.frame-columns")
    assert section.select("figure") == [] and section["aria-busy"] == "true"
    assert section["hx-get"] == f"/artifacts/{artifact_id}/table/columns" and section["hx-trigger"] == "load"
    link = section.find("a")["href"]
    assert link == f"/artifacts/{artifact_id}?table_charts=1#frame-{artifact_id}-columns"

    without_htmx = client.get(f"/artifacts/{artifact_id}/table/columns")
    assert (without_htmx.status_code, without_htmx.headers["Location"]) == (302, link)
    fragment = client.get(f"/artifacts/{artifact_id}/table/columns", headers=HX)
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["Vary"]
    soup = html(fragment)
    assert soup.find("html") is None and soup.select_one("section.frame-columns").get("hx-get") is None
    figures = soup.select("figure.column-chart")
    assert [chart_counts(f) for f in figures] == [[("7", rows)], [("x", rows)]]

    # Computed once, the charts are drawn in the page itself (this worker's cache), and the link works too.
    assert len(html(client.get(f"/artifacts/{artifact_id}")).select("figure.column-chart")) == 2
    assert len(html(client.get(link)).select("figure.column-chart")) == 2


def test_the_charts_fragment_of_an_artifact_without_a_table_is_404(client, make_artifact):
    plain = make_artifact(name="plain")
    assert client.get(f"/artifacts/{plain.id}/table/columns", headers=HX).status_code == 404
    assert client.get("/artifacts/not-an-id/table/columns", headers=HX).status_code in (400, 404)
