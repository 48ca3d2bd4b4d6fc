"""Schemathesis fuzzes every operation of /api/v1/openapi.json, in-process, on each database.

Each operation gets a bounded number of schema-valid and schema-invalid requests; every
response must be a non-5xx that conforms to the document (status code, content type,
body schema), valid requests must be accepted and invalid ones rejected. Some valid
requests are pointed at artifacts that exist (as path ids, parents, tree roots), so the
fuzzer reaches past the 404s into creates under parents, moves, cycles and deletes.
It runs as an administrator's API token (AUTH_ANONYMOUS=none), sent through Schemathesis's
auth support; its check that operations refuse requests without it holds too.
"""

from __future__ import annotations

from typing import Any

import json
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.support.problems import assert_problem
from webapp.accounts import Accounts
from webapp.artifacts import ArtifactManager
from webapp.extensions import db

EXAMPLES_PER_OPERATION = 100
ID_FIELDS = ("parent_id", "root_id", "artifact_id")


@pytest.fixture
def api_schema(app: Any, manager: ArtifactManager, make_artifact: Any) -> Any:
    """The app's own OpenAPI document, with a few real artifacts for requests to reach."""
    experiment = make_artifact(name="experiment")
    model = make_artifact(experiment, name="model")
    make_artifact(model, name="predictions")
    make_artifact(name="second root")
    known_ids = [str(artifact.id) for artifact in manager.find_all()]

    with app.app_context():
        accounts = Accounts(db.session(), app.extensions["account_settings"])
        secret = accounts.create_token(accounts.create_user("fuzzer", "fuzzing password", "admin"), "fuzz", "admin", None)[1]
        db.session.remove()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers={"Authorization": f"Bearer {secret}"})
    schema.config.generation.update(modes=list(GenerationMode))

    @schema.auth()
    class AdminToken:
        def get(self, case: Any, context: Any) -> str:
            return secret

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    @schema.hook
    def flatmap_case(context: Any, case: Any) -> Any:
        """Half of the valid cases use existing ids (and If-Match: *); invalid cases stay as generated."""
        if case.meta is None or case.meta.generation.mode.is_negative:
            return st.just(case)
        case = _matching_any_version(case)
        return st.booleans().flatmap(
            lambda use_known: st.sampled_from(known_ids).map(lambda id_: _with_id(case, id_))
            if use_known
            else st.just(case)
        )

    return schema


def _with_id(case: Any, artifact_id: str) -> Any:
    if case.path_parameters and "artifact_id" in case.path_parameters:
        case.path_parameters = {**case.path_parameters, "artifact_id": artifact_id}
    if isinstance(case.body, dict):
        case.body = {**case.body, **{key: artifact_id for key in ID_FIELDS if key in case.body}}
    return case


def _matching_any_version(case: Any) -> Any:
    """A made-up If-Match cannot match, and a 412 counts as refusing valid data: valid cases
    send the one version every artifact matches (tests/test_api.py covers the rest)."""
    if case.headers and "If-Match" in case.headers:
        case.headers = {**case.headers, "If-Match": "*"}
    return case


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@pytest.mark.app_config(AUTH_ANONYMOUS="none", METRICS_ANONYMOUS=False)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the checkout
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case: Any) -> None:
    case.call_and_validate()


# What the fuzzer found, pinned down ---------------------------------------------------

API = "/api/v1/artifacts"


@pytest.mark.app_config(MAX_PAGE_SIZE=25)
def test_document_states_the_configured_page_size_limit(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    size = next(p for p in document["paths"][API]["get"]["parameters"] if p["name"] == "size")
    assert size["schema"]["maximum"] == 25
    assert client.get(f"{API}?size=25").status_code == 200
    assert_problem(client.get(f"{API}?size=26"), 422, "validation")


def test_document_forbids_the_nul_character_that_the_api_refuses(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    no_nul = re.compile(schemas["JsonObject"]["propertyNames"]["pattern"])
    assert no_nul.match("fine") and not no_nul.match("a\x00b")
    assert schemas["ArtifactIn"]["properties"]["data"]["allOf"] == [{"$ref": "#/components/schemas/JsonObject"}]
    assert_problem(client.post(API, json={"data": {"x": ["a\x00b"]}}), 422, "validation")
    assert_problem(client.post(API, json={"data": {"a\x00b": 1}}), 422, "validation")


@pytest.mark.parametrize("max_depth", [False, "1", 1.5])
def test_body_integers_are_not_converted_from_other_types(client, make_artifact, max_depth):
    root = make_artifact()
    response = client.post(f"{API}/$tree", json={"root_id": str(root.id), "max_depth": max_depth})
    assert ["body", "max_depth"] in [e["loc"] for e in assert_problem(response, 422, "validation")["errors"]]
    assert_problem(client.post(API, json={"data": {}, "level": True}), 422, "validation")


def test_body_integers_may_be_written_with_a_zero_fraction(client, make_artifact):
    root = make_artifact()
    response = client.post(f"{API}/$tree", json={"root_id": str(root.id), "max_depth": 1.0})
    assert response.status_code == 200 and response.get_json()["id"] == str(root.id)


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_undeclared_method_on_an_action_url_is_405(client, method):
    response = getattr(client, method)(f"{API}/$tree", json={"data": {}})
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    assert_problem(client.get(f"{API}/not-a-ulid"), 400, "invalid-ulid")  # ids still get their own error


@pytest.mark.parametrize("number", ["123456789012345678901234567890", "1" + "0" * 400, "-1.7976931348623157e308"])
def test_trees_return_big_numbers_exactly_as_stored(client, number):
    """Trees are parsed and written with orjson, which cannot hold integers beyond 64 bits."""
    parent = client.post(API, data='{"data": {"x": %s}}' % number, content_type="application/json").get_json()
    child = client.post(API, json={"parent_id": parent["id"], "data": {"y": 1}}).get_json()
    stored = client.get(f"{API}/{parent['id']}").get_json()["data"]
    sent = json.loads(number)
    # PostgreSQL's jsonb may write a float back as the integer it equals (-1797…000).
    assert stored["x"] == sent if isinstance(sent, int) else float(stored["x"]) == sent
    views = [
        client.get(f"{API}/{parent['id']}/$tree"),
        client.post(f"{API}/$tree", json={"root_id": parent["id"]}),
        client.get(f"{API}/{parent['id']}/$expand"),
        client.get(f"{API}/{child['id']}/$expand"),
    ]
    assert [response.status_code for response in views] == [200, 200, 200, 200]
    documents = [response.get_json() for response in views]
    assert [documents[0]["data"], documents[1]["data"], documents[2]["data"]] == [stored] * 3
    assert documents[3]["ancestors"][0]["data"] == stored
