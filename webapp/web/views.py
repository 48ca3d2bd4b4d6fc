"""HTML pages and htmx fragments. Thin: read input, call the manager, render or redirect.

Every rule (levels, parents, cycles, delete-with-children) is the manager's; a refused
form comes back with the user's input and the manager's explanation (status 422).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError
from pydantic import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from webapp.artifacts import ArtifactIn, ArtifactOut, ArtifactUpdate, MovePreview
from webapp.artifacts.errors import (
    ArtifactChangedError,
    ArtifactError,
    ArtifactNotFoundError,
    ArtifactValidationError,
    UnknownHierarchyError,
)
from webapp.errors import render_error_page
from webapp.http import attachment
from webapp.store import get_store
from webapp.web import presenters
from webapp.web.htmx import is_fragment_request
from webapp.web.forms import ArtifactForm, ConfirmForm, MoveForm, offer_hierarchies

bp = Blueprint("web", __name__)

CHILD_PAGE_SIZE = 50
PICKER_ROOTS = 50  # roots offered by the move page's tree; the text search finds the others
MAX_PAGE = 1_000_000  # keeps OFFSET far inside a 64-bit integer whatever the query string says
MAX_QUERY_LENGTH = 200
EDITABLE_JSON_CHARS = 2_000_000  # bigger data is edited through the API, not a textarea

# Scripts and styles only from this origin: stored data can never run as script, even if
# a template forgot to escape it. Inline style attributes stay allowed (harmless, and
# partials from other features may use them).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class TreeNode:
    """An artifact as a tree row: the artifact and how many children it has."""

    artifact: ArtifactOut
    children: int

    @property
    def id(self) -> str:
        return str(self.artifact.id)


# Template helpers ------------------------------------------------------------------------


def level_label(level: int, hierarchy: str | None = None) -> str:
    """The label of `level` in `hierarchy` (None: the default one)."""
    hierarchies = get_store().policy.hierarchies
    return hierarchies.label_for(hierarchy or hierarchies.default_name, level)


def _title_field(artifact: Any) -> str | None:
    return get_store().policy.hierarchies.of(artifact.hierarchy).title_field if artifact.hierarchy else None


def display_name(artifact: Any) -> str:
    """The artifact's title (its hierarchy's title field first), or "Untitled <level label>"."""
    return presenters.title_of(artifact.data, _title_field(artifact)) or f"Untitled {artifact.level_label}"


def summary(artifact: Any) -> str:
    """One line of the artifact's fields, beside its title."""
    return presenters.summary_of(artifact.data, _title_field(artifact))


bp.add_app_template_filter(level_label, "level_label")
bp.add_app_template_filter(display_name, "display_name")
bp.add_app_template_filter(summary, "summary")
bp.add_app_template_global(presenters.is_frame, "is_frame")
bp.add_app_template_global(presenters.looks_base64, "looks_base64")
bp.add_app_template_global(presenters.pointer_append, "pointer_append")
bp.add_app_template_global(presenters.first_entries, "first_entries")
bp.add_app_template_global(presenters.describe_value, "describe_value")
bp.add_app_template_global(presenters.VIEW_LIMITS, "view_limits")


@bp.after_app_request
def _security_headers(response: Response) -> Response:
    """On every page and fragment of the app (the tables' pages too), not only this blueprint's."""
    if response.mimetype != "text/html" or request.path.startswith("/static/"):
        return response
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.vary.add("HX-Request")  # fragment and page share URLs: caches must keep them apart
    return response


# Helpers -------------------------------------------------------------------------------


def _page_arg(name: str = "page") -> int:
    return min(max(request.args.get(name, 1, type=int) or 1, 1), MAX_PAGE)


def _tree_nodes(artifacts: list[ArtifactOut]) -> list[TreeNode]:
    counts = get_store().artifacts.child_counts([a.id for a in artifacts])
    return [TreeNode(a, counts.get(str(a.id), 0)) for a in artifacts]


def _children(artifact_id: str, page: int) -> dict[str, Any]:
    """Context of the children partial: one page of child nodes and where the next starts."""
    items, total = get_store().artifacts.find_paginated(page, CHILD_PAGE_SIZE, parent_id=artifact_id)
    shown = (page - 1) * CHILD_PAGE_SIZE + len(items)
    return {
        "parent_id": artifact_id,
        "nodes": _tree_nodes(items),
        "total_children": total,
        "page": page,
        "next_page": page + 1 if shown < total else None,
        "remaining": max(total - shown, 0),
    }


@dataclass(frozen=True)
class Picking:
    """A tree shown to choose a new parent for `artifact` (the move page's tree picker)."""

    artifact: str  # its id: it is shown but not offered, and not opened (no descendant may be picked)
    parent: str | None  # its current parent: shown as such instead of offered


def _picking(artifact: ArtifactOut) -> Picking:
    return Picking(str(artifact.id), str(artifact.parent_id) if artifact.parent_id else None)


def _form_refused(form: Any, error: ArtifactError) -> None:
    """Show the manager's refusal on the form (the user's input stays in the fields)."""
    if isinstance(error, UnknownHierarchyError) and hasattr(form, "hierarchy"):
        form.hierarchy.errors = [*form.hierarchy.errors, error.detail]
    elif isinstance(error, ArtifactValidationError) and isinstance(form, ArtifactForm):
        form.refuse_data(error.detail)  # the data broke a limit of the store's policy
    else:
        form.form_errors.append(error.detail)


def _artifact_in(form: ArtifactForm, parent_id: str | None) -> ArtifactIn:
    hierarchy = None if parent_id else form.hierarchy.data or None  # a child is in its parent's
    return ArtifactIn.model_validate({"parent_id": parent_id, "data": form.data_value, "hierarchy": hierarchy})


# Pages and fragments ---------------------------------------------------------------------


@bp.get("/")
def artifact_index() -> str:
    """The root artifacts, newest first, optionally of one hierarchy and filtered by text in their data."""
    q = request.args.get("q", "").strip()[:MAX_QUERY_LENGTH]
    hierarchy = request.args.get("hierarchy", "").strip()[:MAX_QUERY_LENGTH] or None
    manager = get_store().artifacts
    size = get_store().policy.default_page_size
    listing = manager.list_page(
        _page_arg(), size, roots_only=True, text=q or None, hierarchy=hierarchy, newest_first=True
    )
    context = {
        "listing": listing, "nodes": _tree_nodes(listing.items), "q": q, "hierarchy": hierarchy,
        "hierarchies": manager.hierarchy_list(),
    }
    if is_fragment_request() and request.headers.get("HX-Target") == "listing":
        return render_template("artifacts/_listing.html", **context)
    return render_template("artifacts/index.html", **context)


@bp.get("/artifacts/<artifact_id>")
def artifact_detail(artifact_id: str) -> str:
    manager = get_store().artifacts
    artifact = manager.get(artifact_id)
    artifact_id = str(artifact.id)
    return render_template(
        "artifacts/detail.html",
        artifact=artifact,
        ancestors=manager.ancestors(artifact_id),
        **_children(artifact_id, _page_arg()),
    )


@bp.get("/artifacts/<artifact_id>/children")
def artifact_children(artifact_id: str) -> str | BaseResponse:
    """One level of children (htmx fragment). Without htmx: the artifact's page."""
    artifact_id = str(get_store().artifacts.get(artifact_id).id)
    page = _page_arg()
    if not is_fragment_request():
        return redirect(url_for("web.artifact_detail", artifact_id=artifact_id, page=page if page > 1 else None)
                        + "#children")
    moving = request.args.get("move")
    picking = _picking(get_store().artifacts.get(moving)) if moving else None
    return render_template("artifacts/_children.html", picking=picking, **_children(artifact_id, page))


@bp.get("/artifacts/<artifact_id>/value")
def artifact_value(artifact_id: str) -> Response:
    """One value of the data in full (by JSON pointer): text as text/plain, the rest as JSON."""
    artifact = get_store().artifacts.get(artifact_id)
    pointer = request.args.get("pointer", "")
    try:
        value = presenters.resolve_pointer(artifact.data, pointer)
    except LookupError:
        abort(404, f"This artifact has no value at {pointer!r}.")
    if request.args.get("decode") == "base64":
        if not isinstance(value, str):
            abort(400, "Only a text value can be decoded from base64.")
        try:
            body: str | bytes = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            abort(400, "This value is not valid base64.")
        response = Response(body, mimetype="application/octet-stream")
        suffix = ".bin"
    elif isinstance(value, str):
        response, suffix = Response(value, mimetype="text/plain"), ".txt"
    else:
        response = Response(json.dumps(value, indent=2, ensure_ascii=False), mimetype="application/json")
        suffix = ".json"
    if request.args.get("download") or suffix == ".bin":
        filename = presenters.pointer_filename(str(artifact.id), pointer, suffix)
        attachment(response, filename, fallback=str(artifact.id))
    return response


# Forms -----------------------------------------------------------------------------------


@bp.route("/artifacts/new", methods=["GET", "POST"])
def artifact_new() -> tuple[str, int] | BaseResponse:
    """Create a root artifact, or a child when `parent` (GET) / `parent_id` (POST) names one."""
    form = ArtifactForm()
    offer_hierarchies(form.hierarchy, request.args.get("hierarchy"))
    status = 422 if request.method == "POST" else 200  # a POST that ends here was refused
    if request.method == "GET":
        parent_id = request.args.get("parent") or None
        form.start(None, request.args.get("mode", ""))
        form.parent_id.data = str(get_store().artifacts.get(parent_id).id) if parent_id else ""
    elif form.rebuilding:
        status = 200 if form.rebuild() else 422
    elif form.validate_on_submit():
        try:
            artifact = get_store().artifacts.create(_artifact_in(form, form.parent_id.data or None))
        except ArtifactError as error:
            _form_refused(form, error)
        except ValidationError:  # only the hidden parent id can be wrong here: data passed the form
            form.form_errors.append("The parent id of this form is not a valid artifact id.")
        else:
            flash(f"Created {artifact.level_label} “{display_name(artifact)}”.", "success")
            return redirect(url_for("web.artifact_detail", artifact_id=str(artifact.id)))
    parent = None
    if form.parent_id.data:
        try:
            parent = get_store().artifacts.find_by_id(form.parent_id.data)
        except ArtifactError:
            pass  # reported on the form
    return render_template(
        "artifacts/form.html", form=form, parent=parent, artifact=None, refused=status == 422
    ), status


@bp.route("/artifacts/<artifact_id>/edit", methods=["GET", "POST"])
def artifact_edit(artifact_id: str) -> tuple[str, int] | BaseResponse:
    """Replace an artifact's data, unless someone else changed it since the form opened."""
    artifact = get_store().artifacts.get(artifact_id)
    too_large = len(json.dumps(artifact.data)) > EDITABLE_JSON_CHARS
    form = ArtifactForm()
    status = 422 if request.method == "POST" else 200  # a POST that ends here was refused
    changed_meanwhile = False
    if too_large:
        form, status = None, 200
    elif request.method == "GET":
        form.start(artifact.data, request.args.get("mode", ""))
        form.version.data = artifact.version
    elif form.rebuilding:
        status = 200 if form.rebuild() else 422
    elif form.validate_on_submit():
        try:
            updated = get_store().artifacts.update(
                artifact.id, ArtifactUpdate(data=form.data_value), if_match=form.version.data or None
            )
        except ArtifactChangedError as error:
            # Keep the user's edits; a second save (now against the current version) is a
            # deliberate overwrite, after they have seen what changed.
            changed_meanwhile, status = True, 409
            form.version.data = error.current_version
        except ArtifactError as error:
            _form_refused(form, error)
        else:
            flash(f"Saved {updated.level_label} “{display_name(updated)}”.", "success")
            return redirect(url_for("web.artifact_detail", artifact_id=str(updated.id)))
    return render_template(
        "artifacts/form.html", form=form, artifact=artifact, parent=None, refused=status == 422,
        changed_meanwhile=changed_meanwhile,
    ), status


def _already_there(artifact: ArtifactOut) -> str:
    if artifact.parent_id is None:
        return f"“{display_name(artifact)}” is already a root artifact: nothing changed."
    parent = get_store().artifacts.get(artifact.parent_id)
    return f"“{display_name(artifact)}” is already under “{display_name(parent)}”: nothing changed."


def _move_refused(form: MoveForm, artifact: ArtifactOut, error: ArtifactError) -> None:
    """Show why the move cannot happen next to the parent id typed."""
    if isinstance(error, ArtifactNotFoundError) and error.artifact_id == str(artifact.id):
        raise error  # the artifact itself is gone: the app shows its 404 page
    form.parent_id.errors = [*form.parent_id.errors, error.detail]


def _move_preview(form: MoveForm, artifact: ArtifactOut, parent_id: str | None) -> MovePreview | None:
    """What the move would do, or None with the reason it cannot happen shown on the form."""
    try:
        return get_store().artifacts.move_preview(artifact.id, parent_id)
    except ArtifactError as error:
        _move_refused(form, artifact, error)
        return None


@bp.route("/artifacts/<artifact_id>/move", methods=["GET", "POST"])
def artifact_move(artifact_id: str) -> tuple[str, int] | BaseResponse:
    """Move an artifact (with its subtree) under another parent, or make it a root.

    A move that changes levels is previewed first (new level, how many artifacts move)
    and only done when the user confirms it, for the version of the artifact they saw.
    """
    manager = get_store().artifacts
    artifact = manager.get(artifact_id)
    form = MoveForm()
    status = 422 if request.method == "POST" else 200  # a POST that ends here was refused
    preview = None
    if request.method == "GET":
        form.parent_id.data = str(artifact.parent_id) if artifact.parent_id else ""
    elif form.validate_on_submit():
        parent_id = form.parent_id.data or None
        preview = _move_preview(form, artifact, parent_id)
        if preview and preview.unchanged:
            flash(_already_there(artifact), "info")
            return redirect(url_for("web.artifact_detail", artifact_id=str(artifact.id)))
        if preview and preview.level_change and not form.confirmed:
            status = 200  # the page asks for the confirmation
        elif preview:
            try:
                moved = manager.move(artifact.id, parent_id, if_match=form.version.data if form.confirmed else None)
            except ArtifactChangedError:
                form.form_errors.append(
                    "Not moved: someone changed this artifact after you saw what the move would do. "
                    "Check the move again below, and confirm it if it should still happen."
                )
                artifact, status = manager.get(artifact.id), 409
                preview = _move_preview(form, artifact, parent_id)
            except ArtifactError as error:  # the tree changed since the preview
                _move_refused(form, artifact, error)
                preview = None
            else:
                where = "a root" if moved.parent_id is None else f"a {moved.level_label}"
                flash(f"Moved “{display_name(moved)}”: it is now {where}.", "success")
                return redirect(url_for("web.artifact_detail", artifact_id=str(moved.id)))
    new_parent = manager.get(preview.parent_id) if preview and preview.parent_id else None
    form.version.data = artifact.version  # what a preview's confirmation applies to
    q = request.args.get("q", "").strip()[:MAX_QUERY_LENGTH]
    candidates = []
    if q:
        found = manager.list_page(1, 20, text=q, newest_first=True).items
        candidates = [a for a in found if a.id != artifact.id]
    roots = manager.list_page(1, PICKER_ROOTS, roots_only=True, newest_first=True)
    return render_template(
        "artifacts/move.html", form=form, artifact=artifact, q=q, candidates=candidates,
        ancestors=manager.ancestors(artifact.id), refused=status == 422, preview=preview, new_parent=new_parent,
        roots=_tree_nodes(roots.items), total_roots=roots.total, picking=_picking(artifact),
    ), status


@bp.route("/artifacts/<artifact_id>/delete", methods=["GET", "POST"])
def artifact_delete(artifact_id: str) -> tuple[str, int] | BaseResponse:
    """Confirm, then delete a leaf. An artifact with children is refused with an explanation."""
    manager = get_store().artifacts
    artifact = manager.get(artifact_id)
    form = ConfirmForm()
    status = 200
    if request.method == "GET":
        form.version.data = artifact.version
    elif form.validate_on_submit():
        try:
            manager.delete(artifact.id, if_match=form.version.data or None)
        except ArtifactChangedError as error:
            form.form_errors.append(
                "Not deleted: someone changed this artifact after you opened this page. "
                "Look at its current data, then confirm again if it should still go."
            )
            form.version.data, status = error.current_version, 409
        except ArtifactError as error:
            _form_refused(form, error)
            status = error.status
        else:
            flash(f"Deleted {artifact.level_label} “{display_name(artifact)}”.", "success")
            if artifact.parent_id is not None:
                return redirect(url_for("web.artifact_detail", artifact_id=str(artifact.parent_id)))
            return redirect(url_for("web.artifact_index"))
    elif request.method == "POST":
        status = 400
    children = manager.child_counts([artifact.id]).get(str(artifact.id), 0)
    return render_template(
        "artifacts/delete.html", form=form, artifact=artifact, children=children,
        ancestors=manager.ancestors(artifact.id),
    ), status


FORM_ENDPOINTS = {"web.artifact_new", "web.artifact_edit", "web.artifact_move", "web.artifact_delete"}


@bp.errorhandler(CSRFError)
def _csrf_refused(error: CSRFError) -> Any:
    """A form without a valid CSRF token: nothing is done, and the form comes back as typed.

    The view runs again so its own form check fails on the token too and re-renders the
    input with the reason, instead of a bare 400 page that would lose what was typed.
    """
    if request.endpoint not in FORM_ENDPOINTS:
        return render_error_page(400, "Bad Request", error.description)
    try:
        page = current_app.view_functions[request.endpoint](**(request.view_args or {}))
    except ArtifactError as refusal:  # e.g. the artifact was deleted meanwhile
        return render_error_page(refusal.status, refusal.title, refusal.detail)
    response = current_app.make_response(page)
    response.status_code = 400
    return response
