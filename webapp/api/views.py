"""The JSON API: every endpoint of the artifact spec, over ArtifactManager."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, request, url_for
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import ETags
from werkzeug.routing import BaseConverter

from webapp.api.encoding import encode_tree
from webapp.api.openapi import (
    BODY_ERRORS,
    CHANGED,
    COMMON_ERRORS,
    IF_MATCH,
    IF_NONE_MATCH,
    cached_openapi,
    operation,
    reply,
)
from webapp.api.parsing import body, query
from webapp.api.schemas import AsOfQuery, CompareQuery, Health, ListQuery, TreeQuery
from webapp.artifacts import (
    ArtifactExpansion,
    ArtifactIn,
    ArtifactOut,
    ArtifactTreeNode,
    ArtifactUpdate,
    ExpandRequest,
    TreeRequest,
)
from webapp.artifacts.manager import normalize_id
from webapp.artifacts.schemas import HierarchyList, model_json
from webapp.search import Comparison, Query, SearchPage
from webapp.database import schema_revision
from webapp.errors import problem
from webapp.extensions import db
from webapp.http import created
from webapp.observability import count_database_error
from webapp.store import get_store

bp = Blueprint("api", __name__)
health_bp = Blueprint("health", __name__)


class ArtifactSegment(BaseConverter):
    """An {artifact_id} path segment: anything but the `$tree` and `$expand` actions.

    So `PUT /artifacts/$tree` is a 405 (that URL only takes POST), not an invalid ULID;
    malformed ids still reach the view and get their 400.
    """

    regex = r"[^/$][^/]*"


# Before the routes below are added to the app's URL map (deferred functions run in order).
bp.record_once(lambda state: state.app.url_map.converters.setdefault("artifact", ArtifactSegment))


def json_response(model: BaseModel, status: int = 200) -> Response:
    return current_app.response_class(model_json(model), status=status, mimetype="application/json")


def artifact_response(artifact: ArtifactOut, status: int = 200) -> Response:
    """The artifact as JSON, with its version as the ETag (for If-Match / If-None-Match)."""
    response = json_response(artifact, status)
    response.set_etag(artifact.version)
    return response


def if_match() -> ETags | None:
    """The versions an If-Match header allows a write to apply to; None without one.

    An empty header counts as none: it is what a client sends when the variable meant to
    hold the ETag is empty, and refusing every such write would help nobody.
    """
    return request.if_match if request.headers.get("If-Match", "").strip() else None


def document_response(document: dict[str, Any]) -> Response:
    """A response for a tree document the manager built JSON-ready (no re-validation)."""
    return current_app.response_class(encode_tree(document), mimetype="application/json")


TREE = reply("The subtree", ArtifactTreeNode)
EXPANSION = reply("Ancestors, artifact and descendants", ArtifactExpansion)


@bp.post("/artifacts")
@operation(
    "Create an artifact",
    body=ArtifactIn,
    responses={
        201: reply("Created", ArtifactOut, etag=True),
        **BODY_ERRORS,
        404: "The parent does not exist",
        409: "An artifact with this id exists",
    },
)
def create_artifact() -> Response:
    artifact = get_store().artifacts.create(body(ArtifactIn))
    return created(artifact_response(artifact), artifact.id)


@bp.get("/artifacts")
@operation(
    "List artifacts, paginated, in id (creation) order",
    description="Two ways through a listing, with the same pages: `page` (offset; the database steps over "
    "the rows before it, so deep pages of a big store cost more) or `cursor`, the `next_cursor` of the "
    "previous answer (keyset: every page costs the same). `total` is exact and cheap (counts kept on every "
    "write), except with `q`, whose filter and total scan the data.",
    query=ListQuery,
    responses={
        200: reply("One page", SearchPage),
        400: "The filter, sort or facets do not parse (problem+json with `position` and `expected`)",
        404: "No such parent",
        422: "Bad query parameter",
    },
)
def list_artifacts() -> Response:
    params = query(ListQuery)
    if params.searching:
        search = Query(params.filter, params.sort, params.order == "desc", _comma_list(params.facets))
        return json_response(
            get_store().search.list_page(
                params.page, params.size, cursor=params.cursor, query=search,
                parent_id=params.parent_id, roots_only=params.roots, level=params.level, text=params.q,
                hierarchy=params.hierarchy,
            )
        )
    page = get_store().artifacts.list_page(
        params.page,
        params.size,
        cursor=params.cursor,
        parent_id=params.parent_id,
        roots_only=params.roots,
        level=params.level,
        text=params.q,
        hierarchy=params.hierarchy,
    )
    return json_response(page)


@bp.get("/hierarchies")
@operation(
    "The hierarchies trees can belong to, with how many trees and artifacts each holds",
    responses={200: reply("Every hierarchy: those declared, then any that stored trees still name", HierarchyList)},
)
def list_hierarchies() -> Response:
    return json_response(get_store().artifacts.hierarchy_list())


def _comma_list(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


@bp.get("/artifacts/$compare")
@operation(
    "Compare artifacts side by side: their flattened data fields",
    query=CompareQuery,
    responses={
        200: reply("The fields of each artifact", Comparison),
        **COMMON_ERRORS,
        422: "Not 2 to 50 distinct ids",
    },
)
def compare_artifacts() -> Response:
    return json_response(get_store().search.compare(list(_comma_list(query(CompareQuery).ids))))


@bp.get("/artifacts/<artifact:artifact_id>")
@operation(
    "Get an artifact (with as_of: as it was then)",
    headers=[IF_NONE_MATCH],
    query=AsOfQuery,
    responses={
        200: reply("The artifact", ArtifactOut, etag=True),
        304: "Not modified: still the version named in If-None-Match",
        **COMMON_ERRORS,
        404: "No such artifact (at as_of: it did not exist then, or was deleted)",
        422: "Bad as_of",
    },
)
def get_artifact(artifact_id: str) -> Response:
    as_of = query(AsOfQuery).as_of
    artifacts = get_store().artifacts
    artifact = artifacts.get(artifact_id) if as_of is None else artifacts.get_as_of(artifact_id, as_of)
    return artifact_response(artifact).make_conditional(request)


@bp.put("/artifacts/<artifact:artifact_id>")
@operation(
    "Replace an artifact's data; with parent_id, move it",
    headers=[IF_MATCH],
    body=ArtifactUpdate,
    responses={
        200: reply("Updated", ArtifactOut, etag=True),
        **BODY_ERRORS,
        404: "No such artifact or parent",
        409: "The move would create a cycle",
        **CHANGED,
    },
)
def update_artifact(artifact_id: str) -> Response:
    artifact_id = normalize_id(artifact_id)
    return artifact_response(get_store().artifacts.update(artifact_id, body(ArtifactUpdate), if_match=if_match()))


@bp.delete("/artifacts/<artifact:artifact_id>")
@operation(
    "Delete a leaf artifact",
    headers=[IF_MATCH],
    responses={204: "Deleted", **COMMON_ERRORS, 409: "The artifact has children", **CHANGED},
)
def delete_artifact(artifact_id: str) -> Response:
    get_store().artifacts.delete(artifact_id, if_match=if_match())
    return Response(status=204)


@bp.post("/artifacts/$tree")
@operation(
    "The tree under root_id, max_depth levels deep",
    body=TreeRequest,
    query=AsOfQuery,
    responses={200: TREE, **BODY_ERRORS, 404: "No such artifact"},
)
def build_tree() -> Response:
    request_, as_of = body(TreeRequest), query(AsOfQuery).as_of
    return document_response(get_store().artifacts.tree_document(request_.root_id, request_.max_depth, as_of=as_of))


@bp.get("/artifacts/<artifact:artifact_id>/$tree")
@operation(
    "The tree under an artifact",
    query=TreeQuery,
    responses={200: TREE, **COMMON_ERRORS, 422: "Bad max_depth or as_of"},
)
def get_artifact_tree(artifact_id: str) -> Response:
    artifact_id = normalize_id(artifact_id)
    params = query(TreeQuery)
    return document_response(get_store().artifacts.tree_document(artifact_id, params.max_depth, as_of=params.as_of))


@bp.post("/artifacts/$expand")
@operation(
    "An artifact with its ancestors and descendants",
    body=ExpandRequest,
    query=AsOfQuery,
    responses={200: EXPANSION, **BODY_ERRORS, 404: "No such artifact"},
)
def expand_artifact() -> Response:
    request_, as_of = body(ExpandRequest), query(AsOfQuery).as_of
    return document_response(get_store().artifacts.expand_document(request_.artifact_id, as_of=as_of))


@bp.get("/artifacts/<artifact:artifact_id>/$expand")
@operation(
    "An artifact with its ancestors and descendants",
    query=AsOfQuery,
    responses={200: EXPANSION, **COMMON_ERRORS, 422: "Bad as_of"},
)
def get_artifact_expansion(artifact_id: str) -> Response:
    return document_response(get_store().artifacts.expand_document(artifact_id, as_of=query(AsOfQuery).as_of))


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(cached_openapi(current_app))


@bp.get("/docs")
def api_docs() -> Response:
    """The interactive API documentation (Swagger UI, vendored under static/)."""
    return redirect(url_for("static", filename="docs/index.html"))


@health_bp.get("/health")
@bp.get("/health")
@operation(
    "Database reachability and schema revision",
    responses={200: reply("Healthy", Health), 503: "The database does not answer"},
)
def health() -> Any:
    """Reachability of the database and the schema revision it is at."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        count_database_error(error)
        current_app.logger.warning("health check failed: %s", error)
        return problem(503, "Service Unavailable", "The database does not answer.")
    return jsonify(status="healthy", database="ok", schema_version=schema_revision())
