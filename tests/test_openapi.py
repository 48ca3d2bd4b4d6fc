"""The OpenAPI document is built from `@operation` on each view and the app's URL map.

tests/test_fuzz.py proves the document true against the running API; these tests prove it
complete (no API route left out) and the walk itself (paths, parameters, components).
"""

from __future__ import annotations

import pytest
from flask import Flask
from pydantic import BaseModel, Field

from webapp import create_app
from webapp.api.openapi import COMMON_ERRORS, PATH_PARAMETERS, build_openapi, cached_openapi, operation, reply
from webapp.artifacts import Policy
from webapp.extensions import db

# Served under /api but not operations of the API: the document itself and its viewer.
NOT_OPERATIONS = {"/api/v1/openapi.json", "/api/v1/docs"}
ALIASES = {"/api/v1/health": "/health"}  # the same view at a second URL, documented once


def test_every_api_route_is_in_the_document(app):
    document = cached_openapi(app)
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/health")) or rule.rule in NOT_OPERATIONS:
            continue
        path = ALIASES.get(rule.rule, rule.rule).replace("<artifact:artifact_id>", "{artifact_id}").replace("<revision:revision>", "{revision}")
        served.update((method, path) for method in rule.methods - {"HEAD", "OPTIONS"})
    assert served == documented
    operations = [op for item in document["paths"].values() for key, op in item.items() if key != "parameters"]
    operation_ids = [op["operationId"] for op in operations]
    assert len(operation_ids) == len(set(operation_ids)) == len(documented)
    assert document["paths"]["/health"]["get"]["operationId"] == "health"


def test_the_document_is_built_once_per_app(app, client):
    assert client.get("/api/v1/openapi.json").get_json() == cached_openapi(app)
    assert cached_openapi(app) is cached_openapi(app)


def test_apps_with_other_limits_get_their_own_document(app, app_config):
    other = create_app({**app_config, "MAX_PAGE_SIZE": 7})
    with other.app_context():
        db.engine.dispose()

    def size_limit(document):
        parameters = document["paths"]["/api/v1/artifacts"]["get"]["parameters"]
        return next(p for p in parameters if p["name"] == "size")["schema"]["maximum"]

    assert size_limit(cached_openapi(other)) == 7
    assert size_limit(cached_openapi(app)) == app.config["MAX_PAGE_SIZE"] != 7


# The walk, on an app of its own -----------------------------------------------------------


class Thing(BaseModel):
    name: str


class Things(BaseModel):
    size: int = Field(10, ge=1)
    q: str | None = None


def toy_app() -> Flask:
    from webapp.api.views import ArtifactSegment

    app = Flask(__name__)
    app.url_map.converters["artifact"] = ArtifactSegment
    app.extensions["store_policy"] = Policy(max_page_size=40)

    @app.get("/things")
    @operation("List things", query=Things, responses={200: reply("Things", Thing)})
    def list_things() -> str:
        return ""

    @app.delete("/things/<artifact:artifact_id>")
    @operation("Delete a thing", responses={204: "Deleted", **COMMON_ERRORS})
    def delete_thing(artifact_id: str) -> str:
        return ""

    @app.get("/undocumented")
    def undocumented() -> str:
        return ""

    return app


def test_rules_become_paths_with_their_shared_path_parameter():
    document = build_openapi(toy_app())
    assert list(document["paths"]) == ["/things", "/things/{artifact_id}"]
    item = document["paths"]["/things/{artifact_id}"]
    assert item["parameters"] == [PATH_PARAMETERS["artifact"]]
    assert item["delete"]["operationId"] == "delete_thing"
    assert item["delete"]["responses"]["204"] == {"description": "Deleted"}
    assert item["delete"]["responses"]["404"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }


def test_query_models_become_parameters_and_page_sizes_get_the_limit():
    get = build_openapi(toy_app())["paths"]["/things"]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in get["parameters"]] == [
        ("size", "query", False),
        ("q", "query", False),
    ]
    assert get["parameters"][0]["schema"]["maximum"] == 40
    assert "parameters" not in build_openapi(toy_app())["paths"]["/things"]


def test_components_hold_the_models_the_operations_name():
    schemas = build_openapi(toy_app())["components"]["schemas"]
    assert set(schemas) == {"Thing", "Problem"}  # not Things: query models are inlined as parameters


def test_a_path_variable_without_a_declared_parameter_is_refused():
    app = Flask(__name__)
    app.extensions["store_policy"] = Policy()

    @app.get("/things/<int:number>")
    @operation("A thing", responses={200: "Found"})
    def get_thing(number: int) -> str:
        return ""

    with pytest.raises(LookupError, match="<int:number>"):
        build_openapi(app)
