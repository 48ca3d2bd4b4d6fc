"""The JSON API of tables: CSV upload (multipart/form-data), pages of rows, CSV and JSON downloads."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import UnsupportedMediaType

from webapp.api.openapi import COMMON_ERRORS, Reply, Schema, operation, reply
from webapp.api.parsing import query
from webapp.api.views import artifact_response, json_response
from webapp.artifacts import ArtifactOut, PandasDataFrame
from webapp.artifacts.errors import ArtifactValidationError
from webapp.artifacts.schemas import ULID_PATTERN
from webapp.frames import FramePage, csv_chunks, json_chunks
from webapp.http import allow_upload_body, attachment, created
from webapp.store import get_store

bp = Blueprint("frames_api", __name__)

# The multipart body of POST /artifacts/$upload, for the OpenAPI document.
CSV_UPLOAD_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "additionalProperties": False,
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",  # no contentMediaType: what makes bytes a readable CSV is beyond a schema
            "description": "The CSV file: UTF-8 (with or without a BOM) or Latin-1 text; comma, semicolon, "
            "tab or pipe separated; the first row names the columns unless it holds only numbers",
        },
        "parent_id": {
            "type": "string",
            "pattern": ULID_PATTERN,
            "description": "Make the new artifact a child of this one; omit for a root",
        },
        "hierarchy": {
            "type": "string",
            "description": "A root's hierarchy (omitted: the default); a child is in its parent's",
        },
    },
}
CSV_UPLOAD = Schema("CSVUpload", CSV_UPLOAD_SCHEMA)
NO_TABLE = "No such artifact, or it holds no table"


class FrameRowsQuery(BaseModel):
    """Query string of GET /artifacts/{id}/frame/rows."""

    model_config = ConfigDict(extra="ignore")

    page: int = Field(1, ge=1, le=1_000_000_000, description="1-based page; past the end means the last page")
    size: int = Field(50, ge=1, description="Rows per page (at most MAX_PAGE_SIZE, 1000 by default)")
    sort: str | None = Field(None, max_length=1000, description="Column to sort by; omit for stored order")
    order: Literal["asc", "desc"] = Field("asc", description="Sort direction; missing values always last")


class FrameCSVQuery(BaseModel):
    """Query string of GET /artifacts/{id}/frame.csv."""

    model_config = ConfigDict(extra="ignore")

    raw: bool = Field(
        False,
        description="Write text cells exactly as stored; by default a cell starting with =, +, -, @, "
        "tab or CR gets a leading ' so that a spreadsheet does not run it as a formula",
    )


UPLOAD_TEXT_FIELDS = ("parent_id", "hierarchy")


def uploaded_csv() -> tuple[FileStorage, str | None, str | None]:
    """The CSV, parent_id and hierarchy of a multipart/form-data request, within MAX_UPLOAD_BYTES.

    415 when the body is not multipart; 413 (before reading the body) when the request
    is larger than the limit allows; 422 naming the fields when the file part `file` is
    missing, a field comes twice, or any other field is sent (a misspelt parent_id must
    not quietly make a root).
    """
    allow_upload_body()
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            "Send the CSV as multipart/form-data with the file in a field named 'file' "
            f"(got {request.mimetype or 'no content type'!r})."
        )
    errors = [] if "file" in request.files else [_field_error("file", "Field required", "missing")]
    for parts, expected in ((request.files, ("file",)), (request.form, UPLOAD_TEXT_FIELDS)):
        for name in parts:
            if name not in expected:
                message = "Unexpected field: send a file 'file' and optional texts 'parent_id', 'hierarchy'"
                errors.append(_field_error(name, message, "extra_forbidden"))
            elif len(parts.getlist(name)) > 1:
                errors.append(_field_error(name, "Send this field once", "duplicate"))
    if errors:
        sent = ", ".join(sorted({str(name) for name in (*request.files, *request.form)})) or "none"
        raise ArtifactValidationError(
            errors,
            detail="Send the CSV as a file in the multipart field 'file', and nothing else but an optional "
            f"'parent_id' and 'hierarchy' (fields sent: {sent[:200]}).",
        )
    return request.files["file"], request.form.get("parent_id"), request.form.get("hierarchy") or None


def _field_error(name: object, message: str, kind: str) -> dict[str, object]:
    return {"loc": ["body", str(name)], "msg": message, "type": kind}  # a part may have no name: None


@bp.post("/artifacts/$upload")
@operation(
    "Upload a CSV file: a new artifact holding its table",
    description="The artifact's data records the file (name, size, SHA-256, encoding), the table's row and "
    "column counts, dtypes and first rows; the rows are kept beside it. Delimiter, quoting and header row "
    "are detected. Nothing is stored when the file is refused.",
    body=CSV_UPLOAD,
    body_media_type="multipart/form-data",
    responses={
        201: reply("Created", ArtifactOut, etag=True),
        400: "parent_id is not a ULID, or the body is not valid multipart",
        404: "The parent does not exist",
        413: "The file is larger than MAX_UPLOAD_BYTES",
        415: "The body is not multipart/form-data",
        422: "No `file` field (type validation), or a file that is not a readable CSV: empty, a header "
        "without rows, ragged rows, binary data, an unknown encoding (type invalid-csv)",
    },
)
def upload_csv() -> Response:
    upload, parent_id, hierarchy = uploaded_csv()
    artifact = get_store().frames.create_from_csv(
        upload.stream, upload.filename or "upload.csv", parent_id=parent_id, hierarchy=hierarchy
    )
    return created(artifact_response(artifact), artifact.id)


@bp.get("/artifacts/<artifact:artifact_id>/frame/rows")
@operation(
    "One page of the table's rows, optionally sorted by a column",
    query=FrameRowsQuery,
    responses={
        200: reply("The page", FramePage),
        **COMMON_ERRORS,
        404: NO_TABLE,
        422: "Bad query parameter, or no column of that name",
    },
)
def get_frame_rows(artifact_id: str) -> Response:
    params = query(FrameRowsQuery)
    frames = get_store().frames
    loaded = frames.require_frame(artifact_id)
    return json_response(frames.page(loaded, params.page, params.size, params.sort, params.order))


@bp.get("/artifacts/<artifact:artifact_id>/frame")
@operation(
    "The artifact's whole table as a PandasDataFrame (columns and rows)",
    responses={200: reply("The table", PandasDataFrame), **COMMON_ERRORS, 404: NO_TABLE},
)
def get_frame(artifact_id: str) -> Response:
    """The whole table as the spec's PandasDataFrame JSON, streamed."""
    loaded = get_store().frames.require_frame(artifact_id)
    return Response(json_chunks(loaded), mimetype="application/json")


@bp.get("/artifacts/<artifact:artifact_id>/frame.csv")
@operation(
    "The artifact's whole table as a CSV file (UTF-8, header row)",
    responses={
        200: Reply("The table", content={"text/csv": {"schema": {"type": "string"}}}),
        **COMMON_ERRORS,
        404: NO_TABLE,
        422: "Bad query parameter (raw)",
    },
    query=FrameCSVQuery,
)
def get_frame_csv(artifact_id: str) -> Response:
    """The whole table as CSV (UTF-8, header row), streamed as a download; formulas
    neutralised unless `raw`."""
    raw = query(FrameCSVQuery).raw
    loaded = get_store().frames.require_frame(artifact_id)
    response = Response(csv_chunks(loaded, raw=raw), mimetype="text/csv")
    return attachment(response, loaded.download_name("csv"), fallback=loaded.artifact_id)
