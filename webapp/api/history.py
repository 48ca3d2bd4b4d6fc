"""The JSON API of history: revisions, diffs, revert, restore, the deleted artifacts.

The as-of reads (`?as_of=` on GET /artifacts/{id}, $tree and $expand) are in views.py,
beside the reads they date (api.schemas.AsOfQuery).
"""

from __future__ import annotations

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.routing import IntegerConverter

from webapp.api.openapi import BODY_ERRORS, CHANGED, IF_MATCH, operation, reply
from webapp.api.parsing import body, query
from webapp.api.views import artifact_response, if_match, json_response
from webapp.artifacts import ArtifactOut, Page
from webapp.artifacts.history import DeletedArtifact, Diff, RevisionOut
from webapp.artifacts.revisions import MAX_REVISION
from webapp.artifacts.schemas import ArtifactId
from webapp.store import get_store

bp = Blueprint("history_api", __name__)


class RevisionNumber(IntegerConverter):
    """A {revision} path segment: 1 … MAX_REVISION (beyond, a 404 rather than a database error)."""

    def __init__(self, url_map, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(url_map, min=1, max=MAX_REVISION)


bp.record_once(lambda state: state.app.url_map.converters.setdefault("revision", RevisionNumber))


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: int = Field(1, ge=1, le=1_000_000_000, description="1-based page number")
    size: int = Field(50, ge=1, description="Revisions per page (at most MAX_PAGE_SIZE)")


class RevisionsDiffQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_by_name=True)

    from_: int | None = Field(None, alias="from", ge=1, le=MAX_REVISION, description="Default: the revision before `to`")
    to: int | None = Field(None, ge=1, le=MAX_REVISION, description="Default: the newest revision")


class ArtifactsDiffQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    a: ArtifactId = Field(..., description="The artifact compared from")
    b: ArtifactId = Field(..., description="The artifact compared to")
    key: str | None = Field(
        None, min_length=1, max_length=1000, description="Two tables: the column that names their rows"
    )


class RevertRequest(BaseModel):
    revision: int = Field(..., ge=1, le=MAX_REVISION, description="The revision whose data, parent and files to go back to")


NO_HISTORY = "No such artifact, and none ever had this id"


@bp.get("/artifacts/<artifact:artifact_id>/$history")
@operation(
    "An artifact's revisions, newest first (a deleted artifact's too)",
    query=HistoryQuery,
    responses={200: reply("One page", Page[RevisionOut]), 400: "Malformed ULID", 404: NO_HISTORY, 422: "Bad query"},
)
def artifact_history(artifact_id: str) -> Response:
    params = query(HistoryQuery)
    return json_response(get_store().history.page(artifact_id, params.page, params.size))


@bp.get("/artifacts/<artifact:artifact_id>/$history/<revision:revision>")
@operation(
    "One revision of an artifact",
    responses={200: reply("The revision", RevisionOut), 400: "Malformed ULID", 404: "No such revision"},
)
def artifact_revision(artifact_id: str, revision: int) -> Response:
    return json_response(get_store().history.revision(artifact_id, revision))


@bp.get("/artifacts/<artifact:artifact_id>/$diff")
@operation(
    "What changed between two revisions of an artifact",
    description="An RFC 6902 patch turning `from`'s data into `to`'s, and the same as a list of changes "
    "with old and new values; a change between two texts of several lines carries `line_diff`.",
    query=RevisionsDiffQuery,
    responses={200: reply("The diff", Diff), 400: "Malformed ULID", 404: "No such artifact or revision", 422: "Bad query"},
)
def revisions_diff(artifact_id: str) -> Response:
    params = query(RevisionsDiffQuery)
    return json_response(get_store().history.revisions_diff(artifact_id, params.from_, params.to))


@bp.get("/artifacts/$diff")
@operation(
    "What differs between two artifacts' current data (and tables)",
    description="As the revisions' diff; two table artifacts add `frame` (columns, dtypes, row counts) and, "
    "with `key`, the rows added, removed and changed, each with a count and the first 50.",
    query=ArtifactsDiffQuery,
    responses={200: reply("The diff", Diff), 404: "No such artifact", 422: "Bad query, or a key not in both tables"},
)
def artifacts_diff() -> Response:
    params = query(ArtifactsDiffQuery)
    store = get_store()
    with store.reading():
        diff = store.history.artifacts_diff(params.a, params.b)
        frame = store.frames.diff(store.artifacts.get(params.a), store.artifacts.get(params.b), params.key)
    if frame is not None:
        diff = Diff.model_validate({**diff.model_dump(mode="json"), "frame": frame})
    return json_response(diff)


@bp.post("/artifacts/<artifact:artifact_id>/$revert")
@operation(
    "Go back to a revision's data, parent and files, as a new revision",
    headers=[IF_MATCH],
    body=RevertRequest,
    responses={
        200: reply("The artifact, at its new revision (or as it was, when nothing changes)", ArtifactOut, etag=True),
        **BODY_ERRORS,
        404: "No such artifact or revision",
        409: "That revision's parent no longer exists (`parent_id`), the move would make a cycle, "
        "or a file it lists has no bytes in the blob store (`file-content-gone`)",
        **CHANGED,
    },
)
def revert_artifact(artifact_id: str) -> Response:
    request_ = body(RevertRequest)
    return artifact_response(get_store().artifacts.revert(artifact_id, request_.revision, if_match=if_match()))


@bp.post("/artifacts/<artifact:artifact_id>/$restore")
@operation(
    "Bring a deleted artifact back, same id, under its old parent",
    responses={
        200: reply("The restored artifact", ArtifactOut, etag=True),
        400: "Malformed ULID",
        404: NO_HISTORY,
        409: "The artifact is not deleted, its parent is gone (`parent_id`: restore it first), "
        "or a file it had has no bytes in the blob store (`file-content-gone`)",
        422: "Its old level is beyond the hierarchy's depth",
    },
)
def restore_artifact(artifact_id: str) -> Response:
    return artifact_response(get_store().artifacts.restore(artifact_id))


@bp.get("/artifacts/$deleted")
@operation(
    "Deleted artifacts, newest delete first, as they were when deleted",
    query=HistoryQuery,
    responses={200: reply("One page", Page[DeletedArtifact]), 422: "Bad query"},
)
def deleted_artifacts() -> Response:
    params = query(HistoryQuery)
    return json_response(get_store().history.deleted(params.page, params.size))

