"""HTML pages (server-rendered, htmx fragments)."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from webapp.services import get_manager

bp = Blueprint("web", __name__)


@bp.get("/")
def artifact_index() -> str:
    page = request.args.get("page", 1, type=int) or 1
    listing = get_manager().list_page(max(page, 1), 50, roots_only=True, newest_first=True)
    return render_template("artifacts/index.html", listing=listing)
