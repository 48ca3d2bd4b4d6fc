"""The OpenAPI 3.1 document: each view declares its operation with `@operation`, and
`build_openapi(app)` walks the app's URL map, so a route and its description sit together.

    @bp.post("/artifacts")
    @operation("Create an artifact", body=ArtifactIn,
               responses={201: reply("Created", ArtifactOut, etag=True), **BODY_ERRORS, 404: "No parent"})
    def create_artifact(): ...

The schemas come from the same pydantic models that validate the requests. This module
imports no view module: views import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from webapp.api.schemas import Problem
from webapp.artifacts.revisions import MAX_REVISION
from webapp.artifacts.schemas import ULID_PATTERN
from webapp.security import SAFE_METHODS

REF = "#/components/schemas/{model}"
SECURITY_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer", "description": "An API token: `Authorization: Bearer <token>`"}}
PUBLIC_PATHS = {"/health"}  # answered without a credential
UNAUTHENTICATED = "No credential, or an unknown, revoked or expired token (`WWW-Authenticate: Bearer`)"
NOT_ALLOWED = "The credential lacks the right (a viewer writing, a read token, a tree it may only read)"
CROSS_SITE = "Refused: sent by a page of another site (its Sec-Fetch-Site or Origin says so)"
F = TypeVar("F", bound=Callable[..., Any])


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


@dataclass(frozen=True)
class Schema:
    """A component schema that no pydantic model describes (a multipart body)."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """A response: a description, and a JSON `model` or other `content`, or no body."""

    description: str
    model: type[BaseModel] | None = None
    content: Mapping[str, Any] | None = None  # media type → {"schema": …}, for bodies that are not JSON
    etag: bool = False  # the ETag header carries the artifact's version


def reply(description: str, model: type[BaseModel] | None = None, *, etag: bool = False) -> Reply:
    return Reply(description, model, etag=etag)


# A response given as a plain string is a problem+json document for 4xx/5xx, and a
# response without a body otherwise (204, 304).
Responses = Mapping[int, "Reply | str"]


@dataclass(frozen=True)
class Operation:
    summary: str
    responses: Responses
    description: str | None = None
    body: type[BaseModel] | Schema | None = None
    body_media_type: str = "application/json"
    query: type[BaseModel] | None = None  # its fields are the query parameters
    headers: Sequence[dict[str, Any]] = field(default_factory=tuple)


def operation(
    summary: str,
    *,
    responses: Responses,
    description: str | None = None,
    body: type[BaseModel] | Schema | None = None,
    body_media_type: str = "application/json",
    query: type[BaseModel] | None = None,
    headers: Sequence[dict[str, Any]] = (),
) -> Callable[[F], F]:
    """Record the view's OpenAPI operation on it; only decorated views are in the document."""
    declared = Operation(summary, responses, description, body, body_media_type, query, tuple(headers))

    def record(view: F) -> F:
        view.openapi_operation = declared  # type: ignore[attr-defined]
        return view

    return record


# Path parameters, by the URL converter that matches them (`<artifact:artifact_id>`).
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "artifact": {
        "name": "artifact_id",
        "in": "path",
        "required": True,
        "description": "The artifact's ULID",
        "schema": {"type": "string", "pattern": ULID_PATTERN},
    },
    "filename": {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "The file's name: at most 255 bytes of UTF-8, no '/' (nor %2F), '\\', '..' or control "
        "characters; a name that breaks a rule is a 422 naming it",
        "schema": {"type": "string", "minLength": 1},
    },
    "revision": {
        "name": "revision",
        "in": "path",
        "required": True,
        "description": "A revision number of the artifact (1, 2, …)",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_REVISION},
    },
    "token": {
        "name": "token_id",
        "in": "path",
        "required": True,
        "description": "The token's id (as GET /tokens lists it), never its secret",
        "schema": {"type": "string", "pattern": "^[0-9A-Za-z]{1,40}$"},
    },
    "grant": {
        "name": "grant_id",
        "in": "path",
        "required": True,
        "description": "The grant's id (as GET /grants lists it)",
        "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    },
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
CHANGED: Responses = {412: "If-Match names a version the artifact no longer is; `current_version` says which it is"}
COMMON_ERRORS: Responses = {400: "Malformed ULID or body", 404: "No such artifact"}
BODY_ERRORS: Responses = {
    400: "The body is not valid JSON",
    413: "The body is larger than MAX_CONTENT_LENGTH",
    415: "The body is not sent as application/json",
    422: "The body does not match the schema; `errors` names the fields",
}
# Query parameters of this name are page sizes: the document states the app's MAX_PAGE_SIZE.
PAGE_SIZE = "size"

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
    bodies = [model for model in ("ArtifactIn", "ArtifactUpdate") if model in defs]
    for model in bodies:
        data = defs[model]["properties"]["data"]
        defs[model]["properties"]["data"] = {"allOf": [_ref("JsonObject")], "description": data["description"]}
    if bodies:
        defs.update(JSON_VALUE_SCHEMAS)


# `<artifact:artifact_id>` or `<artifact_id>`; converter arguments (`<int(min=1):n>`) too.
RULE_VARIABLE = re.compile(r"<(?:(?P<converter>[a-zA-Z_]\w*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_]\w*)>")


def _path_parameters(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI path of a Flask rule, and its path parameters."""
    parameters = []
    for match in RULE_VARIABLE.finditer(rule):
        parameter = PATH_PARAMETERS.get(match["converter"] or "default")
        if parameter is None or parameter["name"] != match["name"]:
            raise LookupError(f"{rule}: no OpenAPI path parameter declared for <{match[0][1:-1]}>")
        parameters.append(parameter)
    return RULE_VARIABLE.sub(r"{\g<name>}", rule), parameters


class _Document:
    """One build: the component schemas every operation names, and the paths."""

    def __init__(self, operations: list[tuple[str, str, str, Operation]], max_page_size: int) -> None:
        self.max_page_size = max_page_size
        raw_schemas: dict[str, Any] = {}
        models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}  # ordered, without repeats
        for *_, declared in operations:
            if isinstance(declared.body, Schema):
                raw_schemas[declared.body.name] = declared.body.schema
            elif declared.body is not None:
                models[(declared.body, "validation")] = None
            for status, response in declared.responses.items():
                model = Problem if isinstance(response, str) and status >= 400 else getattr(response, "model", None)
                if model is not None:
                    models[(model, "serialization")] = None
        refs, defs = models_json_schema(list(models), ref_template=REF)
        self.refs = {key: value["$ref"] for key, value in refs.items()}
        self.schemas = defs.get("$defs", {})
        _data_is_json_object(self.schemas)
        self.schemas.update(raw_schemas)

    def json(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": {"$ref": self.refs[(model, mode)]}}}}

    def response(self, status: int, response: Reply | str) -> dict[str, Any]:
        if isinstance(response, str):
            if status < 400:
                return {"description": response}
            return {"description": response, "content": {"application/problem+json": {"schema": _ref("Problem")}}}
        answer: dict[str, Any] = {"description": response.description}
        if response.etag:
            answer["headers"] = ETAG_HEADER
        if response.model is not None:
            answer.update(self.json(response.model, "serialization"))
        elif response.content is not None:
            answer["content"] = dict(response.content)
        return answer

    def query_parameters(self, model: type[BaseModel]) -> list[dict[str, Any]]:
        properties = model.model_json_schema()["properties"]
        parameters = [
            {"name": name, "in": "query", "required": False, "schema": prop, "description": prop.get("description", "")}
            for name, prop in properties.items()
        ]
        for parameter in parameters:
            if parameter["name"] == PAGE_SIZE:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters

    def operation(self, name: str, declared: Operation) -> dict[str, Any]:
        result: dict[str, Any] = {"operationId": name, "summary": declared.summary}
        if declared.description:
            result["description"] = declared.description
        parameters = [*(self.query_parameters(declared.query) if declared.query else []), *declared.headers]
        if parameters:
            result["parameters"] = parameters
        if isinstance(declared.body, Schema):
            content = {declared.body_media_type: {"schema": _ref(declared.body.name)}}
            result["requestBody"] = {"required": True, "content": content}
        elif declared.body is not None:
            result["requestBody"] = {"required": True, **self.json(declared.body, "validation")}
        responses = declared.responses.items()
        result["responses"] = {str(status): self.response(status, answer) for status, answer in responses}
        return result


def _operations(app: Flask) -> list[tuple[str, str, str, Operation]]:
    """(rule, method, operationId, operation) of every decorated view, in URL-map order.

    A view served at several URLs (`/health` and `/api/v1/health`) is documented once, at
    its shortest, so each operationId (the view's function name) names one operation.
    """
    found: dict[Callable[..., Any], tuple[str, str, str, Operation]] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        declared = getattr(view, "openapi_operation", None)
        if declared is None:
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        if len(methods) != 1:
            raise ValueError(f"{rule.rule}: a documented view takes one method, not {methods}")
        if view not in found or len(rule.rule) < len(found[view][0]):
            found[view] = (rule.rule, methods[0].lower(), view.__name__, declared)
    return list(found.values())


def build_openapi(app: Flask) -> dict[str, Any]:
    """The document of every `@operation` view of `app`; `size` parameters state its MAX_PAGE_SIZE."""
    operations = _operations(app)
    document = _Document(operations, app.extensions["store_policy"].max_page_size)
    paths: dict[str, Any] = {}
    for rule, method, name, declared in operations:
        path, parameters = _path_parameters(rule)
        item = paths.setdefault(path, {"parameters": parameters} if parameters else {})
        if method in item:
            raise ValueError(f"{method.upper()} {path} is declared twice")
        item[method] = document.operation(name, declared)
        if method.upper() not in SAFE_METHODS:  # refused from other sites' pages (webapp/security.py)
            item[method]["responses"].setdefault("403", document.response(403, CROSS_SITE))
        if path in PUBLIC_PATHS:
            item[method]["security"] = []
        else:  # every other operation needs a credential (webapp/access.py)
            item[method]["responses"].setdefault("401", document.response(401, UNAUTHENTICATED))
            item[method]["responses"].setdefault("403", document.response(403, NOT_ALLOWED))
    _state_hierarchies(paths, document.schemas, list(app.extensions["store_policy"].hierarchies))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Artifact Store API",
            "version": "1.0.0",
            "description": "Hierarchical artifact storage. Errors are RFC 9457 application/problem+json.",
        },
        "paths": paths,
        "components": {"schemas": document.schemas, "securitySchemes": SECURITY_SCHEMES},
        # An API token (`flask --app webapp create-token`, or POST /api/v1/tokens); a signed-in
        # browser's session cookie counts too, for an unsafe method only with X-CSRFToken.
        "security": [{"bearer": []}],
    }


def _state_hierarchies(paths: dict[str, Any], schemas: dict[str, Any], names: list[str]) -> None:
    """`hierarchy` (in a create body, a list's query) may only be one of the store's
    hierarchies, which its configuration declares: the document names them as an enum."""
    choice = {"type": "string", "enum": names}
    body = schemas.get("ArtifactIn", {}).get("properties", {})
    if "hierarchy" in body:
        body["hierarchy"] = {"anyOf": [choice, {"type": "null"}], "description": body["hierarchy"].get("description", "")}
    for item in paths.values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("name") == "hierarchy" and parameter.get("in") == "query":
                    parameter["schema"] = dict(choice)


def cached_openapi(app: Flask) -> dict[str, Any]:
    """The app's document, built on first use and kept: its routes and limits are fixed
    once it serves (two threads racing here build the same document twice, harmlessly)."""
    if "openapi_document" not in app.extensions:
        app.extensions["openapi_document"] = build_openapi(app)
    return app.extensions["openapi_document"]
