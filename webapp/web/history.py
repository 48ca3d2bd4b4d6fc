"""Pages of history: an artifact's revisions, diffs (two revisions, two artifacts), revert,
and the recently deleted artifacts with restore.

The artifact page shows its newest revisions through the `history_view` template global
(templates/history/_section.html), as the tables' panel does with `frame_view`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import HiddenField, IntegerField
from wtforms.validators import InputRequired, NumberRange

from webapp.artifacts import ArtifactOut
from webapp.artifacts.diff import json_diff
from webapp.artifacts.errors import ArtifactChangedError, ArtifactError
from webapp.artifacts.history import Diff, RevisionOut, files_diff
from webapp.artifacts.manager import normalize_id
from webapp.artifacts.revisions import MAX_REVISION
from webapp.store import get_store

bp = Blueprint("history", __name__)

SECTION_SIZE = 10  # revisions on the artifact page; the history page has the rest
PAGE_SIZE = 50
MAX_PAGE = 1_000_000
VALUE_CHARS = 2_000  # a value shown in a diff beyond this is cut (the API has it whole)
SUMMARY_PATHS = 3


class RevertForm(FlaskForm):
    """The Revert button: its CSRF token, the revision to go back to, the version it was shown."""

    revision = IntegerField(validators=[InputRequired(), NumberRange(1, MAX_REVISION)])
    version = HiddenField()


class RestoreForm(FlaskForm):
    """The Restore button: only its CSRF token."""


@dataclass(frozen=True)
class RevisionRow:
    revision: RevisionOut
    summary: str  # what changed, in a few words

    @property
    def actor(self) -> str:
        actor = self.revision.actor
        if actor is None:
            return "anonymous"
        return actor.user or (f"token {actor.token}" if actor.token else actor.address or "anonymous")


def _summary(revision: RevisionOut, previous: RevisionOut | None) -> str:
    if revision.action in ("created", "deleted", "restored") or previous is None:
        return {"created": "created", "deleted": "deleted", "restored": "restored"}.get(revision.action, revision.action)
    parts = []
    if revision.parent_id != previous.parent_id:
        parts.append(f"moved under {revision.parent_id}" if revision.parent_id else "made a root")
    elif revision.level != previous.level:
        parts.append(f"now at level {revision.level} (an ancestor moved)")
    _, changes = json_diff(previous.data, revision.data)
    if changes:
        paths = [change["path"] or "(all data)" for change in changes[:SUMMARY_PATHS]]
        more = f" and {len(changes) - SUMMARY_PATHS} more" if len(changes) > SUMMARY_PATHS else ""
        parts.append(f"changed {', '.join(paths)}{more}")
    if revision.files is not None and previous.files is not None:
        parts.extend(_files_summary(previous.files, revision.files))
    return "; ".join(parts) or "no change in data"


def _files_summary(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """"added file a.bin", "replaced file b.txt", "removed file c.png": a few of each."""
    changes = files_diff(old, new)
    parts = []
    for verb, names in (("added", list(changes.added)), ("replaced", [c.name for c in changes.changed]),
                        ("removed", list(changes.removed))):
        if names:
            more = f" and {len(names) - SUMMARY_PATHS} more" if len(names) > SUMMARY_PATHS else ""
            parts.append(f"{verb} file{'s' if len(names) > 1 else ''} {', '.join(names[:SUMMARY_PATHS])}{more}")
    return parts


def _rows(artifact_id: str, page: int, size: int) -> tuple[list[RevisionRow], Any]:
    """A page of revisions with summaries: one revision more than shown, for the last one's diff."""
    history = get_store().history
    listing = history.page(artifact_id, page, size)
    items = listing.items
    beyond = history.page(artifact_id, page + 1, size).items[:1] if listing.page < listing.pages else []
    chain = [*items, *beyond]
    rows = [RevisionRow(item, _summary(item, chain[n + 1] if n + 1 < len(chain) else None)) for n, item in enumerate(items)]
    return rows, listing


def history_view(artifact: ArtifactOut) -> dict[str, Any]:
    """Context of history/_section.html: the newest revisions of the artifact on its page."""
    artifact_id = str(artifact.id)
    rows, listing = _rows(artifact_id, 1, SECTION_SIZE)
    return {"rows": rows, "total": listing.total, "artifact_id": artifact_id, "previous_sibling": _previous_sibling(artifact)}


def _previous_sibling(artifact: ArtifactOut) -> ArtifactOut | None:
    """The sibling created just before it (ids are in creation order): a document's previous version."""
    manager = get_store().artifacts
    filters = {"parent_id": artifact.parent_id} if artifact.parent_id is not None else {"roots_only": True}
    found, _ = manager.find_paginated(size=1, after=artifact.id, newest_first=True, **filters)
    return found[0] if found else None


bp.add_app_template_global(history_view, "history_view")


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1, default=str)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + " …"


bp.add_app_template_filter(_shown, "diff_value")


def _page_arg() -> int:
    return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)


def _revision_arg(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value is not None and 1 <= value <= MAX_REVISION else None


@bp.get("/artifacts/<artifact_id>/history")
def artifact_history(artifact_id: str) -> str:
    """Every revision of an artifact, newest first (a deleted one's too)."""
    artifact_id = normalize_id(artifact_id)
    rows, listing = _rows(artifact_id, _page_arg(), PAGE_SIZE)
    return render_template("history/history.html", artifact_id=artifact_id, rows=rows, listing=listing,
                           current=get_store().artifacts.find_by_id(artifact_id))


def _diff_page(diff: Diff, *, artifact: ArtifactOut | None, form: RevertForm | None, status: int = 200,
               sides: tuple[Any, Any] | None = None) -> tuple[str, int]:
    return render_template("history/diff.html", diff=diff, artifact=artifact, form=form, sides=sides), status


@bp.get("/artifacts/<artifact_id>/diff")
def revisions_diff(artifact_id: str) -> tuple[str, int]:
    """Two revisions of an artifact side by side (default: the previous against the newest),
    with a Revert button to the older one while the artifact exists."""
    store = get_store()
    diff = store.history.revisions_diff(artifact_id, _revision_arg("from"), _revision_arg("to"))
    key = str(diff.from_.id)
    artifact = store.artifacts.find_by_id(key)
    sides = (store.history.revision(key, diff.from_.revision), store.history.revision(key, diff.to.revision))
    form = None
    if artifact is not None:
        form = RevertForm(formdata=None, revision=diff.from_.revision, version=artifact.version)
    return _diff_page(diff, artifact=artifact, form=form, sides=sides)


@bp.get("/diff")
def artifacts_diff() -> tuple[str, int]:
    """Two artifacts' current data (`a` → `b`): a document version against its previous one."""
    store = get_store()
    diff = store.history.artifacts_diff(request.args.get("a", ""), request.args.get("b", ""))
    sides = (store.artifacts.get(diff.from_.id), store.artifacts.get(diff.to.id))
    return _diff_page(diff, artifact=None, form=None, sides=sides)


@bp.post("/artifacts/<artifact_id>/revert")
def artifact_revert(artifact_id: str) -> tuple[str, int] | BaseResponse:
    """Revert to a revision; refused (409) when the artifact changed since the page was shown."""
    store = get_store()
    artifact = store.artifacts.get(artifact_id)
    artifact_id = str(artifact.id)
    form = RevertForm()
    if not form.validate_on_submit():
        form.form_errors.append("Nothing was reverted: the form was incomplete or expired; look again and retry.")
        return _revert_refused(artifact_id, form, 400)
    try:
        reverted = store.artifacts.revert(artifact_id, form.revision.data, if_match=form.version.data or None)
    except ArtifactChangedError as error:
        form.form_errors.append("Not reverted: someone changed this artifact after you opened this page. "
                                "Here is what would change now; revert again if it still should.")
        form.version.data = error.current_version
        return _revert_refused(artifact_id, form, 409)
    except ArtifactError as error:
        form.form_errors.append(f"Not reverted: {error.detail}")
        return _revert_refused(artifact_id, form, error.status)
    if reverted.revision == artifact.revision:
        flash(f"Nothing to revert: it already is as revision {form.revision.data} was.", "info")
    else:
        flash(f"Reverted to revision {form.revision.data} (now revision {reverted.revision}).", "success")
    return redirect(url_for("web.artifact_detail", artifact_id=artifact_id))


def _revert_refused(artifact_id: str, form: RevertForm, status: int) -> tuple[str, int]:
    store = get_store()
    number = form.revision.data if isinstance(form.revision.data, int) else None
    diff = store.history.revisions_diff(artifact_id, number) if number else store.history.revisions_diff(artifact_id)
    sides = (store.history.revision(artifact_id, diff.from_.revision), store.history.revision(artifact_id, diff.to.revision))
    return _diff_page(diff, artifact=store.artifacts.find_by_id(artifact_id), form=form, status=status, sides=sides)


@bp.get("/deleted")
def deleted_artifacts() -> str:
    """Recently deleted artifacts, newest first, each with a Restore button."""
    listing = get_store().history.deleted(_page_arg(), PAGE_SIZE)
    return render_template("history/deleted.html", listing=listing, form=RestoreForm(formdata=None))


@bp.post("/artifacts/<artifact_id>/restore")
def artifact_restore(artifact_id: str) -> tuple[str, int] | BaseResponse:
    form = RestoreForm()
    status = 400
    if form.validate_on_submit():
        try:
            restored = get_store().artifacts.restore(artifact_id)
        except ArtifactError as error:
            form.form_errors.append(f"Not restored: {error.detail}")
            status = error.status
        else:
            flash("Restored it, with its id, data and history.", "success")
            return redirect(url_for("web.artifact_detail", artifact_id=str(restored.id)))
    else:
        form.form_errors.append("Nothing was restored: the form's security token was missing or expired; try again.")
    listing = get_store().history.deleted(1, PAGE_SIZE)
    return render_template("history/deleted.html", listing=listing, form=form), status
