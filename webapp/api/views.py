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
from webapp.api.openapi import build_openapi
from webapp.api.parsing import body, query
from webapp.api.schemas import DepthQuery, ListQuery
from webapp.artifacts import ArtifactIn, ArtifactOut, ArtifactUpdate, ExpandRequest, TreeRequest
from webapp.artifacts.errors import ArtifactValidationError
from webapp.artifacts.manager import normalize_id
from webapp.database import schema_revision
from webapp.errors import problem
from webapp.extensions import db
from webapp.services import get_manager

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
    return current_app.response_class(model.model_dump_json(), status=status, mimetype="application/json")


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


@bp.post("/artifacts")
def create_artifact() -> Response:
    artifact = get_manager().create(body(ArtifactIn))
    response = artifact_response(artifact, 201)
    response.headers["Location"] = url_for("api.get_artifact", artifact_id=str(artifact.id), _external=True)
    return response


@bp.get("/artifacts")
def list_artifacts() -> Response:
    params = query(ListQuery)
    limit = current_app.config["MAX_PAGE_SIZE"]
    if params.size > limit:
        raise ArtifactValidationError(
            [{"loc": ["query", "size"], "msg": f"Input should be less than or equal to {limit}", "type": "less_than_equal"}]
        )
    page = get_manager().list_page(
        params.page,
        params.size,
        cursor=params.cursor,
        parent_id=params.parent_id,
        roots_only=params.roots,
        level=params.level,
        text=params.q,
    )
    return json_response(page)


@bp.get("/artifacts/<artifact:artifact_id>")
def get_artifact(artifact_id: str) -> Response:
    return artifact_response(get_manager().get(artifact_id)).make_conditional(request)


@bp.put("/artifacts/<artifact:artifact_id>")
def update_artifact(artifact_id: str) -> Response:
    artifact_id = normalize_id(artifact_id)
    return artifact_response(get_manager().update(artifact_id, body(ArtifactUpdate), if_match=if_match()))


@bp.delete("/artifacts/<artifact:artifact_id>")
def delete_artifact(artifact_id: str) -> Response:
    get_manager().delete(artifact_id, if_match=if_match())
    return Response(status=204)


@bp.post("/artifacts/$tree")
def build_tree() -> Response:
    request_ = body(TreeRequest)
    return document_response(get_manager().tree_document(request_.root_id, request_.max_depth))


@bp.get("/artifacts/<artifact:artifact_id>/$tree")
def get_artifact_tree(artifact_id: str) -> Response:
    artifact_id = normalize_id(artifact_id)
    return document_response(get_manager().tree_document(artifact_id, query(DepthQuery).max_depth))


@bp.post("/artifacts/$expand")
def expand_artifact() -> Response:
    return document_response(get_manager().expand_document(body(ExpandRequest).artifact_id))


@bp.get("/artifacts/<artifact:artifact_id>/$expand")
def get_artifact_expansion(artifact_id: str) -> Response:
    return document_response(get_manager().expand_document(artifact_id))


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(build_openapi(current_app.config["MAX_PAGE_SIZE"]))


@bp.get("/docs")
def api_docs() -> Response:
    """The interactive API documentation (Swagger UI, vendored under static/)."""
    return redirect(url_for("static", filename="docs/index.html"))


@health_bp.get("/health")
@bp.get("/health")
def health() -> Any:
    """Reachability of the database and the schema revision it is at."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        current_app.logger.warning("health check failed: %s", error)
        return problem(503, "Service Unavailable", "The database does not answer.")
    return jsonify(status="healthy", database="ok", schema_version=schema_revision())
