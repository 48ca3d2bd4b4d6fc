"""HTTP helpers that the pages and the JSON API share (written once, used by both blueprints)."""

from __future__ import annotations

from flask import Response, request, url_for

from webapp.store import get_store

# Room for the multipart envelope around an uploaded file: boundaries, part headers, fields.
MULTIPART_OVERHEAD = 64 * 1024


def allow_upload_body() -> None:
    """Let this request's body be as large as an upload may be, instead of MAX_CONTENT_LENGTH
    (the limit of JSON bodies). Call it before anything reads the form (CSRF does)."""
    request.max_content_length = get_store().policy.max_upload_bytes + MULTIPART_OVERHEAD


def created(response: Response, artifact_id: object) -> Response:
    """`response` as the answer to a create: 201 with the new artifact's API URL in Location."""
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_artifact", artifact_id=str(artifact_id), _external=True)
    return response
