"""The OpenAPI 3.1 document, generated from the pydantic models that validate requests."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from webapp.api.schemas import DepthQuery, Health, ListQuery, Problem
from webapp.artifacts import (
    ArtifactExpansion,
    ArtifactIn,
    ArtifactOut,
    ArtifactTreeNode,
    ArtifactUpdate,
    ExpandRequest,
    Page,
    PandasDataFrame,
    TreeRequest,
)
from webapp.frames import FramePage
from webapp.artifacts.schemas import ULID_PATTERN

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": _ref(name)}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


def _params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    return [
        {"name": name, "in": "query", "required": False, "schema": prop, "description": prop.get("description", "")}
        for name, prop in schema["properties"].items()
    ]


ID_PARAM = {
    "name": "artifact_id",
    "in": "path",
    "required": True,
    "description": "The artifact's ULID",
    "schema": {"type": "string", "pattern": ULID_PATTERN},
}
ETAG_HEADER = {
    "ETag": {
        "description": "The artifact's version; send it back in If-Match to update or delete only that version",
        "schema": {"type": "string"},
    }
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "Apply the change only if the artifact is still this version (an ETag it was read with), "
    "or `*`; otherwise 412 and nothing changes. An empty value counts as no header",
    "schema": {"type": "string"},
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag the client holds: 304 without a body while the artifact is still that version",
    "schema": {"type": "string"},
}
CHANGED = {"412": _problem("If-Match names a version the artifact no longer is; `current_version` says which it is")}
COMMON_ERRORS = {"400": _problem("Malformed ULID or body"), "404": _problem("No such artifact")}
BODY_ERRORS = {
    "400": _problem("The body is not valid JSON"),
    "413": _problem("The body is larger than MAX_CONTENT_LENGTH"),
    "415": _problem("The body is not sent as application/json"),
    "422": _problem("The body does not match the schema; `errors` names the fields"),
}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, **_json(name)}


# What `data` really accepts (schemas.check_json_value): any JSON object whose keys and
# strings hold no NUL character (PostgreSQL's jsonb cannot store one). Without this, the
# document promised to accept bodies that the API answers with 422.
NO_NUL = "^[^\\x00]*$"
JSON_VALUE_SCHEMAS: dict[str, Any] = {
    "JsonValue": {
        "anyOf": [
            {"type": "string", "pattern": NO_NUL},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": _ref("JsonValue")},
            _ref("JsonObject"),
        ]
    },
    "JsonObject": {
        "type": "object",
        "propertyNames": {"pattern": NO_NUL},
        "additionalProperties": _ref("JsonValue"),
        "description": "A JSON object; strings may not contain NUL, nesting depth is limited by MAX_JSON_DEPTH",
    },
}


def _data_is_json_object(defs: dict[str, Any]) -> None:
    for model in ("ArtifactIn", "ArtifactUpdate"):
        data = defs[model]["properties"]["data"]
        defs[model]["properties"]["data"] = {"allOf": [_ref("JsonObject")], "description": data["description"]}
    defs.update(JSON_VALUE_SCHEMAS)


def _limit_page_size(parameters: list[dict[str, Any]], max_page_size: int) -> list[dict[str, Any]]:
    for parameter in parameters:
        if parameter["name"] == "size":
            parameter["schema"]["maximum"] = max_page_size
    return parameters


@cache
def build_openapi(max_page_size: int = 1000) -> dict[str, Any]:
    """The document; `max_page_size` is the app's MAX_PAGE_SIZE, stated as `size`'s maximum."""
    from webapp.api.frames import CSV_UPLOAD_SCHEMA, FrameCSVQuery, FrameRowsQuery  # late: api.frames imports api.views

    _, defs = models_json_schema(
        [
            (ArtifactIn, "validation"),
            (ArtifactUpdate, "validation"),
            (TreeRequest, "validation"),
            (ExpandRequest, "validation"),
            (ArtifactOut, "serialization"),
            (ArtifactTreeNode, "serialization"),
            (ArtifactExpansion, "serialization"),
            (Page[ArtifactOut], "serialization"),
            (Problem, "serialization"),
            (Health, "serialization"),
            (PandasDataFrame, "serialization"),
            (FramePage, "serialization"),
        ],
        ref_template=REF,
    )
    _data_is_json_object(defs["$defs"])
    defs["$defs"]["CSVUpload"] = CSV_UPLOAD_SCHEMA
    tree_response = {"200": {"description": "The subtree", **_json("ArtifactTreeNode")}}
    expand_response = {"200": {"description": "Ancestors, artifact and descendants", **_json("ArtifactExpansion")}}
    paths: dict[str, Any] = {
        "/api/v1/artifacts": {
            "post": {
                "operationId": "create_artifact",
                "summary": "Create an artifact",
                "requestBody": _body("ArtifactIn"),
                "responses": {
                    "201": {"description": "Created", "headers": ETAG_HEADER, **_json("ArtifactOut")},
                    **BODY_ERRORS,
                    "404": _problem("The parent does not exist"),
                    "409": _problem("An artifact with this id exists"),
                },
            },
            "get": {
                "operationId": "list_artifacts",
                "summary": "List artifacts, paginated, in id (creation) order",
                "parameters": _limit_page_size(_params(ListQuery), max_page_size),
                "responses": {
                    "200": {"description": "One page", **_json("Page_ArtifactOut_")},
                    "422": _problem("Bad query parameter"),
                },
            },
        },
        "/api/v1/artifacts/{artifact_id}": {
            "parameters": [ID_PARAM],
            "get": {
                "operationId": "get_artifact",
                "summary": "Get an artifact",
                "parameters": [IF_NONE_MATCH],
                "responses": {
                    "200": {"description": "The artifact", "headers": ETAG_HEADER, **_json("ArtifactOut")},
                    "304": {"description": "Not modified: still the version named in If-None-Match"},
                    **COMMON_ERRORS,
                },
            },
            "put": {
                "operationId": "update_artifact",
                "summary": "Replace an artifact's data; with parent_id, move it",
                "parameters": [IF_MATCH],
                "requestBody": _body("ArtifactUpdate"),
                "responses": {
                    "200": {"description": "Updated", "headers": ETAG_HEADER, **_json("ArtifactOut")},
                    **BODY_ERRORS,
                    "404": _problem("No such artifact or parent"),
                    "409": _problem("The move would create a cycle"),
                    **CHANGED,
                },
            },
            "delete": {
                "operationId": "delete_artifact",
                "summary": "Delete a leaf artifact",
                "parameters": [IF_MATCH],
                "responses": {
                    "204": {"description": "Deleted"},
                    **COMMON_ERRORS,
                    "409": _problem("The artifact has children"),
                    **CHANGED,
                },
            },
        },
        "/api/v1/artifacts/$tree": {
            "post": {
                "operationId": "build_tree",
                "summary": "The tree under root_id, max_depth levels deep",
                "requestBody": _body("TreeRequest"),
                "responses": {**tree_response, **BODY_ERRORS, "404": _problem("No such artifact")},
            }
        },
        "/api/v1/artifacts/{artifact_id}/$tree": {
            "get": {
                "operationId": "get_artifact_tree",
                "summary": "The tree under an artifact",
                "parameters": [ID_PARAM, *_params(DepthQuery)],
                "responses": {**tree_response, **COMMON_ERRORS, "422": _problem("Bad max_depth")},
            }
        },
        "/api/v1/artifacts/$expand": {
            "post": {
                "operationId": "expand_artifact",
                "summary": "An artifact with its ancestors and descendants",
                "requestBody": _body("ExpandRequest"),
                "responses": {**expand_response, **BODY_ERRORS, "404": _problem("No such artifact")},
            }
        },
        "/api/v1/artifacts/{artifact_id}/$expand": {
            "get": {
                "operationId": "get_artifact_expansion",
                "summary": "An artifact with its ancestors and descendants",
                "parameters": [ID_PARAM],
                "responses": {**expand_response, **COMMON_ERRORS},
            }
        },
        "/api/v1/artifacts/$upload": {
            "post": {
                "operationId": "upload_csv",
                "summary": "Upload a CSV file: a new artifact holding its table",
                "description": "The artifact's data records the file (name, size, SHA-256, encoding), the "
                "table's row and column counts, dtypes and first rows; the rows are kept beside it. "
                "Delimiter, quoting and header row are detected. Nothing is stored when the file is refused.",
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": _ref("CSVUpload")}},
                },
                "responses": {
                    "201": {"description": "Created", "headers": ETAG_HEADER, **_json("ArtifactOut")},
                    "400": _problem("parent_id is not a ULID, or the body is not valid multipart"),
                    "404": _problem("The parent does not exist"),
                    "413": _problem("The file is larger than MAX_UPLOAD_BYTES"),
                    "415": _problem("The body is not multipart/form-data"),
                    "422": _problem(
                        "No `file` field (type validation), or a file that is not a readable CSV: empty, "
                        "a header without rows, ragged rows, binary data, an unknown encoding (type invalid-csv)"
                    ),
                },
            }
        },
        "/api/v1/artifacts/{artifact_id}/frame": {
            "get": {
                "operationId": "get_frame",
                "summary": "The artifact's whole table as a PandasDataFrame (columns and rows)",
                "parameters": [ID_PARAM],
                "responses": {
                    "200": {"description": "The table", **_json("PandasDataFrame")},
                    **COMMON_ERRORS,
                    "404": _problem("No such artifact, or it holds no table"),
                },
            }
        },
        "/api/v1/artifacts/{artifact_id}/frame.csv": {
            "get": {
                "operationId": "get_frame_csv",
                "summary": "The artifact's whole table as a CSV file (UTF-8, header row)",
                "parameters": [ID_PARAM, *_params(FrameCSVQuery)],
                "responses": {
                    "200": {"description": "The table", "content": {"text/csv": {"schema": {"type": "string"}}}},
                    **COMMON_ERRORS,
                    "404": _problem("No such artifact, or it holds no table"),
                    "422": _problem("Bad query parameter (raw)"),
                },
            }
        },
        "/api/v1/artifacts/{artifact_id}/frame/rows": {
            "get": {
                "operationId": "get_frame_rows",
                "summary": "One page of the table's rows, optionally sorted by a column",
                "parameters": [ID_PARAM, *_limit_page_size(_params(FrameRowsQuery), max_page_size)],
                "responses": {
                    "200": {"description": "The page", **_json("FramePage")},
                    **COMMON_ERRORS,
                    "404": _problem("No such artifact, or it holds no table"),
                    "422": _problem("Bad query parameter, or no column of that name"),
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Database reachability and schema revision",
                "responses": {
                    "200": {"description": "Healthy", **_json("Health")},
                    "503": _problem("The database does not answer"),
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Artifact Store API",
            "version": "1.0.0",
            "description": "Hierarchical artifact storage. Errors are RFC 9457 application/problem+json.",
        },
        "paths": paths,
        "components": {"schemas": defs["$defs"]},
    }
