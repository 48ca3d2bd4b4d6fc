"""The request limits: body size, JSON nesting depth, page size. Each set from the
environment, each answered with a clear 4xx that changes nothing."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.data import nested
from tests.support.problems import assert_problem
from tests.support.servers import gunicorn_server
from webapp.config import from_environment

API = "/api/v1/artifacts"


def count(client) -> int:
    return client.get(API).get_json()["total"]


def test_limits_come_from_the_environment(monkeypatch):
    defaults = from_environment()
    assert (defaults["MAX_CONTENT_LENGTH"], defaults["MAX_JSON_DEPTH"], defaults["MAX_PAGE_SIZE"]) == (
        64 * 1024 * 1024, 256, 1000,
    )
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "2048")
    monkeypatch.setenv("MAX_JSON_DEPTH", "8")
    monkeypatch.setenv("MAX_PAGE_SIZE", "100")
    configured = from_environment()
    assert (configured["MAX_CONTENT_LENGTH"], configured["MAX_JSON_DEPTH"], configured["MAX_PAGE_SIZE"]) == (2048, 8, 100)


# Body size ----------------------------------------------------------------------------


def test_a_body_at_the_limit_is_accepted_and_one_byte_more_is_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    prefix, suffix = '{"data": {"blob": "', '"}}'
    fits = prefix + "x" * (1000 - len(prefix) - len(suffix)) + suffix
    assert client.post(API, data=fits, content_type="application/json").status_code == 201
    body = assert_problem(client.post(API, data=fits + " ", content_type="application/json"), 413)
    assert body["title"] == "Request Entity Too Large"
    assert count(client) == 1


def test_a_too_large_put_is_413_and_changes_nothing(app, client, make_artifact):
    artifact = make_artifact(name="before")
    app.config["MAX_CONTENT_LENGTH"] = 1000
    assert_problem(client.put(f"{API}/{artifact.id}", json={"data": {"blob": "x" * 2000}}), 413)
    assert client.get(f"{API}/{artifact.id}").get_json()["data"] == {"name": "before"}


def test_a_too_large_form_post_gets_an_html_413_page(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post("/artifacts/new", data={"data": "x" * 5000})
    assert response.status_code == 413
    assert response.mimetype == "text/html" and "Request Entity Too Large" in response.get_data(as_text=True)


@pytest.mark.slow
def test_gunicorn_refuses_a_streamed_body_over_the_limit(database_url):
    """A chunked upload carries no Content-Length: the limit must still hold, with a 413."""

    limit = 16384

    def chunks(size: int):
        prefix, suffix = b'{"data": {"blob": "', b'"}}'
        blob = size - len(prefix) - len(suffix)
        yield prefix
        for start in range(0, blob, 1024):
            yield b"x" * min(1024, blob - start)
        yield suffix

    def post(size: int) -> requests.Response:
        headers = {"Content-Type": "application/json"}  # a generator body goes out chunked
        return requests.post(f"{base}{API}", data=chunks(size), headers=headers, timeout=30)

    with gunicorn_server(database_url, workers=1, env={"MAX_CONTENT_LENGTH": str(limit)}) as base:
        too_large = post(4 * limit)
        assert too_large.status_code == 413  # was a 400 for the truncated JSON before the fix
        assert too_large.headers["Content-Type"] == "application/problem+json"
        assert post(limit + 1).status_code == 413
        assert requests.get(f"{base}{API}", timeout=10).json()["total"] == 0
        assert post(limit).status_code == 201  # exactly at the limit is fine


# Nesting depth ------------------------------------------------------------------------


@pytest.mark.app_config(MAX_JSON_DEPTH=5)
def test_data_nested_to_the_limit_is_accepted_and_one_level_more_is_422(app, client, make_artifact):
    assert client.post(API, json={"data": nested(5)}).status_code == 201
    problem = assert_problem(client.post(API, json={"data": nested(6)}), 422, "validation")
    assert problem["errors"] == [
        {"loc": ["body", "data"], "msg": "Value error, nested deeper than 5 levels", "type": "value_error"}
    ]
    artifact = make_artifact(name="before")
    assert_problem(client.put(f"{API}/{artifact.id}", json={"data": nested(6)}), 422, "validation")
    assert client.get(f"{API}/{artifact.id}").get_json()["data"] == {"name": "before"}
    assert count(client) == 2


@pytest.mark.app_config(MAX_JSON_DEPTH=3)
def test_lists_count_as_levels_too(app, client):
    assert client.post(API, json={"data": {"x": [[1]]}}).status_code == 201
    assert_problem(client.post(API, json={"data": {"x": [[[1]]]}}), 422, "validation")


def test_nesting_too_deep_to_parse_is_400_not_a_crash(client):
    body = '{"data": ' + "[" * 200_000 + "]" * 200_000 + "}"
    problem = assert_problem(client.post(API, data=body, content_type="application/json"), 400)
    assert problem["detail"] == "The body is not valid JSON: nested too deeply."
    assert count(client) == 0


# Page size ----------------------------------------------------------------------------


@pytest.mark.app_config(MAX_PAGE_SIZE=3)
def test_page_size_up_to_the_limit_is_served_and_above_is_422(app, client, make_artifact):
    for n in range(4):
        make_artifact(n=n)
    page = client.get(f"{API}?size=3").get_json()
    assert (len(page["items"]), page["size"], page["pages"]) == (3, 3, 2)
    problem = assert_problem(client.get(f"{API}?size=4"), 422, "validation")
    assert problem["errors"] == [
        {"loc": ["query", "size"], "msg": "Input should be less than or equal to 3", "type": "less_than_equal"}
    ]


def test_the_default_limit_takes_256_levels_through_every_door(client, manager):
    """Accepted by the API, read back by get, tree and expand, shown and edited on the pages."""
    data = nested(256)
    created = client.post("/api/v1/artifacts", json={"data": data})
    assert created.status_code == 201, created.get_data(as_text=True)
    artifact_id = created.get_json()["id"]
    assert client.get(f"/api/v1/artifacts/{artifact_id}").get_json()["data"] == data
    assert client.get(f"/api/v1/artifacts/{artifact_id}/$tree").get_json()["data"] == data
    assert client.get(f"/api/v1/artifacts/{artifact_id}/$expand").get_json()["data"] == data
    assert client.get(f"/artifacts/{artifact_id}").status_code == 200
    assert client.get(f"/artifacts/{artifact_id}/edit").status_code == 200
    saved = client.post(f"/artifacts/{artifact_id}/edit", data={"mode": "json", "data_json": json.dumps(data)})
    assert saved.status_code == 302


def test_one_level_more_is_refused_by_every_door_and_changes_nothing(client, manager):
    root = client.post("/api/v1/artifacts", json={"data": {"name": "kept"}}).get_json()
    too_deep = nested(257)
    problem = assert_problem(client.post("/api/v1/artifacts", json={"data": too_deep}), 422, "validation")
    assert problem["errors"][0]["loc"] == ["body", "data"]
    put = client.put(f"/api/v1/artifacts/{root['id']}", json={"data": too_deep})
    assert_problem(put, 422, "validation")
    for url in ("/artifacts/new", f"/artifacts/{root['id']}/edit"):  # the edit used to answer 500
        response = client.post(url, data={"mode": "json", "data_json": json.dumps(too_deep)})
        assert response.status_code == 422, url
        assert "nested deeper than 256 levels" in response.get_data(as_text=True)
    assert manager.count() == 1
    assert manager.get(root["id"]).data == {"name": "kept"}
