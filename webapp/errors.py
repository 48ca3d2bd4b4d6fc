"""Error responses: RFC 9457 problem documents under /api, HTML pages elsewhere."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.artifacts.errors import ArtifactError
from webapp.extensions import db
from webapp.observability import count_database_error
from webapp.web.htmx import is_fragment_request

log = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/health")
RETRY_AFTER_SECONDS = 5


def wants_problem_json() -> bool:
    return request.path.startswith(API_PREFIXES)


def problem(status: int, title: str, detail: str | None = None, type_: str = "about:blank", **extra: Any) -> Response:
    """An application/problem+json response (RFC 9457)."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def render_error_page(status: int, title: str, detail: str | None) -> tuple[str, int]:
    template = "errors/_fragment.html" if is_fragment_request() else "errors/error.html"
    return render_template(template, status=status, title=title, detail=detail), status


def _handle_domain_error(error: ArtifactError) -> Any:
    db.session.rollback()
    if wants_problem_json():
        return problem(error.status, error.title, error.detail, error.type, **error.extra)
    return render_error_page(error.status, error.title, error.detail)


def _handle_http_error(error: HTTPException) -> Any:
    status = error.code or 500
    if status >= 500:
        db.session.rollback()
    if wants_problem_json():
        response = problem(status, error.name, error.description)
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response
    return render_error_page(status, error.name, error.description)


def _handle_database_unavailable(error: OperationalError) -> Any:
    """The database does not answer (down, restarting, unreachable, locked past the busy
    timeout): a 503 that tells clients to retry, not a 500 that suggests a bug."""
    log.warning("database unavailable on %s %s: %s", request.method, request.path, error.orig or error)
    count_database_error(error)
    try:
        db.session.rollback()
    except SQLAlchemyError:  # the connection is gone: the database rolled the transaction back
        db.session.invalidate()
    detail = "The database is not available right now; try again shortly."
    if wants_problem_json():
        response = problem(503, "Service Unavailable", detail)
    else:
        response = current_app.make_response(render_error_page(503, "Service Unavailable", detail))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _handle_unexpected(error: Exception) -> Any:
    log.exception("Unhandled error on %s %s", request.method, request.path)
    if isinstance(error, SQLAlchemyError):
        count_database_error(error)
    db.session.rollback()
    return _handle_http_error(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ArtifactError, _handle_domain_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(OperationalError, _handle_database_unavailable)
    app.register_error_handler(Exception, _handle_unexpected)
