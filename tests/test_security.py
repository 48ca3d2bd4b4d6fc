"""App-wide request checks and headers (webapp/security.py): no cross-site writes to the API,
no NUL in the pages' query strings, nosniff on every response."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tests.support.problems import assert_problem
from webapp.extensions import db

API = "/api/v1/artifacts"


def count(app: Any) -> int:
    with app.app_context():
        return db.session.execute(db.text("SELECT count(*) FROM artifacts")).scalar()


def upload(client: Any, **headers: str) -> Any:
    data = {"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")}
    return client.post(f"{API}/$upload", data=data, content_type="multipart/form-data", headers=headers)


def create_json(client: Any, **headers: str) -> Any:
    return client.post(API, json={"data": {"name": "x"}}, headers=headers)


# Every body a cross-site page can send without a CORS preflight, and JSON too.
CROSS_SITE_BODIES = {
    "multipart upload": lambda client, headers: upload(client, **headers),
    "urlencoded form": lambda client, headers: client.post(API, data={"data": "{}"}, headers=headers),
    "text/plain": lambda client, headers: client.post(
        API, data=json.dumps({"data": {"name": "x"}}), content_type="text/plain", headers=headers
    ),
    "json": lambda client, headers: create_json(client, **headers),
}
CROSS_SITE_HEADERS = {
    "Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site"},
    "foreign Origin": {"Origin": "http://evil.example"},
    "Origin null": {"Origin": "null"},
    "Origin on another port": {"Origin": "http://localhost:8080"},
}


@pytest.mark.parametrize("send", CROSS_SITE_BODIES.values(), ids=CROSS_SITE_BODIES.keys())
@pytest.mark.parametrize("headers", CROSS_SITE_HEADERS.values(), ids=CROSS_SITE_HEADERS.keys())
def test_cross_site_writes_are_refused_and_create_nothing(app, client, send, headers):
    body = assert_problem(send(client, headers), 403, "cross-site")
    assert "another site" in body["detail"]
    assert count(app) == 0


def test_cross_site_updates_and_deletes_are_refused(app, client, make_artifact):
    artifact = make_artifact(name="kept")
    url = f"{API}/{artifact.id}"
    cross = {"Sec-Fetch-Site": "cross-site"}
    assert_problem(client.put(url, json={"data": {"name": "changed"}}, headers=cross), 403, "cross-site")
    assert_problem(client.delete(url, headers={"Origin": "https://evil.example"}), 403, "cross-site")
    assert client.get(url, headers=cross).get_json()["data"] == {"name": "kept"}  # reads stay open


@pytest.mark.parametrize("site", ["same-origin", "same-site", "none", "Same-Origin"])
def test_same_site_fetches_may_write(app, client, site):
    assert create_json(client, **{"Sec-Fetch-Site": site}).status_code == 201
    assert upload(client, **{"Sec-Fetch-Site": site}).status_code == 201
    assert count(app) == 2


def test_sec_fetch_site_wins_over_origin(client):
    # A browser that sends both: Fetch Metadata says what the browser knows (Origin may be
    # the page's while the Host is a proxy's name).
    headers = {"Sec-Fetch-Site": "same-origin", "Origin": "http://other.example"}
    assert create_json(client, **headers).status_code == 201
    assert_problem(create_json(client, **{"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"}), 403)


def test_origin_of_this_host_may_write_and_clients_without_either_header_too(app, client):
    assert create_json(client, Origin="http://localhost").status_code == 201
    assert upload(client, Origin="http://LOCALHOST").status_code == 201
    assert create_json(client).status_code == 201  # curl, scripts: no browser, no victim
    assert upload(client).status_code == 201
    assert count(app) == 4


def test_an_unknown_sec_fetch_site_value_is_refused(client):
    assert_problem(create_json(client, **{"Sec-Fetch-Site": "sideways"}), 403, "cross-site")


# NUL in the pages' query strings ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/?q=%00", "/?q=a%00b&page=1", "/?%00=1", "/artifacts/{id}/move?q=%00"])
def test_nul_in_a_page_query_is_a_400_page(client, make_artifact, path):
    artifact = make_artifact(name="x")
    response = client.get(path.format(id=artifact.id))
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "NUL" in response.get_data(as_text=True)


def test_nul_in_an_api_query_stays_a_422_naming_the_parameter(client):
    body = assert_problem(client.get(f"{API}?q=%00"), 422, "validation")
    assert body["errors"][0]["loc"] == ["query", "q"]


# nosniff on every response ---------------------------------------------------------------


def test_every_kind_of_response_says_nosniff(client, make_artifact):
    artifact = make_artifact(name="x", notes="<html><script>alert(1)</script>")
    uploaded = upload(client).get_json()
    responses = {
        "json": client.get(f"{API}/{artifact.id}"),
        "problem": client.get(f"{API}/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        "value": client.get(f"/artifacts/{artifact.id}/value?pointer=/notes"),
        "value download": client.get(f"/artifacts/{artifact.id}/value?pointer=/notes&download=1"),
        "csv download": client.get(f"{API}/{uploaded['id']}/frame.csv"),
        "json download": client.get(f"{API}/{uploaded['id']}/frame"),
        "static": client.get("/static/css/app.css"),
        "page": client.get("/"),
        "404 page": client.get("/nowhere"),
        "health": client.get("/health"),
        "redirect": client.get("/api/v1/docs"),
    }
    for kind, response in responses.items():
        assert response.headers.get("X-Content-Type-Options") == "nosniff", kind
        response.close()
