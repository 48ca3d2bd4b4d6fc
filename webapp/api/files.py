"""The JSON API of files: raw PUT (streamed, Content-Digest checked), multipart POST for
browsers, listing, downloads with ETag, Range and If-None-Match, HEAD and DELETE."""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for
from werkzeug.datastructures import ContentRange
from werkzeug.exceptions import LengthRequired, UnsupportedMediaType
from werkzeug.routing import PathConverter

from webapp.api.openapi import COMMON_ERRORS, Reply, Schema, operation, reply
from webapp.api.parsing import query
from webapp.api.schemas import AsOfQuery
from webapp.api.views import json_response
from webapp.artifacts.errors import ArtifactValidationError
from webapp.errors import problem
from webapp.files import FileList, FileOut, FileService, digest_header, parse_content_digest, served_type, shown_inline
from webapp.http import MULTIPART_OVERHEAD, attachment
from webapp.store import get_store

bp = Blueprint("files_api", __name__)


class FileName(PathConverter):
    """A {name} segment that may hold '/' (sent as is or as %2F, which the server decodes
    before routing), so that such a name reaches the view and gets its 422, not a 404."""

    regex = r"[\s\S]+"  # any character, newlines too (refused by the view, not unrouted)


bp.record_once(lambda state: state.app.url_map.converters.setdefault("filename", FileName))

FILE = "/artifacts/<artifact:artifact_id>/files/<filename:name>"
NO_FILE = "No such artifact, or it has no file of that name"
CONTENT_DIGEST = {
    "name": "Content-Digest",
    "in": "header",
    "required": False,
    "description": "`sha-256=:<base64 of the SHA-256>:` (RFC 9530): the body is checked against it before "
    "anything is stored; a mismatch is a 422 and nothing is stored",
    "schema": {"type": "string"},
}
RANGE = {
    "name": "Range",
    "in": "header",
    "required": False,
    "description": "One byte range (`bytes=0-1023`, `bytes=-500`): a 206 with those bytes",
    "schema": {"type": "string"},
}
IF_NONE_MATCH_FILE = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "The file's ETag (its SHA-256, quoted): 304 without a body while the file still holds those bytes",
    "schema": {"type": "string"},
}
# The file's bytes, as the type it is served with (image/png, text/plain, application/octet-stream …).
BYTES = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
UPLOAD = Schema(
    "FileUpload",
    {
        "type": "object",
        "required": ["file"],
        "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "The file; stored under its file name"},
            "name": {"type": "string", "description": "Store it under this name instead of the file's own"},
        },
    },
)
NAME_ERRORS = "The name breaks a rule (named in `errors`), or the body is not its Content-Digest"



def _file_url(file: FileOut, artifact_id: str) -> str:
    return url_for("files_api.get_file", artifact_id=artifact_id, name=file.name, _external=True)


def _stored(file: FileOut, created: bool, artifact_id: str) -> Response:
    response = json_response(file, 201 if created else 200)
    response.headers["Location"] = _file_url(file, artifact_id)
    response.set_etag(file.sha256)
    return response


@bp.put(FILE, merge_slashes=False)
@operation(
    "Store a file of the artifact: the raw bytes as the body, streamed",
    description="Replaces a file of that name. The bytes are kept once per SHA-256, however many files hold "
    "them. Up to MAX_FILE_BYTES (5 GiB by default).",
    body=Schema("FileBytes", {"type": "string", "format": "binary"}),
    body_media_type="application/octet-stream",
    headers=[CONTENT_DIGEST],
    responses={
        200: reply("Replaced the file of that name", FileOut),
        201: reply("Created", FileOut),
        **COMMON_ERRORS,
        400: "Malformed ULID",
        411: "No body (neither Content-Length nor Transfer-Encoding), or a chunked body the server cannot read",
        413: "The body is larger than MAX_FILE_BYTES",
        422: NAME_ERRORS,
    },
)
def put_file(artifact_id: str, name: str) -> Response:
    files = get_store().files
    # One byte past the limit reaches FileService, which refuses it: Werkzeug would stop a
    # chunked body at the limit without a word, and a truncated file would be stored.
    request.max_content_length = files.policy.max_file_bytes + 1
    if request.content_length is None:
        if "Transfer-Encoding" not in request.headers:
            # No body at all: RFC 9112 reads that as empty, but a forgotten body must not
            # become an empty file; 411 (RFC 9110) asks for the length an empty file states.
            raise LengthRequired("Send the file's bytes as the body, with a Content-Length (0 for an empty file) or chunked.")
        if not request.environ.get("wsgi.input_terminated"):
            # A server that cannot say where a chunked body ends hands Werkzeug none: refuse
            # rather than store an empty file (gunicorn and most servers do say).
            raise LengthRequired("Send a Content-Length, or a chunked body to a server that supports it.")
    digest = parse_content_digest(request.headers.get("Content-Digest"))
    file, created = files.put(artifact_id, name, request.stream, digest=digest, media_type=request.content_type)
    return _stored(file, created, artifact_id)


@bp.post("/artifacts/<artifact:artifact_id>/files")
@operation(
    "Upload a file of the artifact as multipart/form-data (browsers)",
    body=UPLOAD,
    body_media_type="multipart/form-data",
    responses={
        200: reply("Replaced the file of that name", FileOut),
        201: reply("Created", FileOut),
        **COMMON_ERRORS,
        413: "The file is larger than MAX_FILE_BYTES",
        415: "The body is not multipart/form-data",
        422: "No `file` field, or the name breaks a rule (named in `errors`)",
    },
)
def upload_file(artifact_id: str) -> Response:
    store = get_store()
    upload, name = uploaded_file(store.files)
    file, created = store.files.put(artifact_id, name, upload.stream, media_type=upload.mimetype)
    return _stored(file, created, artifact_id)


def uploaded_file(files: FileService) -> tuple[object, str]:
    """The multipart part `file` and the name to store it under (the `name` field, else
    the part's file name). 415 when not multipart, 422 without a file."""
    request.max_content_length = files.policy.max_file_bytes + MULTIPART_OVERHEAD
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            f"Send the file as multipart/form-data in a field named 'file' (got {request.mimetype or 'none'!r})."
        )
    upload = request.files.get("file")
    if upload is None:
        raise ArtifactValidationError(
            [{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}],
            detail="Send the file in the multipart field 'file'.",
        )
    return upload, request.form.get("name") or upload.filename or ""


@bp.get("/artifacts/<artifact:artifact_id>/files")
@operation(
    "The artifact's files, by name (with as_of: those it had then)",
    query=AsOfQuery,
    responses={
        200: reply("The files", FileList), **COMMON_ERRORS,
        404: "No such artifact (at as_of: it did not exist then, or was deleted)", 422: "Bad as_of",
    },
)
def list_files(artifact_id: str) -> Response:
    return json_response(get_store().files.list(artifact_id, as_of=query(AsOfQuery).as_of))


@bp.get(FILE, merge_slashes=False)
@operation(
    "Download a file (HEAD: its headers only)",
    description="ETag is the SHA-256. Raster images (PNG, JPEG, GIF, WebP, as their bytes prove) and plain "
    "text are shown inline; everything else is an attachment. Repr-Digest carries the SHA-256 (RFC 9530).",
    query=AsOfQuery,
    headers=[RANGE, IF_NONE_MATCH_FILE],
    responses={
        200: Reply("The bytes", content=BYTES),
        206: Reply("The requested range", content=BYTES),
        304: "Not modified: the file still holds the bytes named in If-None-Match",
        **COMMON_ERRORS,
        404: NO_FILE,
        416: "The range lies outside the file",
        422: "The name breaks a rule (named in `errors`), or a bad as_of",
    },
)
def get_file(artifact_id: str, name: str) -> Response:
    files = get_store().files
    return file_response(files, files.get(artifact_id, name, as_of=query(AsOfQuery).as_of))


@bp.delete(FILE, merge_slashes=False)
@operation(
    "Delete a file of the artifact",
    description="Its bytes stay in the blob store until `flask gc-blobs` finds them unused by any file.",
    responses={204: "Deleted", **COMMON_ERRORS, 404: NO_FILE, 422: "The name breaks a rule (named in `errors`)"},
)
def delete_file(artifact_id: str, name: str) -> Response:
    get_store().files.delete(artifact_id, name)
    return Response(status=204)


def file_response(files: FileService, file: FileOut) -> Response:
    """The file's bytes streamed from the blob store, with conditional and range requests
    answered, served so that no browser runs them (see webapp.files.names)."""
    size, etag = file.size, file.sha256
    start, stop, status = 0, size, 200
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304)
    else:
        ranges = request.range
        # If-Range naming other bytes (or a date: files have no Last-Modified) asks for the whole file.
        current = "If-Range" not in request.headers or request.if_range.etag == etag
        if ranges is not None and len(ranges.ranges) == 1 and current:
            span = ranges.range_for_length(size)
            if span is None:
                response = problem(416, "Range Not Satisfiable", f"The file has {size} bytes; that range lies outside it.")
                response.headers["Content-Range"] = f"bytes */{size}"
                return response
            (start, stop), status = span, 206
        response = Response(files.read(file, start, stop), status=status, direct_passthrough=True)
        response.content_length = stop - start
        if status == 206:
            response.content_range = ContentRange("bytes", start, stop, size)
        elif size:
            response.headers["Content-Digest"] = digest_header(etag)
    response.set_etag(etag)
    response.headers["Repr-Digest"] = digest_header(etag)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "no-cache"  # a name may be given new bytes: revalidate (304 is cheap)
    response.headers["Content-Security-Policy"] = "sandbox"  # opened as a page, it may run nothing
    response.headers["Content-Type"] = served_type(file.media_type)
    if shown_inline(file.media_type):
        response.headers["Content-Disposition"] = "inline"
    else:
        attachment(response, file.name, fallback="file")
    return response
