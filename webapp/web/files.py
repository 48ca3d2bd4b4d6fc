"""The Files section of an artifact's page: upload (with a progress bar), list, download,
delete and previews. Its htmx fragment is the whole section, swapped in place.

Previews are rendered on demand (one file at a time), so the artifact's page itself
never reads a blob. Downloads and images go to the API's file URL, which serves every
file so that no browser runs it (webapp/api/files.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath

import nh3
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from markdown_it import MarkdownIt
from markupsafe import Markup
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse
from wtforms import StringField

from webapp.api.files import FileName
from webapp.artifacts import ArtifactOut
from webapp.artifacts.errors import ArtifactError
from webapp.extensions import csrf
from webapp.files import FileOut, may_run_code
from webapp.files.names import RASTER_IMAGES
from webapp.http import MULTIPART_OVERHEAD
from webapp.store import get_store
from webapp.web.htmx import is_fragment_request

bp = Blueprint("files", __name__)
bp.record_once(lambda state: state.app.url_map.converters.setdefault("filename", FileName))

PREVIEW_BYTES = 256 * 1024  # the first 256 KiB of a text, Markdown or JSON file
MARKDOWN = (".md", ".markdown")
TEXT = (".txt", ".csv", ".tsv", ".log", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".py", ".sql", ".xml", ".html", ".svg")
# CommonMark without raw HTML; the output is sanitised by nh3's allowlist all the same.
markdown = MarkdownIt("commonmark", {"html": False})


class FileUploadForm(FlaskForm):
    file = FileField("File", validators=[FileRequired("Choose a file to upload.")])
    name = StringField("Name (optional)")


@dataclass(frozen=True)
class FileRow:
    """A file as the section lists it."""

    file: FileOut
    artifact_id: str

    @property
    def preview(self) -> str | None:
        """image, markdown, json or text: what the preview shows; None for other bytes."""
        kind, suffix = self.file.media_type, PurePosixPath(self.file.name.lower()).suffix
        if kind in RASTER_IMAGES:
            return "image"
        if suffix in MARKDOWN or kind == "text/markdown":
            return "markdown"
        if suffix == ".json" or kind == "application/json" or kind.endswith("+json"):
            return "json"
        if kind.startswith("text/") or suffix in TEXT:
            return "text"
        return None

    @property
    def runs_code(self) -> bool:
        return may_run_code(self.file.name, self.file.media_type)

    @property
    def url(self) -> str:
        return url_for("files_api.get_file", artifact_id=self.artifact_id, name=self.file.name)


@dataclass(frozen=True)
class FilesView:
    """Context of files/_section.html."""

    artifact_id: str
    rows: list[FileRow]
    form: FileUploadForm
    max_bytes: int
    error: str | None = None


def files_view(artifact: ArtifactOut, form: FileUploadForm | None = None, error: str | None = None) -> FilesView:
    store, artifact_id = get_store(), str(artifact.id)
    rows = [FileRow(file, artifact_id) for file in store.files.list(artifact_id).items]
    return FilesView(artifact_id, rows, form or FileUploadForm(formdata=None), store.policy.max_file_bytes, error)


bp.add_app_template_global(files_view, "files_view")


def _section(artifact_id: str, status: int = 200, form: FileUploadForm | None = None, error: str | None = None):  # noqa: ANN202
    """The section as a fragment (htmx, the upload script), or the artifact's page otherwise."""
    if not is_fragment_request():
        if error:
            flash(error, "error")
        return redirect(url_for("web.artifact_detail", artifact_id=artifact_id) + "#files", 303)
    artifact = get_store().artifacts.get(artifact_id)
    html = render_template("files/_section.html", files=files_view(artifact, form, error))
    response = current_app.make_response((html, status))
    response.vary.add("HX-Request")
    return response


@bp.get("/artifacts/<artifact_id>/files")
def files_section(artifact_id: str) -> BaseResponse:
    """The Files section (htmx fragment); without htmx, the artifact's page at it."""
    return _section(str(get_store().artifacts.get(artifact_id).id))


@bp.post("/artifacts/<artifact_id>/files")
@csrf.exempt  # the form checks its own token, once the upload limit below is in place
def upload_file(artifact_id: str) -> BaseResponse:
    """Store the multipart `file` (under `name` when given) as a file of the artifact."""
    store = get_store()
    artifact_id = str(store.artifacts.get(artifact_id).id)
    request.max_content_length = store.policy.max_file_bytes + MULTIPART_OVERHEAD  # before CSRF reads the form
    try:
        form = FileUploadForm()
    except RequestEntityTooLarge:
        limit = store.policy.max_file_bytes / 1024**3
        return _section(artifact_id, 413, error=f"The file is larger than the limit of {limit:,.1f} GiB; nothing was stored.")
    if not form.validate_on_submit():
        errors = [message for messages in form.errors.values() for message in messages]
        return _section(artifact_id, 422, form, "; ".join(str(e) for e in errors) or "The form expired; try again.")
    upload = form.file.data
    try:
        file, _ = store.files.put(artifact_id, form.name.data or upload.filename or "", upload.stream,
                                  media_type=upload.mimetype)
    except ArtifactError as error:
        return _section(artifact_id, error.status, form, error.detail)
    if not is_fragment_request():
        flash(f"Stored “{file.name}” ({file.size:,} bytes).", "success")
    return _section(artifact_id)


@bp.post("/artifacts/<artifact_id>/files/<filename:name>/delete")
def delete_file(artifact_id: str, name: str) -> BaseResponse:
    store = get_store()
    artifact_id = str(store.artifacts.get(artifact_id).id)
    store.files.delete(artifact_id, name)
    if not is_fragment_request():
        flash(f"Deleted the file “{name}”.", "success")
    return _section(artifact_id)


@bp.get("/artifacts/<artifact_id>/files/<filename:name>/preview")
def preview_file(artifact_id: str, name: str) -> str:
    """A preview (htmx fragment): the image, or the first 256 KiB as text, JSON or
    rendered, sanitised Markdown. Nothing is ever loaded as code."""
    files = get_store().files
    row = FileRow(files.get(artifact_id, name), str(get_store().artifacts.get(artifact_id).id))
    kind, body, truncated = row.preview, None, row.file.size > PREVIEW_BYTES
    if kind in ("text", "markdown", "json"):
        text = files.head(row.file, PREVIEW_BYTES).decode("utf-8", errors="replace")
        if kind == "markdown":
            body = Markup(nh3.clean(markdown.render(text)))  # noqa: S704 - sanitised by nh3 just now
        elif kind == "json" and not truncated:
            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except ValueError:
                kind = "text"  # not valid JSON: shown as it is
            body = text
        else:
            body = text
    return render_template("files/_preview.html", row=row, kind=kind, body=body, truncated=truncated,
                           limit=PREVIEW_BYTES)
